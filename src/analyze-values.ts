/**
 * `analyzePlans([llama, node, serve])`: check builder and template values at run time,
 * with the same checker, memory model and diagnostics as `parplan check` on text. The
 * plans checked are those given (directly or in a planFile); models and clusters they
 * reference come along, as imports do for a `.plan` file. Beside analyze.ts, not in
 * embedded/: it reads values with embedded/'s readers and then analyzes, as
 * analyzeProject reads TypeScript with embedded/static/ (embedded/ never imports analysis).
 */
import { analyzePrograms, type Analysis } from './analyze.js';
import type { Diagnostic } from './diagnostics/diagnostic.js';
import { planImports } from './embedded/imports.js';
import { Lowerer } from './embedded/lower.js';
import { assemble, type RootGroup } from './embedded/program.js';
import { recordOf } from './embedded/record.js';
import { RuntimeReader } from './embedded/runtime.js';
import type { Embedded } from './embedded/types.js';
import { addConfigs, importScope, nodeHost, type CachedFile } from './load.js';
import type { SourceFile } from './source.js';

export interface AnalyzePlansOptions {
  /** Only the plan with this name (PP6003 when none is given). */
  plan?: string;
  /** Imports must stay under this directory; default: the repository holding the file that wrote the template (src/load.ts importScope). */
  root?: string;
}

export function analyzePlans(values: readonly Embedded[], opts: AnalyzePlansOptions = {}): Analysis {
  const reader = new RuntimeReader(recordOf);
  const lowerer = new Lowerer();
  const groups = new Map<string, RootGroup>();
  for (const v of values) {
    const record = recordOf(v);
    // The types allow only builder values; plain JavaScript callers get a clear error.
    if (!record) throw new TypeError(`analyzePlans takes values made by model(), cluster(), plan() or planFile\`…\`; got ${typeof v}`);
    const decl = reader.decl(record);
    const file = lowerer.lower(decl).file;
    const group = groups.get(file) ?? { file, decls: [] };
    if (!group.decls.includes(decl)) group.decls.push(decl);
    groups.set(file, group);
  }
  const diagnostics: Diagnostic[] = [];
  const cache = new Map<string, CachedFile>();
  const assembled = assemble([...groups.values()], lowerer, planImports(nodeHost, cache, diagnostics, opts.root));
  // hf_config paths are relative to the file that called model(), confined as imports are.
  for (const program of assembled.programs)
    addConfigs(program, () => importScope(program.root.file, opts.root, nodeHost), nodeHost, diagnostics);
  const sources = new Map<string, SourceFile>();
  for (const s of [...reader.sites.all(), ...assembled.virtual, ...[...cache.values()].map((c) => c.source)]) sources.set(s.path, s);
  return analyzePrograms(
    assembled.programs,
    { files: [...groups.keys()], sources, diagnostics: [...diagnostics, ...assembled.diagnostics] },
    opts,
  );
}
