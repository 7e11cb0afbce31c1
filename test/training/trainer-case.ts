/**
 * Shared by the zero-bubble and bf16 trainer tests: the tiny models, a plan compiled from its
 * body, three seeded global batches, and the check that the executor's live bytes equal the
 * compiled graph's per-step simulated memory timeline.
 */
import { expect } from 'vitest';
import { mulberry32 } from '../../src/util/random.js';
import { compileSource } from '../graph/helpers.js';
import { simulate } from '../../src/graph/simulate.js';
import type { Graph } from '../../src/graph/types.js';
import { memoryProblem } from './multi-cases.js';

const PRELUDE = `
model gpt2_tiny { arch = gpt2  layers = 2  hidden = 64  heads = 4  vocab = 97  max_seq = 64  dtype = fp32 }
model llama_tiny { arch = llama  layers = 2  hidden = 64  heads = 4  kv_heads = 2  ffn = 160  vocab = 97  max_seq = 64  dtype = fp32 }
cluster soft8 {
  gpu { name = "lavapipe"  memory = 2 GiB }
  gpus = 8
}
`;

export const SEQ = 16;
export const MICRO = 2;
export const MICROBATCHES = 2;
export const BATCH = `batch { global = ${MICRO * MICROBATCHES}  micro = ${MICRO}  seq = ${SEQ} }`;

export function compileTrain(body: string) {
  const text = `${PRELUDE}\nplan p {\n  cluster = soft8  mode = train  engine = webgpu\n${body}\n}\n`;
  return compileSource(text);
}

/** Three global batches of MICRO × MICROBATCHES sequences of SEQ + 1 tokens. */
export function threeBatches(vocab: number, seed: number): number[][][] {
  const rand = mulberry32(seed);
  return Array.from({ length: 3 }, () =>
    Array.from({ length: MICRO * MICROBATCHES }, () => Array.from({ length: SEQ + 1 }, () => Math.floor(rand() * vocab))),
  );
}

export const OPT = { lr: 1e-3, betas: [0.9, 0.95] as [number, number], eps: 1e-6, weightDecay: 0.1, noDecay: [/\.bias$/, 'norm|ln_'] };

/** Three steps' live bytes on rank 0 equal the per-step simulated timeline, point for point (multi-cases.ts `memoryProblem`). */
export function expectTimeline(got: number[], graph: Graph): void {
  const sim = simulate(graph, { perStep: true }).ranks[0]!;
  expect(memoryProblem(got, sim, graph.devices[0]!.memory.total, 3)).toBeUndefined();
}
