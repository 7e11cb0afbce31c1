/**
 * `parplan compile [--plan NAME] [--emit graph|ts] [-o OUT] <file.plan>`: check, lower,
 * simulate, write graphs (JSON, or typed TypeScript modules: docs/codegen.md).
 * Diagnostics go to stderr (text); graphs to files, or stdout with `-o -`.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { uniqueDiagnostics } from '../../diagnostics/diagnostic.js';
import { analyzeOptions, parseArgs } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Graph } from '../../graph/types.js';
import type { Io } from '../io.js';
import { COMPILE, commandHelp } from '../spec.js';
import { UsageError } from '../usage.js';
import { makeOutputDir, refuseInputs, writeOutput } from '../write.js';
import { printable } from '../../format.js';
import { exitCode } from './check.js';

/** What `--emit` writes for one graph: its text and the file name's ending. */
interface Emitter {
  extension: string;
  text(graph: Graph): string | Promise<string>;
}

const GRAPH_EMITTER: Emitter = { extension: '.graph.json', text: (g) => JSON.stringify(g) + '\n' };

/** `--emit ts`: loads the code generator (and ts-morph) only when asked for. */
async function tsEmitter(): Promise<Emitter> {
  const [{ generateTs }, { packageVersion }] = await Promise.all([import('../../codegen/ts.js'), import('../../package-root.js')]);
  return { extension: '.gen.ts', text: (g) => generateTs(g, { version: packageVersion() }) };
}

export async function runCompile(argv: readonly string[], io: Io): Promise<ExitCode> {
  const args = parseArgs(argv, COMPILE.options, COMPILE.name);
  if (args.options.has('--help')) {
    io.stdout.write(commandHelp(COMPILE));
    return EXIT.OK;
  }
  if (args.positionals.length !== 1)
    throw new UsageError(
      args.positionals.length === 0 ? 'missing the .plan file to compile' : 'compile takes one .plan file',
      undefined,
      COMPILE.name,
    );
  const output = args.options.get('--output');
  const [{ analyzeProject }, { compilable, compilePlan }, { renderText }, { shouldColor }] = await Promise.all([
    import('../../analyze.js'),
    import('../../compile.js'),
    import('../../render/text.js'),
    import('../../render/style.js'),
  ]);
  const analysis = await analyzeProject(args.positionals, analyzeOptions(args.options));
  // A graph too large to build (PP5005) is refused before any lowering.
  const sized = compilable(analysis.results);
  const compiled = sized.results.map((r) => ({ result: r, ...compilePlan(r.plan, r.memory, r.cost) }));
  // The checker already found a hand-written table's deadlock: the simulation's finding is the same one.
  analysis.diagnostics = uniqueDiagnostics([...analysis.diagnostics, ...sized.diagnostics, ...compiled.flatMap((c) => c.diagnostics)]);
  const code = exitCode(analysis);
  const problems = analysis.diagnostics.filter((d) => d.severity !== 'note');
  if (problems.length > 0 || code !== EXIT.OK) {
    io.stderr.write(renderText({ ...analysis, diagnostics: problems }, { color: shouldColor(io.stderr, io.env), plans: false }));
  }
  if (code !== EXIT.OK) return code;
  const graphs = compiled.map((c) => c.graph);
  const emit = args.options.get('--emit') === 'ts' ? await tsEmitter() : GRAPH_EMITTER;
  if (output === '-') {
    if (emit === GRAPH_EMITTER) {
      io.stdout.write(JSON.stringify(graphs.length === 1 ? graphs[0] : graphs) + '\n');
      return EXIT.OK;
    }
    if (graphs.length !== 1) {
      throw new UsageError(
        `--emit ts -o - writes one module, and ${args.positionals[0]} has ${graphs.length} plans (${graphs.map((g) => g.plan.name).join(', ')})`,
        `choose one with --plan ${graphs[0]!.plan.name}, or write them into a directory with -o DIR`,
        COMPILE.name,
      );
    }
    io.stdout.write(await emit.text(graphs[0]!));
    return EXIT.OK;
  }
  const target = typeof output === 'string' ? resolve(io.cwd, output) : undefined;
  const single = target !== undefined && graphs.length === 1 && !(existsSync(target) && statSync(target).isDirectory());
  const files = single ? [target] : graphs.map((g) => join(target ?? io.cwd, `${g.plan.name}${emit.extension}`));
  // A graph written over the plan it came from (or an import) would lose the plan.
  refuseInputs(files, [...args.positionals, ...analysis.sources.keys()], io.cwd);
  if (!single) makeOutputDir(target ?? io.cwd);
  for (const [i, file] of files.entries()) writeOutput(file, await emit.text(graphs[i]!));
  for (const [i, file] of files.entries()) {
    const c = compiled[i]!;
    const sim = c.simulation;
    io.stdout.write(
      `wrote ${printable(file)}: plan '${c.graph.plan.name}', ${c.graph.devices.length} devices, ${Object.keys(c.graph.programs).length} programs; simulated ${sim.ranks.length} ranks, no deadlock\n`,
    );
  }
  return EXIT.OK;
}
