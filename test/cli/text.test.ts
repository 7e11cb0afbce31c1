import { describe, expect, it } from 'vitest';
import { compactRanks, groupDevices, summaryLine } from '../../src/render/common.js';
import { makeStyle, shouldColor, stripAnsi } from '../../src/render/style.js';
import { MAX_WIDTH, costLines, deviceTable, renderDiagnostic, renderText } from '../../src/render/text.js';
import { planCost } from '../../src/cost/index.js';
import { diag, type Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { SourceFile } from '../../src/source.js';
import { GiB, analysis, breakdown, diagnostic, planResult, pp3001, serveSource, spanOf } from './fixtures.js';

const plain = makeStyle(false);

/** `d` rendered without colour, with `sources` known. */
function render(d: Diagnostic, ...sources: SourceFile[]): string {
  return renderDiagnostic(d, new Map(sources.map((s) => [s.path, s])), plain);
}

/** Rendered lines, each ended by a newline. */
const lines = (...ls: string[]) => [...ls, ''].join('\n');

/** pp3001(serveSource()) rendered: a two-digit line, the gutter widened. */
const SERVE_PP3001 = [
  'error[PP3001]: heads = 32 is not divisible by tensor = 3',
  '  --> examples/serve.plan:11:11',
  '   |',
  '11 |     tensor = 3',
  '   |              ^',
  '   = help: tensor = 2 or 4 divides heads = 32',
];

describe('text: diagnostics', () => {
  it('renders a diagnostic rustc-style with the caret under the span', () => {
    const src = new SourceFile('examples/x.plan', 'plan p {\n  heads = 32\n  tensor = 3\n}\n');
    const at = spanOf(src, 'tensor = 3').start + 'tensor = '.length;
    const d = diag('PP3001', src.span(at, at + 1), { heads: 32, tensor: 3 }, { help: 'tensor = 2 or 4 divides heads = 32' });
    expect(render(d, src)).toBe(
      lines(
        'error[PP3001]: heads = 32 is not divisible by tensor = 3',
        ' --> examples/x.plan:3:12',
        '  |',
        '3 |   tensor = 3',
        '  |            ^',
        '  = help: tensor = 2 or 4 divides heads = 32',
      ),
    );
  });

  it('widens the gutter for two-digit lines and expands tabs under the caret', () => {
    const src = serveSource();
    expect(render(pp3001(src), src)).toBe(lines(...SERVE_PP3001));
  });

  it('underlines the whole span, and a multi-line span to the end of its first line', () => {
    const src = new SourceFile('a.plan', 'model m {\n  arch = lama\n}\n');
    const word = diag('PP2009', spanOf(src, 'lama'), { value: 'lama', key: 'arch' }, { help: "did you mean 'llama'?" });
    expect(render(word, src)).toContain('2 |   arch = lama\n  |          ^^^^\n');
    const block = diag('PP2003', src.span(spanOf(src, 'm {').start, src.text.length - 1), { where: "model 'm'", key: 'layers' });
    expect(render(block, src)).toBe(
      lines("error[PP2003]: model 'm' is missing required key 'layers'", ' --> a.plan:1:7', '  |', '1 | model m {', '  |       ^^^'),
    );
  });

  it('prints related spans as note lines with their location', () => {
    const src = new SourceFile('a.plan', 'model m {}\nmodel m {}\n');
    const name = (n: number) => {
      const s = spanOf(src, 'm {', n);
      return src.span(s.start, s.start + 1);
    };
    const d = diag(
      'PP2005',
      name(2),
      { kind: 'model', name: 'm' },
      {
        related: [{ span: name(1), message: 'first declared here' }],
        help: 'rename one of them',
      },
    );
    expect(render(d, src)).toBe(
      lines(
        "error[PP2005]: model 'm' is declared twice",
        ' --> a.plan:2:7',
        '  |',
        '2 | model m {}',
        '  |       ^',
        '  = note: a.plan:1:7: first declared here',
        '  = help: rename one of them',
      ),
    );
  });

  it('renders a diagnostic without a span, and one whose source is unknown', () => {
    const noSpan = diagnostic('PP6001', undefined, { path: 'missing.plan', reason: 'no such file or directory' }, 'missing.plan');
    expect(render(noSpan)).toBe("error[PP6001]: cannot read 'missing.plan': no such file or directory\n --> missing.plan\n");
    const src = serveSource();
    expect(render(pp3001(src))).toBe(
      lines(
        'error[PP3001]: heads = 32 is not divisible by tensor = 3',
        '  --> examples/serve.plan:11:11',
        '   = help: tensor = 2 or 4 divides heads = 32',
      ),
    );
  });

  it('puts a caret at the end of a line for an empty span at end of file', () => {
    const src = new SourceFile('a.plan', 'model m {');
    const d = diag('PP1003', src.span(9, 9), { what: 'block' });
    expect(render(d, src)).toContain('1 | model m {\n  |          ^\n');
  });
});

describe('text: plans', () => {
  it('renders header, grouped device table, verdict, why lines and summary (snapshot)', () => {
    const src = serveSource();
    const out = renderText(analysis([planResult()], [pp3001(src)], [src]));
    expect(out).toBe(
      lines(
        ...SERVE_PP3001,
        '',
        'plan serve_8b: serve, model llama3_8b with 8.03B params',
        '  --> examples/serve.plan:1:1',
        '  mesh tensor 2 × pipeline 2 × data 2 = 8 GPUs, H100_SXM_80GB (79.65 GiB each)',
        '',
        '  memory per GPU, GiB:',
        '  ranks    stage  weights  grads  optim  activ  kv cache  workspace  total  usable      headroom',
        '  0-1,4-5      0     3.75   0.00   0.00   0.00     32.00       1.00  36.75   75.67  38.92  51.4%',
        '  2-3,6-7      1     4.25   0.00   0.00   0.00     32.00       1.00  37.25   75.67  38.42  50.8%',
        '',
        '  fits: tightest is rank 2, 37.25 GiB of 75.67 GiB usable (38.42 GiB headroom, 50.8%)',
        '  cost: prefill 8,192 tokens ≈ 147 ms; decode 64 seqs ≈ 10.0 ms/token (memory-bound)',
        '        12.8k tokens/s over 2 replicas; batch 1: 3.58 ms/token, 279 tokens/s',
        '  tightest device, rank 2 (stage 1):',
        '    weights      4.25 GiB = 4.02B params × 2 B (bf16)',
        '    gradients    0 (serve plans keep no gradients)',
        '    optimizer    0 (serve plans keep no optimizer state)',
        '    activations  0 (serve: activations are transient, counted in workspace)',
        '    kv cache     32.00 GiB = 2 (K and V) × 16 layers × 4 KV heads × 128 head_dim × 2 B × 64',
        '                   max_batch × 8192 seq, over tensor = 2 ranks; this line is long on purpose so that',
        '                   it wraps',
        '    workspace    1.00 GiB workspace, as given',
        '',
        '1 plan checked: 1 fits, 0 do not fit; 1 error, 0 warnings',
      ),
    );
  });

  it('says DOES NOT FIT with negative headroom for a plan over capacity', () => {
    const r = planResult({
      name: 'big',
      mesh: { tensor: 1, context: 1, pipeline: 1, data: 1 },
      stages: [breakdown({ weights: 60, kvCache: 30, workspace: 1 })],
    });
    const out = renderText(analysis([r]));
    expect(out).toContain('  mesh tensor 1 × pipeline 1 × data 1 = 1 GPU, H100_SXM_80GB (79.65 GiB each)\n');
    expect(out).toContain('  0          0    60.00   0.00   0.00   0.00     30.00       1.00  91.00   75.67  -15.33 -20.3%\n');
    expect(out).toContain(
      '  DOES NOT FIT: rank 0 needs 91.00 GiB of 75.67 GiB usable\n' +
        '  cost: prefill 8,192 tokens ≈ 267 ms; decode 64 seqs ≈ 18.4 ms/token (memory-bound)\n' +
        '        3,470 tokens/s; batch 1: 5.80 ms/token, 172 tokens/s\n' +
        '  worst device, rank 0 (stage 0):\n',
    );
    expect(out.endsWith('1 plan checked: 0 fit, 1 does not fit; 0 errors, 0 warnings\n')).toBe(true);
  });

  it('groups only identical devices (same stage and breakdown)', () => {
    const r = planResult();
    // Make rank 5 different from the rest of stage 0.
    const d5 = r.memory.devices.find((d) => d.rank === 5)!;
    d5.breakdown = { ...d5.breakdown, workspace: 2 * GiB };
    d5.totalBytes += GiB;
    const groups = groupDevices(r.memory.devices).map((g) => g.ranks);
    expect(groups).toEqual([[0, 1, 4], [2, 3, 6, 7], [5]]);
    const table = deviceTable(r.memory.devices);
    expect(table.map((l) => l.split(/\s+/)[0])).toEqual(['ranks', '0-1,4', '2-3,6-7', '5']);
  });

  it("does not repeat a category name that starts the memory model's why line", () => {
    const r = planResult({ mesh: { tensor: 1, context: 1, pipeline: 1, data: 1 }, stages: [breakdown({ weights: 1, kvCache: 2 })] });
    const d = r.memory.devices[0]!;
    d.why = { ...d.why, weights: 'weights: 1 GiB', kvCache: 'kvCache: 2 GiB' };
    const out = renderText(analysis([r]));
    expect(out).toContain('\n    weights      1 GiB\n');
    expect(out).toContain('\n    kv cache     2 GiB\n');
  });

  it('keeps every line within 100 columns for a large mesh with big numbers', () => {
    const r = planResult({
      mesh: { tensor: 8, context: 1, pipeline: 4, data: 128 },
      stages: [
        breakdown({ weights: 30, gradients: 30, optimizer: 60, activations: 125.25, workspace: 1 }),
        breakdown({ weights: 28, gradients: 28, optimizer: 56, activations: 99, workspace: 1 }),
      ],
      mode: 'train',
    });
    const out = renderText(analysis([r], [], []));
    for (const line of out.split('\n')) expect(line.length, line).toBeLessThanOrEqual(MAX_WIDTH);
    expect(out).toMatch(/\n {2}0-7,…,4064-4071 +0 /);
    expect(out).toContain('-170.58  -225%');
  });
});

describe('text: cost', () => {
  it('says the training step, its parts, tokens/s and MFU, then what the slowest stage sends', () => {
    const out = renderText(analysis([planResult({ mode: 'train', mesh: { tensor: 2, context: 1, pipeline: 2, data: 2 } })], [], []));
    expect(out).toMatch(
      /\n {2}cost: step ≈ [\d.]+ m?s \(compute [\d.]+ m?s, comm [\d.]+ [mµ]?s, bubble [\d.]+%\), [\d.,k]+ tokens\/s, MFU \d+%\n/,
    );
    expect(out).toMatch(/\n {8}stage 1 sends per step: tensor [\d.]+ [kMGT]B, pipeline [\d.]+ [kMGT]?B, data [\d.]+ [kMGT]B on nvlink\n/);
  });

  it('says unknown, with the reason, for a GPU without throughput', () => {
    const r = planResult({ mode: 'train' });
    r.plan.cluster = { ...r.plan.cluster, gpu: { ...r.plan.cluster.gpu, id: 'mystery', tflops16: 0 } };
    r.cost = planCost(r.plan, r.memory);
    expect(costLines(r.cost)).toEqual(["  cost: unknown: GPU 'mystery' has no throughput: give tflops in its gpu block"]);
  });

  it('wraps long cost lines within 100 columns, continuation aligned after "cost: "', () => {
    const r = planResult({ mode: 'train', mesh: { tensor: 8, context: 1, pipeline: 4, data: 128 } });
    r.plan.cluster = { ...r.plan.cluster, gpu: { ...r.plan.cluster.gpu, link: { kind: 'infinity-fabric', bandwidthGBs: 64 } } };
    r.cost = planCost(r.plan, r.memory);
    const lines = costLines(r.cost, 128);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(MAX_WIDTH);
    for (const l of lines.slice(1)) expect(l).toMatch(/^ {8}\S/);
  });
});

describe('text: compact ranks', () => {
  it('writes runs, then shortens long lists', () => {
    expect(compactRanks([0, 1, 4, 5])).toBe('0-1,4-5');
    expect(compactRanks([3])).toBe('3');
    expect(compactRanks([5, 0, 2, 1])).toBe('0-2,5');
    const many = Array.from({ length: 64 }, (_, i) => i * 4);
    expect(compactRanks(many, 16)).toBe('0,4,…,252');
    expect(compactRanks([0, 1, 1000, 1001, 2000, 2001, 3000, 3001], 30)).toBe('0-1,1000-1001,…,3000-3001');
    expect(compactRanks([0, 1, 1000, 1001, 2000, 2001, 3000, 3001], 15)).toBe('0-1,…,3000-3001');
    expect(compactRanks([0, 1, 1000, 1001, 2000, 2001, 3000, 3001], 12)).toBe('8 ranks');
  });
});

describe('text: colour', () => {
  it('is plain unless asked, and colours severity labels when asked', () => {
    const src = serveSource();
    const a = analysis([planResult()], [pp3001(src)], [src]);
    expect(renderText(a)).not.toMatch(/\u001b\[/);
    const coloured = renderText(a, { color: true });
    expect(coloured).toContain('\u001b[31merror[PP3001]\u001b[39m');
    expect(stripAnsi(coloured)).toBe(renderText(a));
  });

  it('decides colour from the TTY, NO_COLOR and FORCE_COLOR', () => {
    const tty = { isTTY: true };
    const pipe = { isTTY: false };
    expect(shouldColor(tty, {})).toBe(true);
    expect(shouldColor(pipe, {})).toBe(false);
    expect(shouldColor(tty, { NO_COLOR: '1' })).toBe(false);
    expect(shouldColor(tty, { NO_COLOR: '' })).toBe(true);
    expect(shouldColor(pipe, { FORCE_COLOR: '1' })).toBe(true);
    expect(shouldColor(pipe, { FORCE_COLOR: '' })).toBe(true);
    expect(shouldColor(tty, { FORCE_COLOR: '0' })).toBe(false);
    expect(shouldColor(tty, { FORCE_COLOR: 'false' })).toBe(false);
    expect(shouldColor(pipe, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(false);
    expect(shouldColor(tty, { TERM: 'dumb' })).toBe(false);
  });
});

describe('text: summary', () => {
  it('counts plans, fits, errors and warnings', () => {
    const src = serveSource();
    const warn = diag('PP3010', spanOf(src, 'tensor'), { axes: 'tensor × pipeline × data', product: 6, idle: 2, gpus: 8 });
    expect(summaryLine(analysis([planResult(), planResult({ name: 'b' })], [pp3001(src), warn, warn], [src]))).toBe(
      '2 plans checked: 2 fit, 0 do not fit; 1 error, 2 warnings',
    );
    expect(summaryLine(analysis([]))).toBe('0 plans checked: 0 fit, 0 do not fit; 0 errors, 0 warnings');
  });
});
