/**
 * A generated matrix of plans for the export checks (test/export/shell.test.ts, validate.test.ts):
 * dense and MoE Llama models, GPT-2, on 1 to 3072 GPUs, over tensor, pipeline (1F1B, GPipe,
 * interleaved with virtual stages), data, ZeRO 0–3, recompute and expert parallelism. Plans are
 * checked without the memory model (exporters read the checked plan; the large ones need not fit).
 * Combinations the checker refuses are left out; the tests require that most check.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkProgram } from '../../src/check/index.js';
import { cachedHost, loadProgram, nodeHost, type CachedFile } from '../../src/load.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import type { CheckedPlan } from '../../src/plan.js';

const MODELS = `
model dense { arch = llama  layers = 96  hidden = 12288  heads = 96  kv_heads = 8  ffn = 28672  vocab = 128256  max_seq = 8192  rope_theta = 500000  dtype = bf16 }
model moe { arch = llama  layers = 48  hidden = 4096  heads = 64  kv_heads = 8  ffn = 14336  vocab = 151936  max_seq = 8192
  experts = 128  experts_per_token = 8  expert_ffn = 1536  qk_norm = true  dtype = bf16 }
model gpt { arch = gpt2  layers = 96  hidden = 6144  heads = 48  vocab = 50257  max_seq = 2048  dtype = bf16 }
`;

export interface MatrixPlan {
  /** A short description of the combination, for messages. */
  label: string;
  text: string;
}

interface Combo {
  model: 'dense' | 'moe' | 'gpt';
  mode: 'train' | 'serve';
  tensor: number;
  pipeline: number;
  data: number;
  zero?: number;
  schedule?: 'gpipe' | '1f1b' | 'interleaved';
  virtual?: number;
  recompute?: 'none' | 'selective' | 'full';
  expert?: number;
  expertTensor?: number;
  micro?: number;
  /** Default: on when tensor > 1 (Megatron's rule for experts; DeepSpeed's AutoTP refuses it). */
  sequenceParallel?: boolean;
}

function planText(c: Combo): MatrixPlan {
  const gpus = c.tensor * c.pipeline * c.data;
  const cluster =
    gpus <= 8
      ? `cluster c { gpu = H100_SXM_80GB  gpus = ${gpus} }`
      : `cluster c { gpu = H100_SXM_80GB  nodes = ${gpus / 8}  gpus_per_node = 8 }`;
  const keys = [`model = ${c.model}  cluster = c  mode = ${c.mode}`, `tensor = ${c.tensor}  pipeline = ${c.pipeline}  data = ${c.data}`];
  if (c.tensor > 1 && c.mode === 'train' && c.sequenceParallel !== false) keys.push('sequence_parallel = true');
  if (c.zero !== undefined) keys.push(`zero = ${c.zero}`);
  if (c.schedule !== undefined && c.pipeline > 1) keys.push(`schedule = ${c.schedule}`);
  if (c.virtual !== undefined && c.pipeline > 1) keys.push(`virtual = ${c.virtual}`);
  if (c.recompute !== undefined) keys.push(`recompute = ${c.recompute}`);
  if (c.expert !== undefined) keys.push(`expert = ${c.expert}`);
  if (c.expertTensor !== undefined) keys.push(`expert_tensor = ${c.expertTensor}`);
  const micro = c.micro ?? 1;
  const batch =
    c.mode === 'train'
      ? `global = ${micro * c.data * Math.max(4, 2 * c.pipeline)}  micro = ${micro}  seq = 2048`
      : 'max_batch = 64  seq = 8192';
  const label = `${c.model} ${c.mode} t${c.tensor} p${c.pipeline} d${c.data}${c.zero !== undefined ? ` z${c.zero}` : ''}${c.schedule ? ` ${c.schedule}` : ''}${c.virtual ? ` v${c.virtual}` : ''}${c.recompute ? ` r=${c.recompute}` : ''}${c.expert ? ` ep${c.expert}` : ''}${c.expertTensor !== undefined ? ` etp${c.expertTensor}` : ''}${c.sequenceParallel === false ? ' no-sp' : ''} (${gpus} GPUs)`;
  return { label, text: `${MODELS}\n${cluster}\nplan p {\n  ${keys.join('\n  ')}\n  batch { ${batch} }\n}\n` };
}

