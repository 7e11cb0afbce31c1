/**
 * Hand-built analyses for renderer and CLI tests: no parser, checker or memory model
 * involved, so these tests pin the output formats alone.
 */
import { llama3_8b } from '../memory/fixtures.js';
import type { Analysis, PlanResult } from '../../src/analyze.js';
import { GiB } from '../../src/format.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { diag } from '../../src/diagnostics/diagnostic.js';
import type { Code } from '../../src/diagnostics/codes.js';
import { planCost } from '../../src/cost/index.js';
import { GPUS } from '../../src/facts/gpus.js';
import type { Breakdown, DeviceMemory, MemoryPlan } from '../../src/memory/types.js';
import { rankOf } from '../../src/mesh.js';
import type { Mesh, ServePlan, TrainPlan } from '../../src/plan.js';
import { SourceFile, type Span } from '../../src/source.js';

export { GiB, MiB } from '../../src/format.js';

export const SERVE_FILE = 'examples/serve.plan';
export const SERVE_TEXT = [
  'model llama3_8b {',
  '  arch = llama',
  '  layers = 32',
  '  heads = 32',
  '}',
  '',
  'plan serve_8b {',
  '  model = llama3_8b',
  '  cluster = h100x8',
  '  mode = serve',
  '\ttensor = 3',
  '  pipeline = 2',
  '}',
  '',
].join('\n');

/** The span of the `occurrence`-th `needle` in `source`. */
export function spanOf(source: SourceFile, needle: string, occurrence = 1): Span {
  let at = -1;
  for (let i = 0; i < occurrence; i++) {
    at = source.text.indexOf(needle, at + 1);
    if (at < 0) throw new Error(`'${needle}' not found`);
  }
  return source.span(at, at + needle.length);
}

export const serveSource = () => new SourceFile(SERVE_FILE, SERVE_TEXT);

const span0 = (file: string): Span => ({ file, start: 0, end: 0, line: 1, column: 1, endLine: 1, endColumn: 1 });

export function breakdown(gib: Partial<Breakdown>): Breakdown {
  const b: Breakdown = { weights: 0, gradients: 0, optimizer: 0, activations: 0, kvCache: 0, workspace: 0 };
  for (const [k, v] of Object.entries(gib) as [keyof Breakdown, number][]) b[k] = Math.round(v * GiB);
  return b;
}

export function device(
  mesh: Mesh,
  coords: { dataRank: number; stage: number; tensorRank: number },
  b: Breakdown,
  capacityBytes = GPUS['H100_SXM_80GB']!.memoryBytes,
  reserve = 0.05,
): DeviceMemory {
  const total = Object.values(b).reduce((x, y) => x + y, 0);
  const rank = rankOf(mesh, { tensor: coords.tensorRank, context: 0, pipeline: coords.stage, data: coords.dataRank });
  return {
    rank,
    ...coords,
    node: Math.floor(rank / 8),
    gpu: 'H100_SXM_80GB',
    capacityBytes,
    usableBytes: Math.floor(capacityBytes * (1 - reserve)),
    totalBytes: total,
    breakdown: b,
    params: 4_015_130_624,
    why: {
      weights: `${(b.weights / GiB).toFixed(2)} GiB = 4.02B params × 2 B (bf16)`,
      gradients: '0 (serve plans keep no gradients)',
      optimizer: '0 (serve plans keep no optimizer state)',
      activations: '0 (serve: activations are transient, counted in workspace)',
      kvCache:
        `${(b.kvCache / GiB).toFixed(2)} GiB = 2 (K and V) × 16 layers × 4 KV heads × 128 head_dim × 2 B × ` +
        '64 max_batch × 8192 seq, over tensor = 2 ranks; this line is long on purpose so that it wraps',
      workspace: `${(b.workspace / GiB).toFixed(2)} GiB workspace, as given`,
    },
  };
}

export interface PlanFixture {
  name?: string;
  file?: string;
  mesh?: Mesh;
  /** Breakdown by stage (one entry per pipeline stage). */
  stages?: Breakdown[];
  mode?: 'serve' | 'train';
  capacityBytes?: number;
}

