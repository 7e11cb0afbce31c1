/**
 * Tiny models for the runtime's end-to-end tests: a plan compiled for the webgpu
 * engine, and the same weights both as a safetensors file with Hugging Face names
 * (what the runtime loads) and as the CPU reference model.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../../src/analyze.js';
import { compilePlan } from '../../src/compile.js';
import type { Graph } from '../../src/graph/types.js';
import type { Engine } from '../../runtime/engine.js';
import { randomWeights, ReferenceModel, weightShapes, type Model, type MoeNaming } from '../../runtime/reference/model.js';
import { memoryHost } from '../fuzz/mutate.js';
import { safetensorsBytes } from '../weights/write.js';

export interface TinyModel {
  /** The body of a `model { … }` block; `dtype = fp32` is replaced by the layout's dtype. */
  plan: string;
  config: Model;
  /** MoE: how the checkpoint spells the router and experts (default Qwen-MoE's). */
  moeNaming?: MoeNaming;
}

export interface Layout {
  tensor: number;
  pipeline: number;
  data: number;
  dtype?: string;
  /** MoE: the expert-parallel degree and expert_tensor (absent: the plan's defaults). */
  expert?: number;
  expertTensor?: number;
  /** The body of the plan's `batch { … }` block. */
  batch?: string;
}

const DEFAULT_BATCH = 'max_batch = 4  seq = 64  max_prefill_tokens = 8';

/** Compile `model` for the webgpu engine in one layout, on lavapipe-sized GPUs. */
export function compileTiny(model: TinyModel, l: Layout): Graph {
  const text = `model m { ${model.plan.replace('dtype = fp32', `dtype = ${l.dtype ?? 'fp32'}`)} }
cluster c { gpu { name = "lavapipe"  memory = 2 GiB }  gpus = ${l.tensor * l.pipeline * l.data} }
plan p {
  model = m  cluster = c  mode = serve  engine = webgpu
  tensor = ${l.tensor}  pipeline = ${l.pipeline}  data = ${l.data}${l.expert ? `  expert = ${l.expert}` : ''}${l.expertTensor ? `  expert_tensor = ${l.expertTensor}` : ''}
  batch { ${l.batch ?? DEFAULT_BATCH} }
}
`;
  const a = analyze(['/p.plan'], { host: memoryHost(new Map([['/p.plan', text]])) });
  const errors = a.diagnostics.filter((x) => x.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('; '));
  const r = a.results[0]!;
  return compilePlan(r.plan, r.memory).graph;
}

const dir = mkdtempSync(join(tmpdir(), 'parplan-e2e-'));
const written = new Map<TinyModel, { path: string; reference: ReferenceModel }>();

/** The model's weights (seed 7, std 0.1) as a safetensors file, and the reference model on them. */
export function weightsFor(model: TinyModel): { path: string; reference: ReferenceModel } {
  let w = written.get(model);
  if (!w) {
    const config = model.config;
    const naming = model.moeNaming ? { moeNaming: model.moeNaming } : {};
    const weights = randomWeights(config, 7, 0.1, naming);
    const shapes = weightShapes(config, naming);
    const tensors = Object.fromEntries(
      [...weights].map(([name, data]) => [name, { dtype: 'F32', shape: shapes.get(name) ?? [data.length], data }]),
    );
    const path = join(dir, `${config.arch}-${written.size}.safetensors`);
    writeFileSync(path, safetensorsBytes(tensors));
    w = { path, reference: new ReferenceModel(config, weights, naming) };
    written.set(model, w);
  }
  return w;
}

/** max |a − b| relative to the largest |b|. */
export function maxRelError(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  for (const x of b) scale = Math.max(scale, Math.abs(x));
  let err = 0;
  for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i]! - b[i]!));
  return err / scale;
}

/** The engine without `prefillMany`/`replicaOf`: the server's one-prefill-at-a-time path. */
export function sequentialView(e: Engine): Engine {
  return {
    slots: e.slots,
    maxSeq: e.maxSeq,
    prefill: (slot, prompt) => e.prefill(slot, prompt),
    decode: (batch) => e.decode(batch),
    release: (slot) => e.release(slot),
    get healthy() {
      return e.healthy;
    },
    onLost: (l) => e.onLost(l),
    busyMs: () => e.busyMs(),
  };
}
