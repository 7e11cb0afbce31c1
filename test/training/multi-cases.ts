/**
 * The multi-device training cases (test/training/multi.test.ts runs a covering set, bench/train-matrix.ts the full
 * matrix): compile a tiny GPT-2 or Llama plan for a layout, train three AdamW steps on the WebGPU runtime, compare
 * with the torch float64 oracle (test/oracle/train.py), and check each device's live bytes against the simulation.
 */
import { simulate } from '../../src/graph/simulate.js';
import type { Graph } from '../../src/graph/types.js';
import type { Model } from '../../src/model.js';
import { mulberry32 } from '../../src/util/random.js';
import { randomWeights } from '../../runtime/reference/model.js';
import { createTrainer } from '../../runtime/training/executor.js';
import { oracleOptimizer, runOracle, type OracleResult } from '../oracle/run.js';
import { compileSource } from '../graph/helpers.js';

export const PRELUDE = `
model gpt2_tiny { arch = gpt2  layers = 2  hidden = 32  heads = 4  vocab = 64  max_seq = 16  dtype = fp32 }
model gpt2_tiny4 { arch = gpt2  layers = 4  hidden = 32  heads = 4  vocab = 64  max_seq = 16  dtype = fp32 }
model llama_tiny { arch = llama  layers = 4  hidden = 32  heads = 4  kv_heads = 2  ffn = 64  vocab = 60  max_seq = 16  dtype = fp32 }
cluster soft8 {
  gpu { name = "lavapipe"  memory = 2 GiB }
  gpus = 8
}
`;

export interface Layout {
  model: 'gpt2_tiny' | 'gpt2_tiny4' | 'llama_tiny';
  tensor: 1 | 2;
  pipeline: 1 | 2;
  data: 1 | 2;
  /** `zb`: the ZB-H1 table of `zbTable` (I and W actions) for the layout's pipeline and microbatches. */
  schedule: 'gpipe' | '1f1b' | 'interleaved' | 'zb';
  zero: 0 | 1 | 2 | 3;
  recompute: 'none' | 'full';
  clip?: number;
  /** A hand-written table (one string per pipeline rank, I and W actions allowed), replacing schedule (and `zb`'s table). */
  actions?: string[];
  /** bf16 weights with an fp32 master (the oracle's mixed mode; the masters compared). */
  precision?: 'bf16';
}

export const SEQ = 8;
export const MICRO = 2;
export const STEPS = 3;

/** Microbatches per replica: 4 with a pipeline (interleaved needs a multiple of its ranks), else 2. */
export const microbatchesOf = (l: Layout) => (l.pipeline > 1 ? 4 : 2);

/**
 * A ZB-H1-style hand-written table (Qi et al., "Zero Bubble Pipeline Parallelism", 2023): rank r runs
 * `pipeline − r` warm-up forwards, then per microbatch its I (backward for the input), the W (backward for the
 * weights) of the microbatch `pipeline − r` before it, and the next F; the remaining Ws at the end. One string of
 * `r{F|I|W}m` actions per rank (pipeline 2, 4 microbatches: test/training/multi-zb-bf16.test.ts's ZB_H1; pipeline 1,
 * 2 microbatches: `0F0 0I0 0F1 0I1 0W0 0W1`).
 */
export function zbTable(pipeline: number, microbatches: number): string[] {
  return Array.from({ length: pipeline }, (_, r) => {
    const out: string[] = [];
    const delay = pipeline - r;
    let f = 0;
    let w = 0;
    for (; f < Math.min(microbatches, delay); f++) out.push(`${r}F${f}`);
    for (let i = 0; i < microbatches; i++) {
      out.push(`${r}I${i}`);
      if (i - delay >= 0) out.push(`${r}W${w++}`);
      if (f < microbatches) out.push(`${r}F${f++}`);
    }
    while (w < microbatches) out.push(`${r}W${w++}`);
    return out.join(' ');
  });
}

/** The table a layout runs: its own, or `zb`'s for its pipeline and microbatches; undefined for a named schedule. */
export const actionsOf = (l: Layout): string[] | undefined =>
  l.actions ?? (l.schedule === 'zb' ? zbTable(l.pipeline, microbatchesOf(l)) : undefined);