export function planResult(f: PlanFixture = {}): PlanResult {
  const mesh = f.mesh ?? { tensor: 2, context: 1, pipeline: 2, data: 2 };
  const file = f.file ?? SERVE_FILE;
  const name = f.name ?? 'serve_8b';
  const stages = f.stages ?? [
    breakdown({ weights: 3.75, kvCache: 32, workspace: 1 }),
    breakdown({ weights: 4.25, kvCache: 32, workspace: 1 }),
  ];
  const gpu = GPUS['H100_SXM_80GB']!;
  const devices: DeviceMemory[] = [];
  for (let d = 0; d < mesh.data; d++)
    for (let s = 0; s < mesh.pipeline; s++)
      for (let t = 0; t < mesh.tensor; t++) {
        devices.push(
          device(mesh, { dataRank: d, stage: s, tensorRank: t }, stages[s % stages.length]!, f.capacityBytes ?? gpu.memoryBytes),
        );
      }
  devices.sort((a, b) => a.rank - b.rank);
  const s = span0(file);
  const base = {
    name,
    file,
    span: s,
    model: { ...llama3_8b, span: s },
    cluster: { name: 'h100x8', span: s, gpu, gpus: 8, nodes: 1, gpusPerNode: 8, networkGBs: 50 },
    mesh,
    experts: { tensor: mesh.tensor, expert: 1, data: mesh.data },
    stages: Array.from({ length: mesh.pipeline }, (_, i) => ({
      index: i,
      firstLayer: (i * 32) / mesh.pipeline,
      lastLayer: ((i + 1) * 32) / mesh.pipeline - 1,
      layers: 32 / mesh.pipeline,
      hasEmbedding: i === 0,
      hasOutput: i === mesh.pipeline - 1,
    })),
    reserve: 0.05,
    workspaceBytes: GiB,
    attention: 'flash',
    derived: {
      vocabPadded: 128256,
      headsPerRank: 32 / mesh.tensor,
      kvHeadsPerRank: 8 / mesh.tensor,
      kvReplication: 1,
      ffnPerRank: 14336 / mesh.tensor,
      layers: [
        {
          first: 0,
          last: 31,
          layer: llama3_8b.layer,
          headsPerRank: 32 / mesh.tensor,
          kvHeadsPerRank: 8 / mesh.tensor,
          kvReplication: 1,
          ffnPerRank: 14336 / mesh.tensor,
          expertsPerRank: 0,
          sharedFfnPerRank: 0,
        },
      ],
      gpusUsed: mesh.tensor * mesh.pipeline * mesh.data,
    },
    spans: {},
  } as const;
  const plan: ServePlan | TrainPlan =
    f.mode === 'train'
      ? {
          ...base,
          mode: 'train',
          batch: { global: 512, micro: 1, seq: 8192 },
          sequenceParallel: true,
          schedule: '1f1b',
          microbatches: 256,
          virtual: 1,
          zero: 1,
          reshardAfterForward: true,
          offload: 'none',
          recompute: 'selective',
          recomputeMethod: 'uniform',
          recomputeLayers: 1,
          amp: false,
          precision: 'bf16',
          optimizer: 'adamw',
          gradDtype: 'fp32',
          contextComm: 'p2p',
          fp8: 'none',
        }
      : {
          ...base,
          mode: 'serve',
          batch: { maxBatch: 64, maxWaitMs: 5, seq: 8192, queue: 256, maxPrefillTokens: 8192 },
          kvDtype: 'bf16',
          kvBlock: 16,
          engine: 'generic',
          workspaceGiven: false,
        };
  const memory: MemoryPlan = { plan: name, params: 8_030_261_248, devices, hosts: [] };
  return { plan, memory, fits: devices.every((d) => d.totalBytes <= d.usableBytes), cost: planCost(plan, memory) };
}

export function analysis(results: PlanResult[], diagnostics: Diagnostic[] = [], sources: SourceFile[] = [serveSource()]): Analysis {
  return {
    results,
    diagnostics,
    sources: new Map(sources.map((s) => [s.path, s])),
    files: [...new Set([...sources.map((s) => s.path), ...results.map((r) => r.plan.file)])],
  };
}

/** PP3001 at `tensor = 3`'s value, with help. */
export function pp3001(source = serveSource()): Diagnostic {
  const at = spanOf(source, 'tensor = 3').start + 'tensor = '.length;
  return diag('PP3001', source.span(at, at + 1), { heads: 32, tensor: 3 }, { help: 'tensor = 2 or 4 divides heads = 32' });
}

export function diagnostic(code: Code, span: Span | undefined, args: Record<string, string | number>, file?: string): Diagnostic {
  const d = diag(code, span, args);
  if (file !== undefined) d.file = file;
  return d;
}

/** A two-stage training plan whose hand-written action table deadlocks (PP5001): each stage waits for the other. */
export const DEADLOCK_PLAN = `model tiny { arch = llama  layers = 4  hidden = 512  heads = 8  ffn = 1024  vocab = 1000  max_seq = 512 }
cluster pair { gpu = H100_SXM_80GB  gpus = 2 }
plan train {
  model = tiny  cluster = pair  mode = train  pipeline = 2
  batch { global = 2  seq = 512 }
  actions = ["0F0 0B0 0F1 0B1", "1F1 1B1 1F0 1B0"]
}
`;
