/**
 * `import "models/llama.plan"` inside a planFile template: the path is relative to the
 * TypeScript file the template is written in, and the file is loaded as any `.plan`
 * import is (src/load.ts), its own imports included.
 */
import type { PlanFile } from '../ast.js';
import { diag, type Diagnostic } from '../diagnostics/diagnostic.js';
import { importScope, loadProgram, resolveImport, type CachedFile, type Host } from '../load.js';
import type { ImportLoader } from './program.js';

export function planImports(host: Host, cache: Map<string, CachedFile>, out: Diagnostic[], root?: string): ImportLoader {
  return (lowered) => {
    const files: PlanFile[] = [];
    let syntaxErrors = false;
    // Confined as a .plan file's imports are: under the TypeScript file's directory, or --root.
    const scope = importScope(lowered.file, root, host);
    for (const imp of lowered.imports) {
      const r = resolveImport(imp.path, lowered.file, scope, host);
      if (!('target' in r)) {
        out.push(diag(r.code, imp.pathSpan, { path: imp.path, reason: r.reason }, r.help ? { help: r.help } : {}));
        continue;
      }
      const program = loadProgram(r.target, host, cache, out, { root: scope.root });
      if (!program) continue;
      files.push(...program.files);
      syntaxErrors ||= program.syntaxErrors;
    }
    return { files, syntaxErrors };
  };
}
