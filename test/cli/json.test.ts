import { describe, expect, it } from 'vitest';
import { renderJson, toJson } from '../../src/render/json.js';
import { InternalError } from '../../src/diagnostics/codes.js';
import { planCost } from '../../src/cost/index.js';
import { analysis, breakdown, diagnostic, planResult, pp3001, serveSource } from './fixtures.js';

describe('json', () => {
  it('has exactly the documented shape, in field order', () => {
    const src = serveSource();
    const report = JSON.parse(renderJson(analysis([planResult()], [pp3001(src)], [src])));
    expect(Object.keys(report)).toEqual(['ok', 'plans', 'diagnostics']);
    const plan = report.plans[0];
    expect(Object.keys(plan)).toEqual(['name', 'file', 'mode', 'fits', 'model', 'mesh', 'devices', 'hosts', 'cost']);
    expect(plan).toMatchObject({
      name: 'serve_8b',
      file: 'examples/serve.plan',
      mode: 'serve',
      fits: true,
      model: { name: 'llama3_8b', params: 8030261248 },
      mesh: { tensor: 2, pipeline: 2, data: 2, gpus: 8 },
    });
    expect(Object.keys(plan.model)).toEqual(['name', 'params']);
    expect(Object.keys(plan.mesh)).toEqual(['tensor', 'pipeline', 'data', 'gpus']);
    const dev = plan.devices[0];
    expect(Object.keys(dev)).toEqual([
      'rank',
      'stage',
      'tensorRank',
      'dataRank',
      'gpu',
      'capacityBytes',
      'usableBytes',
      'totalBytes',
      'breakdown',
    ]);
    expect(Object.keys(dev.breakdown)).toEqual(['weights', 'gradients', 'optimizer', 'activations', 'kvCache', 'workspace']);
    expect(dev).toEqual({
      rank: 0,
      stage: 0,
      tensorRank: 0,
      dataRank: 0,
      gpu: 'H100_SXM_80GB',
      capacityBytes: 81559 * 1024 * 1024,
      usableBytes: Math.floor(81559 * 1024 * 1024 * 0.95),
      totalBytes: 36.75 * 1024 ** 3,
      breakdown: { weights: 3.75 * 1024 ** 3, gradients: 0, optimizer: 0, activations: 0, kvCache: 32 * 1024 ** 3, workspace: 1024 ** 3 },
    });
    expect(report.diagnostics).toEqual([
      {
        severity: 'error',
        code: 'PP3001',
        message: 'heads = 32 is not divisible by tensor = 3',
        file: 'examples/serve.plan',
        line: 11,
        column: 11,
        endLine: 11,
        endColumn: 12,
        help: 'tensor = 2 or 4 divides heads = 32',
      },
    ]);
    expect(report.ok).toBe(false);
  });

  it('lists every device in rank order with integer byte counts', () => {
    const r = planResult();
    r.memory.devices.reverse();
    const plan = toJson(analysis([r])).plans[0]!;
    expect(plan.devices.map((d) => d.rank)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(plan.devices.map((d) => [d.stage, d.tensorRank, d.dataRank])).toEqual([
      [0, 0, 0],
      [0, 1, 0],
      [1, 0, 0],
      [1, 1, 0],
      [0, 0, 1],
      [0, 1, 1],
      [1, 0, 1],
      [1, 1, 1],
    ]);
    for (const d of plan.devices) {
      for (const v of [d.capacityBytes, d.usableBytes, d.totalBytes, ...Object.values(d.breakdown)]) {
        expect(Number.isInteger(v)).toBe(true);
      }
    }
  });

  it('writes null for absent help and positions, and the file of a file-level diagnostic', () => {
    const d = diagnostic('PP6001', undefined, { path: 'x.plan', reason: 'permission denied' }, 'x.plan');
    const noFile = diagnostic('PP6003', undefined, { name: 'nope' });
    expect(toJson(analysis([], [d, noFile])).diagnostics).toEqual([
      {
        severity: 'error',
        code: 'PP6001',
        message: "cannot read 'x.plan': permission denied",
        file: 'x.plan',
        line: null,
        column: null,
        endLine: null,
        endColumn: null,
        help: null,
      },
      {
        severity: 'error',
        code: 'PP6003',
        message: "no plan named 'nope'",
        file: null,
        line: null,
        column: null,
        endLine: null,
        endColumn: null,
        help: null,
      },
    ]);
  });

  it('is ok only without errors and with every plan fitting', () => {
    const fits = planResult();
    const big = planResult({ name: 'big', stages: [breakdown({ weights: 90 })] });
    expect(toJson(analysis([fits])).ok).toBe(true);
    expect(toJson(analysis([fits, big])).ok).toBe(false);
    expect(toJson(analysis([fits, big])).plans.map((p) => p.fits)).toEqual([true, false]);
    const warning = diagnostic(
      'PP3010',
      undefined,
      { axes: 'tensor × pipeline × data', product: 6, idle: 2, gpus: 8 },
      'examples/serve.plan',
    );
    expect(toJson(analysis([fits], [warning])).ok).toBe(true);
  });

  it('gives each plan its cost: serve and train shapes, integer bytes, float seconds, null when unknown', () => {
    const serve = toJson(analysis([planResult()])).plans[0]!.cost;
    expect(Object.keys(serve)).toEqual(['known', 'reason', 'efficiency', 'hardware', 'train', 'serve']);
    expect(serve).toMatchObject({ known: true, reason: null, train: null, efficiency: { compute: 0.5, memory: 0.8, link: 0.8 } });
    expect(serve.hardware).toEqual({ tflops: 989, memoryBandwidthGBs: 3350, link: 'nvlink', linkBandwidthGBs: 450, networkGBs: 50 });
    expect(Object.keys(serve.serve!)).toEqual([
      'prefillTokens',
      'prefillChunks',
      'prefillSeconds',
      'decodeBatch',
      'averageContext',
      'decodeBound',
      'tpotSeconds',
      'decodeTokensPerSecond',
      'batch1TpotSeconds',
      'batch1TokensPerSecond',
      'batchingGain',
      'stages',
    ]);
    expect(Object.keys(serve.serve!.stages[0]!)).toEqual([
      'stage',
      'prefillFlops',
      'prefillBytes',
      'prefillSeconds',
      'decodeFlops',
      'decodeBytes',
      'decodeSeconds',
      'decodeBound',
      'bytesByLink',
      'traffic',
    ]);
    expect(serve.serve!.stages[0]!.traffic.map((t) => [t.group, t.link])).toEqual([
      ['tensor', 'nvlink'],
      ['pipeline', 'nvlink'],
    ]);
    expect(Object.keys(serve.serve!.stages[0]!.traffic[0]!)).toEqual(['group', 'link', 'bytes', 'ops', 'seconds']);

    const train = toJson(analysis([planResult({ mode: 'train' })])).plans[0]!.cost;
    expect(train.serve).toBeNull();
    expect(Object.keys(train.train!)).toEqual([
      'microbatches',
      'tokensPerStep',
      'bubbleFraction',
      'modelFlopsPerStep',
      'slowestStage',
      'stepSeconds',
      'computeSeconds',
      'commSeconds',
      'bubbleSeconds',
      'tokensPerSecond',
      'tflopsPerGpu',
      'mfu',
      'stages',
    ]);
    const st = train.train!.stages[0]!;
    expect(Object.keys(st)).toEqual(['stage', 'flops', 'computeSeconds', 'commSeconds', 'microbatchSeconds', 'bytesByLink', 'traffic']);
    expect(Object.keys(st.bytesByLink)).toEqual(['nvlink', 'pcie', 'infinityFabric', 'network']);
    for (const s of train.train!.stages) {
      for (const b of [...Object.values(s.bytesByLink), ...s.traffic.map((t) => t.bytes)]) expect(Number.isSafeInteger(b)).toBe(true);
    }
    expect(train.train!.stepSeconds).toBeGreaterThan(0);

    const r = planResult();
    r.plan.cluster = { ...r.plan.cluster, gpu: { ...r.plan.cluster.gpu, id: 'X', tflops16: 0, memoryBandwidthGBs: 0 } };
    r.cost = planCost(r.plan, r.memory);
    const unknown = toJson(analysis([r])).plans[0]!.cost;
    expect(unknown.known).toBe(false);
    expect(unknown.reason).toMatch(/GPU 'X' has no throughput/);
    expect(unknown.serve!.tpotSeconds).toBeNull();
    expect(JSON.parse(renderJson(analysis([r]))).plans[0].cost.serve.prefillSeconds).toBeNull();
  });

  it('ends with a newline and refuses non-integer byte counts (a memory-model bug)', () => {
    const r = planResult();
    expect(renderJson(analysis([r])).endsWith('}\n')).toBe(true);
    r.memory.devices[3]!.breakdown.activations = 1.5;
    expect(() => toJson(analysis([r]))).toThrow(InternalError);
  });
});