export function compileTrain(l: Layout) {
  const global = l.data * MICRO * microbatchesOf(l);
  const actions = actionsOf(l);
  const body = [
    `model = ${l.model}`,
    `tensor = ${l.tensor}  pipeline = ${l.pipeline}  data = ${l.data}`,
    actions
      ? `actions = [${actions.map((a) => `"${a}"`).join(', ')}]`
      : `schedule = ${l.schedule}${l.schedule === 'interleaved' ? '  virtual = 2' : ''}`,
    l.precision ? `precision = ${l.precision}` : '',
    `zero = ${l.zero}  recompute = ${l.recompute}`,
    l.clip ? `grad_clip = ${l.clip}` : '',
    `batch { global = ${global}  micro = ${MICRO}  seq = ${SEQ} }`,
  ].join('\n  ');
  const text = `${PRELUDE}\nplan p {\n  cluster = soft8  mode = train  engine = webgpu\n  ${body}\n}\n`;
  return compileSource(text);
}

export function batchesFor(vocab: number, sequences: number, seed: number): number[][][] {
  const rand = mulberry32(seed);
  return Array.from({ length: STEPS }, () =>
    Array.from({ length: sequences }, () => Array.from({ length: SEQ + 1 }, () => Math.floor(rand() * vocab))),
  );
}

export const OPT = { lr: 1e-3, betas: [0.9, 0.95] as [number, number], eps: 1e-6, weightDecay: 0.1, noDecay: [/\.bias$/, 'norm|ln_'] };

const oracles = new Map<string, OracleResult>();

export interface CaseResult {
  lossErrors: number[];
  normErrors: number[];
  weightError: number;
  /** Devices whose live bytes differ from the per-step simulation (empty: none). */
  memory: string[];
  error?: string;
  seconds: number;
  /** The trained weights (Hugging Face names). */
  weights?: Map<string, Float32Array>;
}

/**
 * Train `l` for three steps and compare. `device`: one shared device for every rank (each rank its own runner);
 * default: one new device per rank.
 */
export async function trainCase(
  l: Layout,
  device?: { device: GPUDevice; description: string },
  /** Also `trainer.save` the trained weights into this directory. */
  saveTo?: string,
): Promise<CaseResult> {
  const start = performance.now();
  const c = compileTrain(l);
  const graph = c.graph as Graph;
  const m = graph.model as Model;
  const weights = randomWeights(m, 7, 0.1);
  const sequences = l.data * MICRO * microbatchesOf(l);
  const batches = batchesFor(m.vocab, sequences, 11);
  const key = `${l.model}:${sequences}:${l.clip}:${l.precision}`;
  let want = oracles.get(key);
  if (!want)
    oracles.set(
      key,
      (want = runOracle(m, weights, {
        batches,
        optimizer: oracleOptimizer(OPT, l.clip),
        steps: STEPS,
        ...(l.precision ? { mixed: l.precision } : {}),
      })),
    );
  const trainer = await createTrainer(graph, {
    weights,
    optimizer: OPT,
    ...(l.clip ? { clip: l.clip } : {}),
    ...(device ? { device } : {}),
  });
  const out: CaseResult = { lossErrors: [], normErrors: [], weightError: Infinity, memory: [], seconds: 0 };
  try {
    for (let s = 0; s < STEPS; s++) {
      const got = await trainer.step(batches[s]!);
      out.lossErrors.push(Math.abs(got.loss - want.steps[s]!.loss) / want.steps[s]!.loss);
      out.normErrors.push(Math.abs(got.gradNorm - want.steps[s]!.gradNorm) / want.steps[s]!.gradNorm);
    }
    // bf16: the fp32 masters against the oracle's (the bf16 weights are their rounding: test/training/bf16.test.ts).
    const after = l.precision ? await trainer.masterWeights() : await trainer.weights();
    out.weights = l.precision ? await trainer.weights() : after;
    let worst = 0;
    for (const [name, w] of Object.entries(l.precision ? want.masters! : want.weights)) {
      const g = after.get(name);
      if (!g) {
        worst = Infinity;
        continue;
      }
      for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i]! - w[i]!));
    }
    out.weightError = worst;
    if (saveTo) await trainer.save(saveTo);
    // Every device simulated (the compiled graph's simulation covers one column of the mesh), one point per step.
    const sim = simulate(graph, { ranks: graph.devices.map((d) => d.rank), perStep: true });
    for (const dev of graph.devices) {
      const problem = memoryProblem(
        trainer.memoryTimeline(dev.rank),
        sim.ranks.find((r) => r.rank === dev.rank)!,
        dev.memory.total,
      );
      if (problem) out.memory.push(`rank ${dev.rank}: ${problem}`);
    }
  } catch (e) {
    out.error = (e as Error).message;
  } finally {
    trainer.close();
  }
  out.seconds = (performance.now() - start) / 1000;
  return out;
}

