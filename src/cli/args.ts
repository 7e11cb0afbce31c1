/**
 * A small hand-written argv parser (no dependency, loads in no time).
 *
 * Accepts `--name value`, `--name=value`, flags without value, short aliases (`-h`) and `--`
 * (everything after it is positional). An option given twice keeps the last value. Unknown
 * options, missing values and values outside `choices` are UsageErrors with a did-you-mean.
 */
import { suggest } from '../diagnostics/suggest.js';
import { UsageError } from './usage.js';

export interface OptionSpec {
  /** Long name with dashes, e.g. `--format`. */
  name: string;
  aliases?: readonly string[];
  /** Present when the option takes a value. */
  value?: { placeholder: string; choices?: readonly string[] };
  /** One line for `--help`. */
  doc: string;
}

export interface ParsedArgs {
  positionals: string[];
  /** By long name; `true` for a flag. */
  options: Map<string, string | true>;
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[], command: string): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  const byName = new Map<string, OptionSpec>();
  for (const s of specs) {
    byName.set(s.name, s);
    for (const a of s.aliases ?? []) byName.set(a, s);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const spec = byName.get(name);
    if (spec === undefined) {
      const s = suggest(
        name,
        specs.map((o) => o.name),
      );
      throw new UsageError(`unknown option '${name}' for '${command}'`, s ? `did you mean '${s}'?` : undefined, command);
    }
    if (spec.value === undefined) {
      if (eq >= 0) throw new UsageError(`option '${spec.name}' takes no value`, undefined, command);
      options.set(spec.name, true);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !(argv[i + 1]!.startsWith('-') && argv[i + 1] !== '-')) value = argv[++i];
    const choices = spec.value.choices;
    if (value === undefined || value === '') {
      throw new UsageError(
        `option '${spec.name}' needs a value: ${spec.value.placeholder}`,
        choices ? `expected one of: ${choices.join(', ')}` : undefined,
        command,
      );
    }
    if (choices && !choices.includes(value)) {
      const s = suggest(value, choices);
      throw new UsageError(
        `'${value}' is not a valid value for '${spec.name}'`,
        s ? `did you mean '${s}'?` : `expected one of: ${choices.join(', ')}`,
        command,
      );
    }
    options.set(spec.name, value);
  }
  return { positionals, options };
}

/** `--plan` and `--root`, as analyze takes them (check, compile, report, export). */
export function analyzeOptions(options: ParsedArgs['options']): { plan?: string; root?: string } {
  const plan = options.get('--plan');
  const root = options.get('--root');
  return { ...(typeof plan === 'string' ? { plan } : {}), ...(typeof root === 'string' ? { root } : {}) };
}

/**
 * A command that runs one graph with weights (serve, profile): its one graph file and `--weights`,
 * or a UsageError saying which is missing (`hints`: how to make the graph, how to give weights).
 */
export function graphAndWeights(
  args: ParsedArgs,
  command: string,
  hints: { verb: string; graph: string; weights: string },
): { file: string; weights: string } {
  if (args.positionals.length !== 1) {
    throw new UsageError(
      args.positionals.length === 0
        ? `missing the graph to ${hints.verb}`
        : `${command} takes one graph file, got ${args.positionals.length}`,
      hints.graph,
      command,
    );
  }
  const weights = args.options.get('--weights');
  if (typeof weights !== 'string') throw new UsageError('missing --weights', hints.weights, command);
  return { file: args.positionals[0]!, weights };
}
