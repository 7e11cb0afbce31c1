/**
 * `--target hfconfig`: mutated Hugging Face configs (examples/configs/*.json) through
 * `hf_config` (loader, JSON reader, the model_type tables, the checker) and `parplan import`.
 * Mutations: field deletions, type swaps, huge and tiny numbers, NaN/Infinity literals and
 * NaN-like strings, deep nesting, duplicate fields, another family's model_type, truncation and
 * stray bytes. A case fails when anything throws, a diagnostic has no position (or one outside
 * its file) or does not render, or when `parplan import` prints a block that is not the same model.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '../../grammar/index.js';
import { analyze } from '../../src/analyze.js';
import { checkModel } from '../../src/check/model.js';
import { importBlock } from '../../src/cli/commands/import.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { hasErrors } from '../../src/diagnostics/diagnostic.js';
import { MODEL_TYPES } from '../../src/hf/config.js';
import { parseJson, type JsonValue } from '../../src/hf/json.js';
import { SourceFile } from '../../src/source.js';
import { memoryHost, rng, violations } from './mutate.js';
import type { Outcome } from './targets.js';
import { makeStyle } from '../../src/render/style.js';
import { renderDiagnostic } from '../../src/render/text.js';

const CONFIG = '/r/config.json';
const PLAN = '/r/m.plan';
const PLAN_TEXT = 'model m {\n  hf_config = "config.json"\n}\n';

/** The configs of examples/configs/, by file name. */
export function configCorpus(dir = join(import.meta.dirname, '..', '..', 'examples', 'configs')): Map<string, string> {
  return new Map(
    readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => [f, readFileSync(join(dir, f), 'utf8')]),
  );
}

/** Values a field may be swapped to: other types, extremes, NaN-like. */
const ODD: readonly string[] = [
  '"4096"',
  'true',
  'null',
  '[]',
  '{}',
  '[1, 2]',
  '0',
  '-1',
  '0.5',
  '1e308',
  '1e400',
  '-1e400',
  '9007199254740993',
  '1e-320',
  'NaN',
  'Infinity',
  '-Infinity',
  '"NaN"',
  '"inf"',
  '""',
  '"\\u0000"',
  '{"rope_type": "longrope"}',
  '{"type": "yarn"}',
  '{"quant_method": "bitsandbytes"}',
];

function pick<T>(xs: readonly T[], random: () => number): T {
  return xs[Math.floor(random() * xs.length)]!;
}

/** Paths (member names) to every object member, depth-first. */
function members(v: JsonValue, path: string[] = [], out: { path: string[]; value: JsonValue }[] = []) {
  if (v.kind === 'object')
    for (const m of v.members) (out.push({ path: [...path, m.name], value: m.value }), members(m.value, [...path, m.name], out));
  return out;
}

/** One mutation of a config's text. */
export function mutateConfig(text: string, random: () => number): string {
  const parsed = parseJson(new SourceFile('c.json', text));
  const r = random();
  if (!parsed.ok || r < 0.12) {
    // Raw edits: truncation, a stray byte, a deleted character.
    const at = Math.floor(random() * (text.length + 1));
    const k = random();
    if (k < 0.4) return text.slice(0, at);
    if (k < 0.7) return text.slice(0, at) + pick(['{', '}', ',', '"', ':', ']', 'x', '\u0000', '\\', 'é'], random) + text.slice(at);
    return text.slice(0, at) + text.slice(at + 1);
  }
  const fields = members(parsed.value);
  if (fields.length === 0) return text;
  const f = pick(fields, random);
  const s = f.value.span;
  if (r < 0.35) {
    // Delete the member: from its name's quote to the value's end, with one comma.
    const nameStart = text.lastIndexOf(`"${f.path[f.path.length - 1]}"`, s.start);
    let end = s.end;
    const after = /^\s*,/.exec(text.slice(end));
    if (after) end += after[0].length;
    return text.slice(0, Math.max(0, nameStart)) + text.slice(end);
  }
  if (r < 0.75) return text.slice(0, s.start) + pick(ODD, random) + text.slice(s.end);
  if (r < 0.82) {
    // Deep nesting around a value.
    const n = 1 + Math.floor(random() * 120);
    return text.slice(0, s.start) + '['.repeat(n) + text.slice(s.start, s.end) + ']'.repeat(n) + text.slice(s.end);
  }
  if (r < 0.9) {
    const mt = fields.find((x) => x.path.join('.') === 'model_type');
    if (mt) return text.slice(0, mt.value.span.start) + JSON.stringify(pick(MODEL_TYPES, random)) + text.slice(mt.value.span.end);
  }
  // A duplicate member at the top: the later one wins, as in transformers.
  const open = text.indexOf('{');
  const name =
    pick(
      fields.filter((x) => x.path.length === 1),
      random,
    )?.path[0] ?? 'hidden_size';
  return `${text.slice(0, open + 1)}${JSON.stringify(name)}: ${pick(ODD, random)},${text.slice(open + 1)}`;
}

