/**
 * `parplan import [--name NAME] <config.json>`: a Hugging Face config as the `model { … }`
 * block it is equivalent to (the keys `hf_config` gives, src/hf/config.ts), checked as a model
 * and formatted as `parplan fmt` would. Diagnostics point into the config.
 *
 * Exit status: 0 printed; 1 the config has errors (nothing printed); 2 bad arguments or an
 * unreadable file; 3 a bug.
 */
import { basename } from 'node:path';
import type { Entry } from '../../ast.js';
import { hasErrors, type Diagnostic } from '../../diagnostics/diagnostic.js';
import { KEYS } from '../../facts/keys.js';
import type { SourceFile } from '../../source.js';
import { parseArgs } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { IMPORT, commandHelp } from '../spec.js';
import { UsageError } from '../usage.js';

export async function runImport(argv: readonly string[], io: Io): Promise<ExitCode> {
  const args = parseArgs(argv, IMPORT.options, IMPORT.name);
  if (args.options.has('--help')) {
    io.stdout.write(commandHelp(IMPORT));
    return EXIT.OK;
  }
  if (args.positionals.length !== 1)
    throw new UsageError(`'import' takes one config.json, got ${args.positionals.length}`, undefined, IMPORT.name);
  const path = args.positionals[0]!;
  const given = args.options.get('--name');
  const name = typeof given === 'string' ? given : modelName(path);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new UsageError(`--name '${name}' is not a name (letters, digits and _, not starting with a digit)`, undefined, IMPORT.name);
  const { nodeHost, readConfigFile } = await import('../../load.js');
  const out: Diagnostic[] = [];
  const loaded = readConfigFile(path, nodeHost, out);
  const text = loaded.ok ? await importBlock(loaded.source, loaded.json, name, out) : undefined;
  await report(out, loaded.source, io);
  if (!loaded.ok) return out.some((d) => d.code === 'PP6001') ? EXIT.USAGE : EXIT.FAILED;
  if (text === undefined) return EXIT.FAILED;
  io.stdout.write(text);
  return EXIT.OK;
}

/** `Llama-3.1-8B.json` → `llama_3_1_8b`; `config.json` → its directory's name. */
export function modelName(path: string): string {
  let stem = basename(path).replace(/\.json$/i, '');
  if (stem === 'config') stem = basename(path.slice(0, -basename(path).length).replace(/\/+$/, '')) || 'model';
  const id = stem
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return /^[a-z_]/.test(id) ? id : `m_${id || 'model'}`;
}

/**
 * The model block of a parsed config: its keys in the key table's order, checked as a model
 * (a config that maps to an invalid model prints nothing), formatted by src/fmt.
 */
export async function importBlock(
  source: SourceFile,
  json: import('../../hf/json.js').JsonValue,
  name: string,
  out: Diagnostic[],
): Promise<string | undefined> {
  const [{ configDeclaration, mapHfConfig }, { checkModel }, { formatPlanText }] = await Promise.all([
    import('../../hf/config.js'),
    import('../../check/model.js'),
    import('../../fmt/index.js'),
  ]);
  const mapped = mapHfConfig(json, source);
  out.push(...mapped.diagnostics);
  const order = Object.keys(KEYS.model);
  const entries = [...mapped.entries].sort((a, b) => order.indexOf(a.key) - order.indexOf(b.key));
  const decl = configDeclaration(source, json, name, entries);
  // Checked like a block with hf_config: the same ranges, pointing into the config; missing fields are said once.
  const checked: Diagnostic[] = [];
  checkModel(decl, checked, new Map(), mapped.reported);
  out.push(...checked);
  if (hasErrors(mapped.diagnostics) || hasErrors(checked)) return undefined;
  const text = `model ${name} {\n${entries.map((e) => `  ${e.key} = ${valueText(e)}\n`).join('')}}\n`;
  const formatted = formatPlanText(text, `${name}.plan`);
  return formatted.text;
}

function valueText(e: Entry): string {
  const v = e.value;
  return v.kind === 'number' ? v.raw : v.kind === 'ident' ? v.name : v.kind === 'string' ? JSON.stringify(v.value) : '';
}

async function report(ds: readonly Diagnostic[], source: SourceFile | undefined, io: Io): Promise<void> {
  if (ds.length === 0) return;
  const [{ renderDiagnostic }, { makeStyle, shouldColor }] = await Promise.all([
    import('../../render/text.js'),
    import('../../render/style.js'),
  ]);
  const style = makeStyle(shouldColor(io.stderr, io.env));
  const sources = new Map(source ? [[source.path, source]] : []);
  for (const d of ds) io.stderr.write(renderDiagnostic(d, sources, style) + '\n');
}
