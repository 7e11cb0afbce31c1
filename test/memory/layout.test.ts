/**
 * `layout` (Megatron's --pipeline-model-parallel-layout): the notation, every rank's peak under
 * uneven virtual stages, and what lowering, cost and the exports make of it.
 *
 * The oracles are independent of src/schedules: Megatron's interleaved order is rewritten here
 * from its description (schedules.py: warm-up 2(p − r − 1) + (v − 1)p forwards, then one forward
 * and one backward per step; forward k runs chunk (k mod pv) div p, backward k chunk
 * v − 1 − (k mod pv) div p), and the zero-bubble paper's layer-microbatch counts are the ones
 * worked out by hand in the anchors (16, 21, 18, 15, 12, 9, 6, 2).
 */
import { describe, expect, it } from 'vitest';
import type { StringValue } from '../../src/ast.js';
import { analyze, type PlanResult } from '../../src/analyze.js';
import { formatLayout, parseLayout } from '../../src/check/layout.js';
import { compilePlan } from '../../src/compile.js';
import { exportPlan } from '../../src/export/index.js';
import { formatPlanText } from '../../src/fmt/index.js';
import { trainLayerActivationBytes, layersInFlight } from '../../src/memory/index.js';
import type { TrainPlan } from '../../src/plan.js';
import { comparable, pinnedSettings } from '../../src/search/pinned.js';
import { renderPlan } from '../../src/search/settings.js';
import { memoryHost } from '../fuzz/mutate.js';

const HEAD = `model gpt_1_5b {
  arch = gpt2  layers = 22  hidden = 2304  heads = 24  ffn = 9216  vocab = 32000  max_seq = 2048  dtype = fp16
}
model llama3_8b {
  arch = llama  layers = 32  hidden = 4096  heads = 32  kv_heads = 8  ffn = 14336  vocab = 128256  max_seq = 8192
}
model tiny22 {
  arch = llama  layers = 22  hidden = 2048  heads = 32  kv_heads = 4  ffn = 5632  vocab = 32000  max_seq = 2048
}
cluster a100x8 {
  gpu = A100_80GB  gpus = 8
}
`;

function check(body: string): { results: PlanResult[]; codes: string[] } {
  const path = '/t/layout.plan';
  const a = analyze([path], { host: memoryHost(new Map([[path, HEAD + body]])) });
  return { results: a.results, codes: a.diagnostics.filter((d) => d.severity === 'error').map((d) => d.code) };
}

function one(body: string): PlanResult & { plan: TrainPlan } {
  const { results, codes } = check(body);
  expect(codes).toEqual([]);
  expect(results).toHaveLength(1);
  return results[0]! as PlanResult & { plan: TrainPlan };
}

const zb = (keys: string, micro = 6, global = 144): string => `plan p {
  model = gpt_1_5b  cluster = a100x8  mode = train  pipeline = 8  precision = fp16  grad_dtype = fp16  attention = standard
  ${keys}
  batch { global = ${global}  micro = ${micro}  seq = 1024 }
}
`;

const str = (value: string): StringValue => ({
  kind: 'string',
  value,
  span: { file: 'x', start: 10, end: 12 + value.length, line: 1, column: 11, endLine: 1, endColumn: 13 + value.length },
});
const entries = (text: string) => parseLayout(str(text)).entries.map((e) => e.text);

