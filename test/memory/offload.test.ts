/**
 * HSDP (shard_group), reshard_after_forward and ZeRO-Offload against their sources: DeepSpeed's
 * own estimators (deepspeed/runtime/zero/stage_1_and_2.py::estimate_zero2_model_states_mem_needs,
 * stage3.py::estimate_zero3_model_states_mem_needs at microsoft/DeepSpeed 38327e07, transcribed
 * below as the reference), ZeRO's arithmetic over a shard group, and the fit / no-fit claims of
 * DeepSpeed's ZeRO-Offload blog (docs/_posts/2020-09-09-ZeRO-Offload.md: "models of up to 13
 * billion parameters" on a single GPU, "10x bigger than the existing approaches").
 */
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { memoryPlan } from '../../src/memory/index.js';
import { countParams } from '../../src/memory/params.js';
import { memoryHost } from '../fuzz/mutate.js';
import { GiB, modelSpec, trainPlan } from './fixtures.js';

/** DeepSpeed's ZeRO-2 estimator, CPU side with cpu_offload (per node, bytes). */
function dsZero2Cpu(params: number, gpusPerNode: number, nodes: number, abf = 1.5): number {
  return Math.trunc(params * Math.max(4 * gpusPerNode * nodes, 16) * abf);
}

/** DeepSpeed's ZeRO-3 estimator, CPU side with zero_init (per node, bytes). */
function dsZero3Cpu(params: number, nodes: number, offloadParams: boolean, abf = 1.5): number {
  return Math.trunc(params * (offloadParams ? 18 : 16) * (1 / nodes) * abf);
}

// A GPT-2-shaped model whose parameter count divides by 8 and 16 (no ZeRO padding to account for).
const gpt = modelSpec('gpt2', { name: 'g', layers: 8, hidden: 1024, heads: 16, vocab: 50304, maxSeq: 1024, dtype: 'fp16' });
const psi = countParams(gpt);

describe('offload: CPU memory per node equals DeepSpeed’s estimators', () => {
  it('ZeRO-2 + offload_optimizer on one GPU: Ψ × 16 × 1.5', () => {
    const m = memoryPlan(trainPlan(gpt, { zero: 2, offload: 'optimizer', precision: 'fp16' }));
    expect(m.hosts).toHaveLength(1);
    expect(m.hosts[0]!.totalBytes).toBe(dsZero2Cpu(psi, 1, 1));
  });

  it('ZeRO-3 + offload_optimizer over 16 GPUs on 2 nodes: Ψ × 16 × 1.5 / nodes per node', () => {
    expect(psi % 16).toBe(0);
    const m = memoryPlan(trainPlan(gpt, { zero: 3, offload: 'optimizer', data: 16, gpusPerNode: 8 }));
    expect(m.hosts.map((h) => h.node)).toEqual([0, 1]);
    for (const h of m.hosts) expect(h.totalBytes).toBe(dsZero3Cpu(psi, 2, false));
  });

  it('ZeRO-3 + offload_optimizer + offload_param over 8 GPUs: Ψ × 18 × 1.5 (the 16-bit weights too)', () => {
    const m = memoryPlan(trainPlan(gpt, { zero: 3, offload: 'optimizer_params', data: 8 }));
    expect(m.hosts[0]!.totalBytes).toBe(dsZero3Cpu(psi, 1, true));
    expect(m.hosts[0]!.breakdown.weights).toBe(2 * psi);
  });

  it('no offload, no host part', () => {
    expect(memoryPlan(trainPlan(gpt, { zero: 3, data: 8 })).hosts).toEqual([]);
  });
});

