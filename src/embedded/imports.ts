/**
 * `import "models/llama.plan"` inside a planFile template: the path is relative to the
 * TypeScript file the template is written in, and the file is loaded as any `.plan`
 * import is (src/load.ts), its own imports included.
 */
import { dirname, isAbsolute, join } from 'node:path';
import type { PlanFile } from '../ast.js';
import { diag, type Diagnostic } from '../diagnostics/diagnostic.js';
import { loadProgram, type CachedFile, type Host } from '../load.js';
import type { ImportLoader } from './program.js';

export function planImports(host: Host, cache: Map<string, CachedFile>, out: Diagnostic[]): ImportLoader {
  return (lowered) => {
    const files: PlanFile[] = [];
    let syntaxErrors = false;
    for (const imp of lowered.imports) {
      const target = isAbsolute(imp.path) ? imp.path : join(dirname(lowered.file), imp.path);
      if (host.kind(target) !== 'file') {
        const help = `the path is relative to ${dirname(lowered.file).replace(/\/?$/, '/')}`;
        out.push(diag('PP2012', imp.pathSpan, { path: imp.path, reason: host.kind(target) === 'dir' ? 'it is a directory' : 'no such file' }, { help }));
        continue;
      }
      const program = loadProgram(target, host, cache, out);
      if (!program) continue;
      files.push(...program.files);
      syntaxErrors ||= program.syntaxErrors;
    }
    return { files, syntaxErrors };
  };
}