describe('the layout notation (Megatron parse_str_to_list)', () => {
  it("expands Megatron's own docstring example: Ettt|(tt|)*29,m|L is [E,t,t,t] + [t,t]*29 + [m], [L]", () => {
    expect(entries('Ettt|(tt|)*29,m|L')).toEqual(['Ettt', ...Array<string>(29).fill('tt'), 'm', 'L']);
  });
  it('repeats one character with x*n, a group with (…)*n, keeps empty stages and drops commas', () => {
    expect(entries('Et*3|(tt|)*2,t|L')).toEqual(['Ettt', 'tt', 'tt', 't', 'L']);
    expect(entries('E|(t|)*3L')).toEqual(['E', 't', 't', 't', 'L']);
    expect(entries('Et*0|t,t|L')).toEqual(['E', 'tt', 'L']);
  });
  it('formatLayout writes stages back so that they parse to the same stages', () => {
    const stagesOf = (text: string) =>
      parseLayout(str(text)).entries.map((e) => ({
        layers: [...e.text].filter((c) => c === 't').length,
        hasEmbedding: e.text.includes('E'),
        hasOutput: e.text.includes('L'),
      }));
    for (const text of ['E|(t|)*22L', 'Et*2|t*3|t*3|t*3|t*3|t*3|t*3|t*2||||||||L', 'Et*7|t*9|t*9|t*7L', 'Et|t|t|tL', 'EtL', 'E||tL']) {
      const back = formatLayout(stagesOf(text));
      expect(stagesOf(back), `${text} → ${back}`).toEqual(stagesOf(text));
    }
    expect(formatLayout(stagesOf('E|(t|)*22L'))).toBe('E|(t|)*22,L');
  });

  it('points at the offending character', () => {
    for (const [text, at] of [
      ['Et*8|tT', 6],
      ['Et*8| t', 5],
      ['Et*|t', 2],
      ['E(t|)|L', 4],
      ['E((t|)*2)*2', 2],
      ['E(t|', 1],
      ['Et)', 2],
    ] as const) {
      const d = parseLayout(str(text)).diagnostics;
      expect(
        d.map((x) => x.code),
        text,
      ).toEqual(['PP2043']);
      expect(d[0]!.span!.column, text).toBe(12 + at);
    }
  });
});

describe("every rank's peak under a layout", () => {
  it('the zero-bubble 1.5B (stages 2,3,3,3,3,3,3,2, 1F1B) holds 16, 21, 18, 15, 12, 9, 6, 2 layer-microbatches: stage 1 peaks', () => {
    const r = one(zb('layout = "Et*2|t*3|t*3|t*3|t*3|t*3|t*3|t*2L"'));
    const sizes = [2, 3, 3, 3, 3, 3, 3, 2];
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((rank) => megatronPeak(8, 1, 24, rank, () => sizes[rank]!))).toEqual([16, 21, 18, 15, 12, 9, 6, 2]);
    for (const d of r.memory.devices) expect(d.breakdown.activations, `rank ${d.stage}`).toBe(expected(r.plan, d.stage, sizes));
    const worst = r.memory.devices.reduce((a, d) => (d.totalBytes > a.totalBytes ? d : a));
    expect(worst.stage).toBe(1);
  });

  it('a layout with one stage per rank gives exactly what the same `stages` give', () => {
    const a = one(zb('layout = "Et*2|t*3|t*3|t*3|t*3|t*3|t*3|t*2L"'));
    const b = one(zb('stages = [0..1, 2..4, 5..7, 8..10, 11..13, 14..16, 17..19, 20..21]'));
    expect(a.memory.devices.map((d) => d.totalBytes)).toEqual(b.memory.devices.map((d) => d.totalBytes));
    expect(b.memory.devices.map((d, i) => layersInFlight(b.plan, b.plan.stages[i]!))).toEqual([16, 21, 18, 15, 12, 9, 6, 2]);
  });

  it('an even interleaved layout gives what schedule = interleaved with virtual gives (the interleave factor)', () => {
    const body = (k: string) => `plan p {
  model = llama3_8b  cluster = a100x8  mode = train  pipeline = 4  schedule = interleaved  ${k}
  batch { global = 16  micro = 1  seq = 2048 }
}
`;
    const a = one(body('layout = "Et*4|(t*4|)*6,t*4L"'));
    const b = one(body('virtual = 2'));
    expect(a.plan.virtual).toBe(2);
    expect(a.memory.devices.map((d) => d.breakdown.activations)).toEqual(b.memory.devices.map((d) => d.breakdown.activations));
  });

  it('uneven interleaved chunks peak where an independent walk of Megatron’s order says, on every rank', () => {
    // 8 ranks × 3 chunks, one layer per chunk, ranks 0 and 7 with an empty chunk (the paper's 1F1B-I).
    const r = one(zb('schedule = interleaved  layout = "E|(t|)*22L"'));
    const sizes = [0, ...Array<number>(22).fill(1), 0];
    for (const d of r.memory.devices) expect(d.breakdown.activations, `rank ${d.stage}`).toBe(expected(r.plan, d.stage, sizes));
  });

  it('uneven chunks can peak after the warm-up: a big first chunk refilled while the small last one drains', () => {
    const body = `plan p {
  model = llama3_8b  cluster = a100x8  mode = train  pipeline = 4  schedule = interleaved
  layout = "Et*3|t*4|t*4|t*5|(t*4|)*3,t*4L"
  batch { global = 16  micro = 1  seq = 2048 }
}
`;
    const r = one(body);
    const sizes = [3, 4, 4, 5, 4, 4, 4, 4];
    for (const d of r.memory.devices) expect(d.breakdown.activations, `rank ${d.stage}`).toBe(expected(r.plan, d.stage, sizes));
    // Rank 3 (chunks of 5 and 4 layers): its warm-up ends at 4 × 5 + 1 × 4 = 24 layer-microbatches, the peak is 5 × 5 = 25.
    expect(megatronWalk(4, 2, 16, 3, (c) => [5, 4][c]!).peak).toBe(25);
  });
});

