/**
 * Seed projects for fuzzing the static TypeScript reader (src/embedded/static/): the
 * examples of examples/embedded, and small projects that use each form the reader
 * evaluates (renamed and namespace imports, constants imported and re-exported,
 * destructuring, spreads, computed keys, arithmetic, templates, planFile with a `.plan`
 * import). Each project is a map of file name → text, written to a temporary directory;
 * its `.ts` files are the roots.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples', 'embedded');
const read = (p: string) => readFileSync(join(EXAMPLES, p), 'utf8');

export const MODEL = `{ arch: 'llama', layers: 32, hidden: 4096, heads: 32, kv_heads: 8, ffn: 14336, vocab: 128256, max_seq: 8192 }`;

/** One project with the forms the static reader evaluates (test/embedded/static.test.ts checks what it reads from each). */
export const READER_FORMS: Record<string, string> = {
  'shapes.ts': `
export const LLAMA = ${MODEL} as const;
export const GPUS = 4 * 2;
export const defaults = { tensor: 2, data: 4 } as const;
`,
  'reexport.ts': `export { LLAMA as LLAMA3_8B, GPUS } from './shapes.js';\nexport * from './shapes.js';\n`,
  'const.ts': `
import { cluster, model, plan as p } from 'parplan';
import { LLAMA3_8B, GPUS } from './reexport.js';
import { defaults } from './reexport.js';
const { tensor, data: replicas } = defaults;
const batch = { max_batch: 32, seq: 1024 * 4 } as const;
const SEQ = 'seq';
const llama = model('llama3_8b', { ...LLAMA3_8B, dtype: 'bf16' });
const node = cluster('node', { gpu: 'H100_SXM_80GB', gpus: GPUS });
export const chat = p('chat', { model: llama, cluster: node, mode: 'serve', tensor, data: replicas, batch: { ...batch, [SEQ]: batch.seq } });
`,
  'namespace.ts': `
import * as pp from 'parplan';
import { LLAMA } from './shapes.js';
const llama = pp.model('llama3_8b', LLAMA);
export const node = pp.cluster\`node { gpu = H100_SXM_80GB  gpus = \${8} }\`;
export const chat = pp.plan\`chat {
  model = \${llama}  cluster = \${node}  mode = serve  tensor = \${2}  data = \${2 + 2}
  batch { max_batch = 32  max_wait = \${'5 ms'}  seq = \${\`\${4096}\`} }
}\`;
`,
};

const GENERATED: Record<string, string>[] = [
  READER_FORMS,
  {
    'models.plan': `model small { arch = llama  layers = 4  hidden = 512  heads = 8  ffn = 1536  vocab = 32000  max_seq = 2048 }\ncluster one { gpu = L4  gpus = 2 }\n`,
    'file.ts': `import { planFile, plan } from 'parplan';
const TP = 2;
export const all = planFile\`
import "models.plan"
plan t { model = small  cluster = one  mode = train  tensor = \${TP}  batch { global = 8  micro = 1  seq = 512 } }
\`;
export const s = plan\`s { model = small  cluster = one  mode = serve  batch { max_batch = \${[4][0]}  seq = \${TP * 256} } }\`;
`,
  },
  {
    'train.ts': `import { cluster, model, plan } from 'parplan';
const layers = [24, 32] as const;
const gpt = model('gpt', { arch: 'gpt2', layers: layers[0], hidden: 1024, heads: 16, vocab: 50304, max_seq: 1024, dtype: 'fp16' });
const two = cluster('two', { gpu: 'A100_80GB', nodes: 2, gpus_per_node: 8, network: 25 });
const base = { model: gpt, cluster: two, mode: 'train' } as const;
export const t = plan('t', { ...base, tensor: 2, pipeline: 2, schedule: 'interleaved', virtual: 2, data: 4, zero: 1,
  batch: { global: 64, micro: 2, seq: 1024 }, recompute: 'selective', sequence_parallel: true });
export const u = plan('u', { ...base, data: 16, zero: 3, batch: { global: 16 * 4, micro: 4, seq: 2 ** 10 } });
`,
  },
];

/** Every seed project: path → text. */
export function tsCorpus(): Map<string, string>[] {
  return [
    new Map([
      ['models.ts', read('models.ts')],
      ['service.ts', read('service.ts')],
    ]),
    new Map([['one-gpu.ts', read('misfit/one-gpu.ts')]]),
    ...GENERATED.map((p) => new Map(Object.entries(p))),
  ];
}