/** Mutate one config (1–3 edits) and read it through hf_config and through `parplan import`. */
export async function fuzzHfConfigOnce(configs: Map<string, string>, seed: number): Promise<Outcome> {
  const random = rng(seed);
  const name = pick([...configs.keys()], random);
  let text = configs.get(name)!;
  for (let i = 1 + Math.floor(random() * 3); i > 0; i--) text = mutateConfig(text, random);
  const path = `${name} (mutated)`;
  try {
    const problems: string[] = [];
    const files = new Map([
      [PLAN, PLAN_TEXT],
      [CONFIG, text],
    ]);
    const a = analyze([PLAN], { host: memoryHost(files) });
    problems.push(...violations(a));
    const style = makeStyle(false);
    for (const d of a.diagnostics) {
      const source = d.span && a.sources.get(d.span.file);
      if (d.span && !source) problems.push(`${d.code} points into ${d.span.file}, which is not among the sources`);
      if (d.span && source && d.span.end > source.text.length) problems.push(`${d.code} ends past the end of ${d.span.file}`);
      renderDiagnostic(d, a.sources, style);
    }
    const modelOk = !hasErrors(a.diagnostics);
    // parplan import: when it prints a block, the block is the same model as hf_config gives.
    const parsed = parseJson(new SourceFile(CONFIG, text));
    let reached = false;
    if (parsed.ok) {
      const out: Diagnostic[] = [];
      const block = await importBlock(new SourceFile(CONFIG, text), parsed.value, 'm', out);
      for (const d of out) if (!d.span) problems.push(`import: ${d.code} without a position: ${d.message}`);
      if ((block !== undefined) !== modelOk)
        problems.push(`import ${block ? 'printed a block' : 'failed'} but hf_config ${modelOk ? 'checks' : 'does not'}`);
      if (block !== undefined) {
        reached = true;
        const ast = parse(block, PLAN);
        const ds: Diagnostic[] = [...ast.diagnostics];
        const byHand = checkModel(ast.ast.declarations[0]!, ds);
        if (hasErrors(ds)) problems.push(`the imported block does not check: ${ds.map((d) => d.message).join('; ')}\n${block}`);
        const viaConfig = viaHfConfig(files);
        if (byHand && viaConfig && JSON.stringify({ ...byHand, span: 0 }) !== JSON.stringify({ ...viaConfig, span: 0 }))
          problems.push(`the imported block is another model than hf_config gives:\n${block}`);
      }
    }
    return { path, text, problems, reached };
  } catch (e) {
    return { path, text, problems: [`threw: ${e instanceof Error ? e.stack : String(e)}`], reached: false };
  }
}

/** The model hf_config gives (the same checker path as analyze, without the plan). */
function viaHfConfig(files: Map<string, string>) {
  const ast = parse(PLAN_TEXT, PLAN).ast;
  const out: Diagnostic[] = [];
  const parsed = parseJson(new SourceFile(CONFIG, files.get(CONFIG)!));
  if (!parsed.ok) return undefined;
  const value = ast.declarations[0]!.body.entries[0]!.value;
  return checkModel(
    ast.declarations[0]!,
    out,
    new Map([[value, { ok: true, source: new SourceFile(CONFIG, files.get(CONFIG)!), json: parsed.value }]]),
  );
}