describe('a layout plan that does not fit', () => {
  it('is sized and helped without an exception: fit probes keep interleaved microbatches a multiple of p', () => {
    // Fuzz seed 3205: a huge vocabulary; the fit help probed micro = 4 (36 microbatches, not a multiple of 8).
    const path = '/t/big.plan';
    const text = HEAD.replace('vocab = 32000  max_seq = 2048  dtype = fp16', 'vocab = 3202000  max_seq = 2048  dtype = fp16');
    const a = analyze([path], { host: memoryHost(new Map([[path, text + zb('schedule = interleaved  layout = "E|(t|)*22L"')]])) });
    const misfit = a.diagnostics.find((d) => d.code === 'PP4001');
    expect(misfit).toBeDefined();
    const micro = /micro = (\d+)/.exec(misfit!.help ?? '');
    if (micro) expect((144 / Number(micro[1])) % 8).toBe(0);
  });
});

describe('the rest of the pipeline follows the layout', () => {
  it('lowers each virtual stage to its own layers (empty ones too) and simulates without deadlock', () => {
    const r = one(zb('schedule = interleaved  layout = "E|(t|)*22L"'));
    const c = compilePlan(r.plan, r.memory);
    expect(c.simulation.deadlock).toBeUndefined();
    expect(c.simulation.problems).toEqual([]);
    const stages = c.graph.mesh.stages;
    expect(stages).toHaveLength(24);
    expect(stages[0]).toEqual({ index: 0, rank: 0, firstLayer: 0, lastLayer: -1 });
    expect(stages[1]).toEqual({ index: 1, rank: 1, firstLayer: 0, lastLayer: 0 });
    expect(stages[23]).toEqual({ index: 23, rank: 7, firstLayer: 22, lastLayer: 21 });
    // Rank 0 embeds on its empty chunk and runs layers 7 and 15 (chunks 8 and 16).
    const prog = Object.values(c.graph.programs).find((x) => x.stage === 0)!;
    const blocks = prog.phases['step']!.flatMap((s) => (s.op === 'block' ? [s.layers] : []));
    expect(new Set(blocks.map((l) => l.join('..')))).toEqual(new Set(['7..7', '15..15']));
  });

  it('the bubble: equal chunks as virtual = v, uneven ones more', () => {
    const body = (k: string) => `plan p {
  model = llama3_8b  cluster = a100x8  mode = train  pipeline = 4  schedule = interleaved  ${k}
  batch { global = 16  micro = 1  seq = 2048 }
}
`;
    const bubble = (k: string) => one(body(k)).cost.train as { bubbleSeconds: number; stepSeconds: number };
    const even = bubble('layout = "Et*4|(t*4|)*6,t*4L"');
    expect(even.bubbleSeconds).toBeCloseTo(bubble('virtual = 2').bubbleSeconds, 12);
    const uneven = bubble('layout = "Et*2|t*2|t*2|t*2|(t*6|)*3,t*6L"');
    expect(uneven.bubbleSeconds).toBeGreaterThan(even.bubbleSeconds * 1.2);
  });

  it("an uneven layout's step is the simulated one: the cost model times the schedule with each chunk's own share", () => {
    // The closed form ((p − 1) slots at the biggest chunk's pace) was 0.92–1.07 × the simulation on these;
    // chunks sharing their rank's time equally (not by FLOPs: E's none, L's the output layer) 0.98–1.14 ×.
    const llama = (layout: string) => `plan p {
  model = llama3_8b  cluster = a100x8  mode = train  pipeline = 4  schedule = interleaved  layout = "${layout}"
  batch { global = 16  micro = 1  seq = 2048 }
}
`;
    for (const text of [
      zb('schedule = interleaved  layout = "E|(t|)*22L"'),
      llama('Et*2|t*2|t*2|t*2|(t*6|)*3,t*6L'),
      llama('Et*3|t*4|t*4|t*5|(t*4|)*3,t*4L'),
      llama('E|t*5|t*5|t*5|t*5|t*5|t*5|t*2L'),
    ]) {
      const r = one(text);
      const simulated = compilePlan(r.plan, r.memory).simulation.makespan;
      expect(Math.abs(simulated / r.cost!.train!.stepSeconds! - 1), text).toBeLessThan(0.01);
    }
  });

  it('exports: Megatron writes the layout back, torchtitan cuts at every virtual stage, DeepSpeed refuses uneven stages', () => {
    const r = one(zb('schedule = interleaved  layout = "Et*2|t*3|t*3|t*3|t*3|t*3|t*3|t*2|(|)*7,L"'.replace('(|)*7,', '|||||||')));
    const meg = exportPlan('megatron', r.plan);
    expect(meg.files[0]!.text).toContain("--pipeline-model-parallel-layout 'Et*2|(t*3|)*6,t*2|(|)*7,L'");
    expect(meg.files[0]!.text).not.toContain('--num-virtual-stages-per-pipeline-rank');
    // torchtitan v0.2.2 takes one module list per virtual stage: an empty stage has no module to hold.
    expect(exportPlan('torchtitan', r.plan).diagnostics.map((d) => d.code)).toContain('PP8002');
    const u = one(`plan p {
  model = llama3_8b  cluster = a100x8  mode = train  pipeline = 4  data = 2  schedule = interleaved  zero = 1
  layout = "Et*3|t*4|t*4|t*5|(t*4|)*3,t*4L"
  batch { global = 16  micro = 1  seq = 2048 }
}
`);
    const tt = exportPlan('torchtitan', u.plan);
    expect(tt.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const toml = tt.files.find((f) => f.name.endsWith('.toml'))!.text;
    // module_fqns_per_model_part: the layout's virtual stages in order, each with its own layers.
    const chunks = u.plan.stages.flatMap((st) => st.chunks!).sort((a, b) => a.index - b.index);
    const lists = chunks.map((ch) =>
      [
        ...(ch.hasEmbedding ? ['tok_embeddings'] : []),
        ...Array.from({ length: ch.layers }, (_, i) => `layers.${ch.firstLayer + i}`),
        ...(ch.hasOutput ? ['norm', 'output'] : []),
      ]
        .map((m) => `"${m}"`)
        .join(', '),
    );
    expect(toml).toContain(`module_fqns_per_model_part = [\n${lists.map((l) => `  [${l}],`).join('\n')}\n]`);
    expect(toml).not.toContain('split_points');
    const ds = exportPlan('deepspeed', one(zb('layout = "Et*2|t*3|t*3|t*3|t*3|t*3|t*3|t*2L"')).plan);
    expect(ds.diagnostics.find((d) => d.code === 'PP8002')?.message).toContain('uneven stages');
  });

  it('torchtitan: every virtual stage is a module list (0.2.x has no split points; layers_per_stage would count embedding and output as layers)', () => {
    const toml = (keys: string) =>
      exportPlan(
        'torchtitan',
        one(`plan p {
  model = tiny22  cluster = a100x8  mode = train  pipeline = 4  data = 2  schedule = interleaved  zero = 1  ${keys}
  batch { global = 16  micro = 1  seq = 2048 }
}
`).plan,
      ).files.find((f) => f.name.endsWith('.toml'))!.text;
    const layout = toml('layout = "Et*2|(t*3|)*6,t*2L"');
    expect(layout).toContain('["tok_embeddings", "layers.0", "layers.1"],\n  ["layers.2", "layers.3", "layers.4"],');
    expect(layout).toContain('["layers.20", "layers.21", "norm", "output"],\n]');
    expect(layout).not.toContain('layers_per_stage');
    // Equal chunks (virtual = 2, 32 layers): 8 lists of 4 layers.
    const even = exportPlan(
      'torchtitan',
      one(`plan p {
  model = llama3_8b  cluster = a100x8  mode = train  pipeline = 4  data = 2  schedule = interleaved  virtual = 2  zero = 1
  batch { global = 16  micro = 1  seq = 2048 }
}
`).plan,
    ).files.find((f) => f.name.endsWith('.toml'))!.text;
    expect(even).toContain('["layers.4", "layers.5", "layers.6", "layers.7"],');
    expect(even).not.toContain('split_points');
    expect(even).not.toContain('layers_per_stage');
  });

  it('fmt keeps the layout, and a pinned plan writes it back so it checks to the same plan', () => {
    const text = HEAD + zb('schedule = interleaved  layout = "E|(t|)*22L"');
    const f = formatPlanText(text, 'x.plan');
    expect(f.diagnostics).toEqual([]);
    expect(f.text).toMatch(/layout +=\s+"E\|\(t\|\)\*22L"/);
    expect(formatPlanText(f.text, 'x.plan').text).toBe(f.text);
    const r = one(zb('schedule = interleaved  layout = "E|(t|)*22L"'));
    const pinned = renderPlan('p', pinnedSettings(r.plan));
    expect(pinned).toContain('layout');
    expect(pinned).not.toContain('virtual');
    const again = one(pinned);
    expect(comparable(again.plan)).toBe(comparable(r.plan));
  });
});

/**
 * The rank's activations from the independent walk: each chunk's forward holds its layers ×
 * the per-layer bytes (+ 8sb + sbh on the chunk with E) until its backward; plus the output
 * terms (4sbh + fp32 logits, one microbatch) on the rank with L. fp16, t = 1, no SP.
 */
function expected(plan: TrainPlan, rank: number, sizes: readonly number[]): number {
  const p = plan.mesh.pipeline;
  const { seq: s, micro: b } = plan.batch;
  const h = plan.model.hidden;
  const perLayer = trainLayerActivationBytes(plan);
  const embed = 8 * s * b + s * b * h;
  // The last virtual stage holds the loss's tensors (final-norm and output-layer inputs, fp32 logits)
  // from its forward to its backward, as autograd keeps them: a weight of the walk like the layers'.
  const loss = 4 * s * b * h + 4 * s * b * plan.derived.vocabPadded;
  const last = p * plan.virtual - 1;
  const weight = (c: number): number =>
    sizes[c * p + rank]! * perLayer + (c * p + rank === 0 ? embed : 0) + (c * p + rank === last ? loss : 0);
  return Math.ceil(megatronWalk(p, plan.virtual, plan.microbatches, rank, weight).peak);
}

/** Peak layer-microbatches of one rank (weights: layers per chunk of that rank). */
function megatronPeak(p: number, v: number, m: number, rank: number, layers: (chunk: number) => number): number {
  return megatronWalk(p, v, m, rank, layers).peak;
}

/**
 * Megatron's order on one rank, written from schedules.py's description: warm-up forwards,
 * then forward + backward pairs, then the remaining backwards; the weighted peak and the
 * per-chunk counts there.
 */
function megatronWalk(p: number, v: number, m: number, rank: number, weight: (chunk: number) => number): { peak: number; held: number[] } {
  const total = m * v;
  const warmup = v === 1 ? Math.min(m, p - rank - 1) : Math.min(total, 2 * (p - rank - 1) + (v - 1) * p);
  const fChunk = (k: number) => (v === 1 ? 0 : Math.floor((k % (p * v)) / p));
  const bChunk = (k: number) => (v === 1 ? 0 : v - 1 - Math.floor((k % (p * v)) / p));
  const held = Array<number>(v).fill(0);
  let now = 0;
  let peak = 0;
  let atPeak = [...held];
  const fwd = (k: number) => {
    const c = fChunk(k);
    held[c]!++;
    now += weight(c);
    if (now > peak) {
      peak = now;
      atPeak = [...held];
    }
  };
  const bwd = (k: number) => {
    const c = bChunk(k);
    held[c]!--;
    now -= weight(c);
  };
  for (let k = 0; k < warmup; k++) fwd(k);
  for (let k = 0; k < total - warmup; k++) {
    fwd(k + warmup);
    bwd(k);
  }
  return { peak, held: atPeak };
}
