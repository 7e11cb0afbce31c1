/**
 * The executor: runs a compiled serving graph on WebGPU devices, one device per
 * rank. It interprets each device's program (`graph.programs[...].phases.prefill`
 * and `.decode`) step by step: compute steps become kernel dispatches recorded into
 * one command encoder per device; tensor-parallel collectives and pipeline
 * send/recv go through the host (collectives.ts). Data-parallel replicas run
 * independently, each on its own devices and its own KV-cache slots.
 *
 * A replica implements one forward pass over `n` tokens (a prefill chunk of one
 * sequence, or one token of each of several sequences in decode), each token with
 * its position and KV-cache slot; the last stage returns logits or greedy tokens.
 */
import type { Graph, GraphDevice, Step } from '../src/graph/types.js';
import { AllocationError, checkLimits, kvLayerBytes, STORAGE } from './allocate.js';
import { HostStaging, allReduceSum, gatherColumns, sendRecv, type Member } from './collectives.js';
import type { RankDevice } from './device.js';
import { KernelRunner } from './kernels/run.js';
import { Ops, type WeightBuffer } from './ops.js';
import { loadWeights, type WeightsSource } from './weights/load.js';

export { AllocationError };

/** One device's state: its buffers and the kernels bound to them. */
export class DeviceState {
  readonly buffers = new Map<string, GPUBuffer>();
  readonly weights = new Map<string, WeightBuffer>();
  /** Per layer: the K and V caches, each [slots, maxSeq, kvHeadsPerRank, headDim]. */
  readonly kv = new Map<number, { k: GPUBuffer; v: GPUBuffer }>();
  staging: HostStaging | undefined;
  readonly runner: KernelRunner;
  readonly ops: Ops;
  /** Bytes of every buffer created for this device (the memory report). */
  allocated = 0;

  constructor(
    readonly rd: RankDevice,
    readonly dev: GraphDevice,
    readonly graph: Graph,
  ) {
    this.runner = new KernelRunner(rd.device, { label: `rank ${dev.rank}` });
    this.ops = new Ops(this);
  }

  buffer(name: string): GPUBuffer {
    const b = this.buffers.get(name);
    if (!b) throw new Error(`internal error: rank ${this.dev.rank} has no buffer '${name}' (this is a bug in parplan)`);
    return b;
  }

  weight(name: string): WeightBuffer {
    const w = this.weights.get(name);
    if (!w) throw new Error(`internal error: rank ${this.dev.rank} has no weight '${name}' (this is a bug in parplan)`);
    return w;
  }

  member(name: string): Member {
    if (!this.staging) throw new Error(`internal error: rank ${this.dev.rank} has no staging buffers (this is a bug in parplan)`);
    return { staging: this.staging, buffer: this.buffer(name) };
  }
}

/** Allocate one device exactly as the compiled graph says, and upload its weights. */
export async function prepareDevice(rd: RankDevice, dev: GraphDevice, graph: Graph, weights: WeightsSource): Promise<DeviceState> {
  const state = new DeviceState(rd, dev, graph);
  const regions = graph.buffers?.[dev.program];
  if (!regions) throw new AllocationError(`plan '${graph.plan.name}' was not compiled for the webgpu engine: add \`engine = webgpu\` to the plan and compile it again`);
  const kvBytes = kvLayerBytes(graph);
  const layers = graph.mesh.stages.filter((s) => s.rank === dev.stage);
  checkLimits(rd, dev, [
    ...graph.tensors.filter((t) => t.role === 'weight' && t.owners.includes(dev.stage)).map((t) => ({ name: t.name, bytes: t.bytes })),
    { name: 'the KV cache of one layer', bytes: kvBytes / 2 },
    ...regions.map((r) => ({ name: `the ${r.name} buffer`, bytes: r.bytes })),
  ]);
  const device = rd.device;
  for (const r of regions) allocateRegion(state, r, regions);
  for (const st of layers) {
    for (let l = st.firstLayer; l <= st.lastLayer; l++) {
      const half = kvBytes / 2;
      const make = (which: string) => device.createBuffer({ label: `rank ${dev.rank} ${which} cache ${l}`, size: Math.max(4, Math.ceil(half / 4) * 4), usage: STORAGE() });
      state.kv.set(l, { k: make('K'), v: make('V') });
      state.allocated += kvBytes;
    }
  }
  for await (const w of loadWeights(graph, { stage: dev.stage, tensorRank: dev.tensorRank, dataRank: dev.dataRank }, weights, { progress: 'auto' })) {
    const size = Math.max(4, Math.ceil(w.data.byteLength / 4) * 4);
    const buffer = device.createBuffer({ label: `rank ${dev.rank} ${w.name}`, size, usage: STORAGE(), mappedAtCreation: true });
    new Uint8Array(buffer.getMappedRange()).set(w.data);
    buffer.unmap();
    state.weights.set(w.name, { buffer, dtype: w.dtype, shape: w.shape });
    state.allocated += size;
  }
  return state;
}

type Region = NonNullable<Graph['buffers']>[string][number];