/**
 * The executor's live bytes after every compute step (and after its frees) of `steps` runs against the per-step
 * simulated timeline (`simulate(graph, { perStep: true })`) of the same device: every run equal to it point for point,
 * and its peak the memory plan's total. A description of the first difference, or undefined.
 */
export function memoryProblem(
  got: number[],
  sim: { memory: number[]; peakBytes: number },
  planTotal: number,
  steps = STEPS,
): string | undefined {
  const n = sim.memory.length;
  if (got.length !== steps * n) return `${got.length} points over ${steps} steps, simulated ${n} per step`;
  for (let s = 0; s < steps; s++)
    for (let i = 0; i < n; i++)
      if (got[s * n + i] !== sim.memory[i])
        return `step ${s + 1}, point ${i + 1} of ${n}: ${got[s * n + i]} B, simulated ${sim.memory[i]} B`;
  const peak = Math.max(...sim.memory);
  if (peak !== sim.peakBytes || peak !== planTotal) return `peak ${peak} B, simulated ${sim.peakBytes} B, plan ${planTotal} B`;
  return undefined;
}

/**
 * The covering set the test runs: every layout, every schedule with a pipeline, every ZeRO stage, both recomputes and models,
 * and a `zb` table with data 2 on one stage and on tensor 2 × pipeline 2.
 */
export const LAYOUTS: Layout[] = [
  { model: 'gpt2_tiny', tensor: 1, pipeline: 1, data: 1, schedule: '1f1b', zero: 0, recompute: 'none' },
  { model: 'gpt2_tiny', tensor: 2, pipeline: 1, data: 1, schedule: '1f1b', zero: 0, recompute: 'full', clip: 0.5 },
  { model: 'llama_tiny', tensor: 1, pipeline: 1, data: 2, schedule: 'gpipe', zero: 1, recompute: 'none' },
  { model: 'gpt2_tiny', tensor: 2, pipeline: 1, data: 2, schedule: '1f1b', zero: 3, recompute: 'none', clip: 0.5 },
  { model: 'gpt2_tiny', tensor: 1, pipeline: 2, data: 1, schedule: 'gpipe', zero: 0, recompute: 'none' },
  { model: 'llama_tiny', tensor: 1, pipeline: 2, data: 1, schedule: '1f1b', zero: 0, recompute: 'full' },
  { model: 'llama_tiny', tensor: 1, pipeline: 2, data: 1, schedule: 'interleaved', zero: 0, recompute: 'none', clip: 0.5 },
  { model: 'llama_tiny', tensor: 2, pipeline: 2, data: 1, schedule: 'gpipe', zero: 0, recompute: 'full' },
  { model: 'gpt2_tiny', tensor: 2, pipeline: 2, data: 1, schedule: '1f1b', zero: 0, recompute: 'none', clip: 0.5 },
  { model: 'gpt2_tiny4', tensor: 2, pipeline: 2, data: 1, schedule: 'interleaved', zero: 0, recompute: 'full' },
  { model: 'llama_tiny', tensor: 1, pipeline: 2, data: 2, schedule: 'gpipe', zero: 2, recompute: 'none' },
  { model: 'gpt2_tiny', tensor: 1, pipeline: 2, data: 2, schedule: '1f1b', zero: 1, recompute: 'full', clip: 0.5 },
  { model: 'gpt2_tiny4', tensor: 1, pipeline: 2, data: 2, schedule: 'interleaved', zero: 3, recompute: 'none' },
  { model: 'llama_tiny', tensor: 2, pipeline: 2, data: 2, schedule: 'gpipe', zero: 3, recompute: 'full', clip: 0.5 },
  { model: 'gpt2_tiny', tensor: 2, pipeline: 2, data: 2, schedule: '1f1b', zero: 2, recompute: 'none' },
  { model: 'llama_tiny', tensor: 2, pipeline: 2, data: 2, schedule: 'interleaved', zero: 0, recompute: 'none' },
  // Hand-written ZB-H1 tables (I and W actions) with data 2: on one stage, and on tensor 2 × pipeline 2.
  { model: 'gpt2_tiny', tensor: 1, pipeline: 1, data: 2, schedule: 'zb', zero: 2, recompute: 'none', clip: 0.5 },
  { model: 'llama_tiny', tensor: 2, pipeline: 2, data: 2, schedule: 'zb', zero: 1, recompute: 'full' },
];
