/**
 * Large valid `.plan` texts for the front end's scaling bench (bench/frontend.ts) and its
 * loose test (test/hostile/frontend.test.ts), generated rather than committed: units of a
 * comment, a model, a cluster and a plan that uses them, repeated with fresh names.
 */
import type { Host } from '../../src/analyze.js';

/** One unit (about 600 bytes); `i` makes its names unique. */
function unit(i: number): string {
  return `// unit ${i}: a Llama-3-8B-shaped model on one node, served with tensor parallelism
model m${i} {
  arch     = llama
  layers   = 32
  hidden   = 4096
  heads    = 32
  kv_heads = 8
  ffn      = 14336
  vocab    = 128256
  max_seq  = 8192
  dtype    = bf16
}

cluster c${i} {
  gpu  = H100_SXM_80GB
  gpus = 8
}

plan p${i} {
  model   = m${i}
  cluster = c${i}
  mode    = serve
  tensor  = 8
  reserve = 10%
  batch { max_batch = 16  seq = 4096  max_wait = 5 ms }
}

`;
}

/** Valid plan text of about `bytes` bytes (whole units, at least one). */
export function validPlanText(bytes: number): string {
  return validPlanParts(bytes, Infinity).join('');
}

/** The same text cut into files of at most `partBytes` each (at unit boundaries). */
export function validPlanParts(bytes: number, partBytes: number): string[] {
  const parts: string[] = [];
  let part: string[] = [];
  let partSize = 0;
  let size = 0;
  for (let i = 0; size < bytes || i === 0; i++) {
    const u = unit(i);
    if (partSize + u.length > partBytes && part.length > 0) {
      parts.push(part.join(''));
      part = [];
      partSize = 0;
    }
    part.push(u);
    partSize += u.length;
    size += u.length;
  }
  parts.push(part.join(''));
  return parts;
}

/**
 * An in-memory project of `bytes` of valid plans: `/root.plan` imports `/part0.plan` …,
 * each at most LIMITS.planFileBytes (what one file may be), for analyze() at any size.
 */
export function projectHost(bytes: number, partBytes: number): { host: Host; root: string; files: number } {
  const parts = validPlanParts(bytes, partBytes);
  const files = new Map<string, string>(parts.map((text, k) => [`/part${k}.plan`, text]));
  files.set('/root.plan', parts.map((_, k) => `import "part${k}.plan"\n`).join(''));
  const missing = (p: string): Error => Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
  return {
    root: '/root.plan',
    files: files.size,
    host: {
      readFile: (p) => {
        const text = files.get(p);
        if (text === undefined) throw missing(p);
        return text;
      },
      kind: (p) => (files.has(p) ? 'file' : p === '/' ? 'dir' : undefined),
      size: (p) => files.get(p)?.length ?? 0,
      listDir: (p) => (p === '/' ? [...files.keys()].map((f) => f.slice(1)) : []),
    },
  };
}
