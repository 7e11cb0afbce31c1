/**
 * Shared by the zero-bubble and bf16 trainer tests: the tiny models, a plan compiled from its
 * body, three seeded global batches, and the check that the executor's live bytes follow the
 * compiled graph's simulated memory timeline (as test/training/executor.test.ts checks it).
 */
import { expect } from 'vitest';
import { mulberry32 } from '../../src/util/random.js';
import { compileSource } from '../graph/helpers.js';

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

/**
 * Three steps' live bytes against the simulation's timeline (which merges a layer block into one point and its largest
 * transient): each step the same; the simulated points, in order, among the executor's; the same first and last point and
 * peak, which is the memory plan's total.
 */
export function expectTimeline(got: number[], sim: { memory: number[]; peakBytes: number }, planTotal: number): void {
  expect(got.length % 3).toBe(0);
  const one = got.slice(0, got.length / 3);
  expect(got).toEqual([...one, ...one, ...one]);
  expect(one[0]).toBe(sim.memory[0]);
  expect(one[one.length - 1]).toBe(sim.memory[sim.memory.length - 1]);
  expect(Math.max(...one)).toBe(sim.peakBytes);
  expect(Math.max(...one)).toBe(planTotal);
  let at = 0;
  for (const [i, bytes] of sim.memory.entries()) {
    while (at < one.length && one[at] !== bytes) at++;
    expect(at, `simulated point ${i} (${bytes} B) in order among the executor's`).toBeLessThan(one.length);
    at++;
  }
}