function allocateRegion(state: DeviceState, r: Region, all: readonly Region[]): void {
  const device = state.rd.device;
  if (r.name === 'uniforms') {
    state.allocated += r.bytes; // the kernel runner's uniform pool: one chunk of this size
    return;
  }
  if (r.name === 'staging-read' || r.name === 'staging-write') {
    if (!state.staging) {
      const bytes = (name: string) => all.find((x) => x.name === name)?.bytes ?? 0;
      state.staging = HostStaging.create(device, bytes('staging-read'), bytes('staging-write'), `rank ${state.dev.rank}`);
      state.allocated += bytes('staging-read') + bytes('staging-write');
    }
    return;
  }
  state.buffers.set(r.name, device.createBuffer({ label: `rank ${state.dev.rank} ${r.name}`, size: Math.max(4, Math.ceil(r.bytes / 4) * 4), usage: STORAGE() }));
  state.allocated += r.bytes;
}

/** The tensor ranks of one pipeline stage of one replica. */
export interface StageGroup {
  devices: DeviceState[];
}

export interface PassInput {
  tokens: readonly number[];
  positions: readonly number[];
  slots: readonly number[];
  /** prefill: one sequence's chunk (only its last token's logits are needed); decode: one token per sequence. */
  phase: 'prefill' | 'decode';
}

/** One data-parallel replica: its stages in order. */
export class Replica {
  constructor(
    readonly dataRank: number,
    readonly stages: StageGroup[],
    readonly graph: Graph,
  ) {}

  /**
   * Run one pass; returns the logits of the rows that need them ([rows, vocab], padding
   * columns removed): the last token for prefill, every token for decode.
   */
  async forward(input: PassInput): Promise<{ logits: Float32Array; rows: number }> {
    const n = input.tokens.length;
    const h = this.graph.model.hidden;
    for (const [i, group] of this.stages.entries()) {
      for (const d of group.devices) d.ops.uploadIds(input);
      if (i > 0) {
        const prev = this.stages[i - 1]!;
        await Promise.all(group.devices.map((d, tr) => sendRecv(prev.devices[tr]!.member('hidden'), d.member('hidden'), n * h)));
      }
      await this.runStage(group, input, n);
    }
    return this.readLogits(input, n);
  }

  private async runStage(group: StageGroup, input: PassInput, n: number): Promise<void> {
    const program = this.graph.programs[group.devices[0]!.dev.program]!;
    const steps = program.phases[input.phase]!;
    const encs = group.devices.map((d) => d.ops.begin());
    const flush = async (collective?: Extract<Step, { op: 'all-reduce' | 'all-gather' | 'reduce-scatter' }>) => {
      group.devices.forEach((d, i) => d.ops.end(encs[i]!));
      if (collective && collective.op === 'all-reduce' && group.devices.length > 1) {
        const name = collective.tensor === 'hidden' ? 'hidden' : 'x';
        await allReduceSum(group.devices.map((d) => d.member(name)), n * this.graph.model.hidden);
      }
      group.devices.forEach((d, i) => (encs[i] = d.ops.begin()));
    };
    const exec = async (s: Step, layer?: number) => {
      switch (s.op) {
        case 'compute':
          group.devices.forEach((d) => d.ops.compute(s, layer, input, n));
          return;
        case 'all-reduce':
        case 'all-gather':
        case 'reduce-scatter':
          // The logits are gathered on the host when they are read.
          if (s.tensor === 'logits') return;
          await flush(s);
          return;
        case 'block':
          for (let l = s.layers[0]; l <= s.layers[1]; l++) for (const inner of this.graph.blocks[s.block]!) await exec(inner, l);
          return;
        default:
          // send/recv between stages and the loop-carried tokens are done by forward().
          return;
      }
    };
    for (const s of steps) await exec(s);
    group.devices.forEach((d, i) => d.ops.end(encs[i]!));
  }

  private async readLogits(input: PassInput, n: number): Promise<{ logits: Float32Array; rows: number }> {
    const last = this.stages[this.stages.length - 1]!;
    const rows = input.phase === 'prefill' ? 1 : n;
    const vocab = this.graph.model.vocab;
    const vRows = this.graph.model.vocabPadded / this.graph.mesh.tensor;
    let full: Float32Array;
    if (last.devices.length === 1) full = await last.devices[0]!.ops.readLogits(rows, vRows);
    else full = await gatherColumns(last.devices.map((d) => d.member('logits')), rows, vRows);
    const width = this.graph.model.vocabPadded;
    if (width === vocab) return { logits: full, rows };
    const out = new Float32Array(rows * vocab);
    for (let r = 0; r < rows; r++) out.set(full.subarray(r * width, r * width + vocab), r * vocab);
    return { logits: out, rows };
  }

}

/** Greedy sampling on the host: index of the largest logit per row. */
export function argmaxRows(logits: Float32Array, rows: number, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bestV = -Infinity;
    for (let c = 0; c < cols; c++) {
      const v = logits[r * cols + c]!;
      if (v > bestV) {
        bestV = v;
        best = c;
      }
    }
    out.push(best);
  }
  return out;
}