/** The combinations: a spread over sizes rather than the full product (which would be thousands of plans). */
function combos(): Combo[] {
  const out: Combo[] = [];
  const meshes: [number, number, number][] = [
    [1, 1, 1],
    [2, 1, 1],
    [1, 2, 1],
    [1, 1, 4],
    [2, 2, 2],
    [8, 1, 1],
    [8, 2, 1],
    [4, 4, 2],
    [8, 4, 4],
    [8, 8, 2],
    [8, 16, 8],
    [8, 12, 32],
    [8, 16, 24],
    [4, 24, 32],
  ];
  const zeros = [0, 1, 2, 3];
  const schedules = ['1f1b', 'gpipe', 'interleaved'] as const;
  const recomputes = ['none', 'selective', 'full'] as const;
  let i = 0;
  for (const [tensor, pipeline, data] of meshes) {
    for (const schedule of pipeline > 1 ? schedules : ([undefined] as const)) {
      const zero = zeros[i % 4]!;
      const recompute = recomputes[i % 3]!;
      i++;
      const virtual = schedule === 'interleaved' ? (pipeline <= 8 ? 2 : 2) : undefined;
      out.push({ model: 'dense', mode: 'train', tensor, pipeline, data, zero, schedule, virtual, recompute, micro: 1 + (i % 2) });
      out.push({
        model: 'gpt',
        mode: 'train',
        tensor,
        pipeline,
        data,
        zero: (zero + 1) % 4,
        schedule,
        virtual,
        recompute: recomputes[(i + 1) % 3],
      });
    }
    // Experts: whole experts over the data ranks (and over tensor × data).
    if (data > 1) {
      out.push({ model: 'moe', mode: 'train', tensor, pipeline, data, zero: 1, expert: powerOfTwo(data), expertTensor: 1 });
      out.push({
        model: 'moe',
        mode: 'train',
        tensor,
        pipeline: Math.min(pipeline, 4),
        data,
        zero: 2,
        expert: Math.min(powerOfTwo(data), 8),
      });
    }
    // What DeepSpeed runs: no sequence parallelism, ZeRO-1 (fp32 accumulation of bf16 weights needs ZeRO), 1F1B.
    out.push({
      model: 'dense',
      mode: 'train',
      tensor,
      pipeline,
      data,
      zero: 1,
      schedule: '1f1b',
      sequenceParallel: false,
      recompute: 'full',
    });
    out.push({ model: 'dense', mode: 'serve', tensor, pipeline: Math.min(pipeline, 4), data });
    if (128 % (tensor * data) === 0)
      out.push({ model: 'moe', mode: 'serve', tensor, pipeline: 1, data, expert: tensor * data, expertTensor: 1 });
  }
  return out;
}

/** The largest power of two dividing n, at most 128 (the MoE model's experts). */
function powerOfTwo(n: number): number {
  let p = 1;
  while (n % (p * 2) === 0 && p < 128) p *= 2;
  return p;
}

/** The checked plan, or the checker's errors. */
export function checkText(text: string): CheckedPlan | string[] {
  const file = join(mkdtempSync(join(tmpdir(), 'parplan-matrix-')), 'p.plan');
  writeFileSync(file, text);
  const out: Diagnostic[] = [];
  const program = loadProgram(file, cachedHost(nodeHost), new Map<string, CachedFile>(), out);
  if (!program) return out.map((d) => `${d.code}: ${d.message}`);
  const checked = checkProgram(program.files, program.root);
  const errors = [...out, ...checked.diagnostics].filter((d) => d.severity === 'error');
  if (errors.length > 0 || checked.plans.length !== 1) return errors.map((d) => `${d.code}: ${d.message}`);
  return checked.plans[0]!;
}

/** The matrix's plans that check, and how many were generated. */
export function matrixPlans(): { plans: { label: string; plan: CheckedPlan }[]; generated: number; refused: string[] } {
  const all = combos().map(planText);
  const plans: { label: string; plan: CheckedPlan }[] = [];
  const refused: string[] = [];
  for (const p of all) {
    const r = checkText(p.text);
    if (Array.isArray(r)) refused.push(`${p.label}: ${r.join('; ')}`);
    else plans.push({ label: p.label, plan: r });
  }
  return { plans, generated: all.length, refused };
}