describe('offload: what stays on the GPU', () => {
  it('ZeRO-2 offload keeps the 16-bit weights, buckets, no optimizer state (DeepSpeed: gpu = 2Ψ + buffers)', () => {
    const d = memoryPlan(trainPlan(gpt, { zero: 2, offload: 'optimizer', precision: 'fp16' })).devices[0]!;
    expect(d.breakdown.weights).toBe(2 * psi);
    expect(d.breakdown.optimizer).toBe(0);
    // Two reduce buckets of min(5e8, Ψ) elements (overlap_comm) + the largest parameter (the embedding), 16-bit.
    expect(d.breakdown.gradients).toBe((2 * psi + 50304 * 1024) * 2);
  });

  it('ZeRO-3 offload_optimizer keeps the 2Ψ/N weight shard (DeepSpeed: gpu = largest layer + 2Ψ/N)', () => {
    const d = memoryPlan(trainPlan(gpt, { zero: 3, offload: 'optimizer', data: 8 })).devices[0]!;
    expect(d.breakdown.weights).toBe((2 * psi) / 8);
    expect(d.breakdown.optimizer).toBe(0);
  });

  it('ZeRO-3 offload_param keeps only the persistent vectors and the prefetch bucket', () => {
    const d = memoryPlan(trainPlan(gpt, { zero: 3, offload: 'optimizer_params', data: 8 })).devices[0]!;
    // Per layer: 2 layernorms (2h each) + biases q,k,v,o (4h) + fc1 (4h) + fc2 (h) = 13h; + the final layernorm 2h.
    const persistent = 8 * 13 * 1024 + 2 * 1024;
    expect(d.breakdown.weights).toBe((persistent + Math.min(5e7, psi)) * 2);
  });
});

describe('HSDP: shard_group', () => {
  const full = memoryPlan(trainPlan(gpt, { zero: 3, data: 16 })).devices[0]!.breakdown;
  const hsdp = memoryPlan(trainPlan(gpt, { zero: 3, data: 16, shardGroup: 8 })).devices[0]!.breakdown;
  const eight = memoryPlan(trainPlan(gpt, { zero: 3, data: 8 })).devices[0]!.breakdown;

  it('model states are divided by the shard group only', () => {
    expect(hsdp.weights).toBe((psi / 8) * 2);
    expect(hsdp.gradients).toBe((psi / 8) * 4);
    expect(hsdp.optimizer).toBe((psi / 8) * 12);
    expect(full.optimizer).toBe((psi / 16) * 12);
    // 16 data ranks in shard groups of 8 hold what 8 fully sharded ranks hold.
    expect([hsdp.weights, hsdp.gradients, hsdp.optimizer]).toEqual([eight.weights, eight.gradients, eight.optimizer]);
  });

  it('reshard_after_forward = false keeps every local parameter unsharded from forward to backward', () => {
    const kept = memoryPlan(trainPlan(gpt, { zero: 3, data: 8, reshardAfterForward: false })).devices[0]!.breakdown;
    expect(kept.weights - eight.weights).toBe(psi * 2);
  });
});

describe('the ZeRO-Offload claim: 13B on one V100-32GB', () => {
  // A 13B GPT-2 shape at the tutorial's width (64 layers × 4096; the paper's exact configuration was not read here).
  const text = (offload: string) => `
model gpt2_13b {
  arch = gpt2  layers = 64  hidden = 4096  heads = 32  vocab = 50257  max_seq = 1024  dtype = fp16
}
cluster dgx2_one_gpu {
  gpu = V100_32GB  gpus = 1  host_memory = 1505 GiB
}
plan p {
  model = gpt2_13b  cluster = dgx2_one_gpu  mode = train
  zero = 2  ${offload}  precision = fp16  recompute = full  attention = standard
  batch { global = 1  micro = 1  seq = 1024 }
}
`;
  const run = (offload: string) => {
    const path = '/claims/13b.plan';
    return analyze([path], { host: memoryHost(new Map([[path, text(offload)]])) });
  };

  it('fits with offload = optimizer (GPU and host)', () => {
    const a = run('offload = optimizer');
    expect(a.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const r = a.results[0]!;
    expect(r.memory.params).toBeGreaterThan(12.9e9);
    expect(r.fits).toBe(true);
    expect(r.memory.hosts[0]!.totalBytes).toBeLessThan(r.memory.hosts[0]!.capacityBytes!);
  });

  it('does not fit without it (plain ZeRO-2 on one GPU keeps 18 B per parameter)', () => {
    const a = run('');
    expect(a.results[0]!.fits).toBe(false);
    expect(a.diagnostics.map((d) => d.code)).toContain('PP4001');
    expect(Math.max(...a.results[0]!.memory.devices.map((d) => d.totalBytes))).toBeGreaterThan(200 * GiB);
  });
});
