/**
 * `parplan report`: the HTML is read back through its data attributes (memory bars,
 * Gantt bars, mesh cells) and compared with the memory plan and the simulation it was
 * drawn from. No browser here (scripts/screenshot-report.ts is the browser check).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyze, type Analysis } from '../../src/analyze.js';
import { memoryIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';
import { compilePlan, type Compiled } from '../../src/compile.js';
import { compactRanks, groupDevices } from '../../src/render/common.js';
import type { SimEvent } from '../../src/graph/simulate.js';
import { CATEGORIES } from '../../src/memory/types.js';
import { bubbleStats, unionLength } from '../../src/report/gantt.js';
import { renderReport } from '../../src/report/html.js';
import { niceTicks } from '../../src/report/svg.js';

interface Built {
  analysis: Analysis;
  compiled: Compiled[];
  html: string;
}

function build(file: string): Built {
  const analysis = analyze([file]);
  const compiled = analysis.results.map((r) => compilePlan(r.plan, r.memory));
  return { analysis, compiled, html: renderReport({ analysis, compiled }) };
}

/** The attributes of an opening tag. */
function attrsOf(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w:-]+)="([^"]*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

/** Every `<name …>` opening tag with the attribute `attr`, as attribute maps. */
function tags(html: string, name: string, attr?: string): Record<string, string>[] {
  const re = new RegExp(`<${name}\\s[^>]*>`, 'g');
  return [...html.matchAll(re)].map((m) => attrsOf(m[0])).filter((a) => attr === undefined || attr in a);
}

/** The HTML of one plan's section. */
function section(html: string, plan: string): string {
  const start = html.indexOf(`<section class="card plan" id="plan-${plan}"`);
  expect(start, `section of ${plan}`).toBeGreaterThanOrEqual(0);
  const end = html.indexOf('</section>', start);
  return html.slice(start, end);
}

/** The `<svg …>…</svg>` with data-view = view. */
function chart(html: string, view: string): string {
  const start = html.indexOf(`data-view="${view}"`);
  expect(start, `chart ${view}`).toBeGreaterThanOrEqual(0);
  const open = html.lastIndexOf('<svg', start);
  return html.slice(open, html.indexOf('</svg>', start) + 6);
}

/** Each memory bar group: its attributes and its category rects. */
function memoryBars(html: string): { attrs: Record<string, string>; rects: Record<string, string>[] }[] {
  return [...html.matchAll(/<g class="bar[^"]*"[^>]*>([\s\S]*?)<\/g>/g)].map((m) => ({
    attrs: attrsOf(m[0].slice(0, m[0].indexOf('>') + 1)),
    rects: tags(m[1]!, 'rect', 'data-category'),
  }));
}

/** Idle fraction computed here, independently: a sweep over the sorted busy intervals. */
function idleFraction(events: readonly SimEvent[], makespan: number): number {
  const busy = events.filter((e) => e.kind !== 'wait').map((e) => [Math.max(0, e.start), Math.min(makespan, e.end)] as [number, number]);
  busy.sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let reach = 0;
  for (const [a, b] of busy) {
    if (b <= reach) continue;
    covered += b - Math.max(a, reach);
    reach = b;
  }
  return (makespan - covered) / makespan;
}

const LLAMA = build('examples/llama3-8b-h100.plan');
const GPT3 = build('examples/gpt3-175b-a100-train.plan');
const SERVE = build('examples/llama2-70b-a100-serve.plan');

describe('a self-contained page', () => {
  for (const [name, b] of [
    ['llama3-8b-h100', LLAMA],
    ['gpt3-175b', GPT3],
    ['llama2-70b-serve', SERVE],
  ] as const) {
    it(`${name}: no network references, no scripts, well-formed start and end`, () => {
      expect(b.html.startsWith('<!doctype html>')).toBe(true);
      expect(b.html.trimEnd().endsWith('</html>')).toBe(true);
      for (const bad of ['http://', 'https://', '<script', '<link', 'url(http', ' src=', '@import', '<img', '<iframe'])
        expect(b.html).not.toContain(bad);
      // Every url(…) points into the page.
      for (const m of b.html.matchAll(/url\(([^)]*)\)/g)) expect(m[1]!.startsWith('#')).toBe(true);
      // Every plan has its section.
      for (const r of b.analysis.results) section(b.html, r.plan.name);
    });
  }
});

describe('memory bars', () => {
  for (const [name, b] of [
    ['llama3-8b-h100', LLAMA],
    ['gpt3-175b', GPT3],
    ['llama2-70b-serve', SERVE],
  ] as const) {
    it(`${name}: one bar per distinct device kind, every category, heights proportional to bytes`, () => {
      for (const r of b.analysis.results) {
        const html = section(b.html, r.plan.name);
        const groups = groupDevices(r.memory.devices);
        const bars = memoryBars(html);
        expect(bars).toHaveLength(groups.length);
        // One scale for the whole chart: from the tallest rect.
        const all = bars.flatMap((x) => x.rects);
        const tallest = all.reduce((m, a) => (Number(a['data-bytes']) > Number(m['data-bytes']) ? a : m));
        const k = Number(tallest['height']) / Number(tallest['data-bytes']);
        bars.forEach((bar, i) => {
          const g = groups[i]!;
          expect(bar.attrs['data-ranks']).toBe(compactRanks(g.ranks));
          expect(bar.attrs['data-stage']).toBe(String(g.device.stage));
          expect(bar.rects.map((x) => x['data-category'])).toEqual([...CATEGORIES]);
          for (const rect of bar.rects) {
            const bytes = g.device.breakdown[rect['data-category'] as (typeof CATEGORIES)[number]];
            expect(Number(rect['data-bytes'])).toBe(bytes);
            expect(Math.abs(Number(rect['height']) - bytes * k)).toBeLessThanOrEqual(0.011);
          }
          // Stacked: each segment starts where the one below ends.
          for (let j = 1; j < bar.rects.length; j++) {
            const below = bar.rects[j - 1]!;
            expect(Math.abs(Number(bar.rects[j]!['y']) + Number(bar.rects[j]!['height']) - Number(below['y']))).toBeLessThanOrEqual(0.02);
          }
        });
        const usable = tags(html, 'line', 'data-marker').filter((a) => a['data-marker'] === 'usable');
        expect(usable.length).toBeGreaterThan(0);
        expect(Number(usable[0]!['data-bytes'])).toBe(r.memory.devices[0]!.usableBytes);
        expect(tags(html, 'line', 'data-marker').some((a) => a['data-marker'] === 'capacity')).toBe(true);
        // A plan that fits has no red outline.
        expect(html.includes('data-over="true"')).toBe(!r.fits);
      }
    });
  }

  it('a plan over its usable memory: red outline, "does not fit", the diagnostic, exit 1 but a report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parplan-report-'));
    try {
      const out = join(dir, 'misfit.html');
      const io = memoryIo({ NO_COLOR: '1' });
      const code = await runCli(['report', 'examples/misfit/llama2-70b-one-a100.plan', '-o', out], io);
      expect(code).toBe(1);
      const html = readFileSync(out, 'utf8');
      expect(html).toContain('data-over="true"');
      expect(html).toContain('does not fit');
      expect(html).toContain('data-code="PP4001"');
      expect(io.err()).toContain('PP4001');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Gantt chart', () => {
  it('train_8b (1F1B, exact): one rect per simulated event, every schedule action drawn', () => {
    const i = LLAMA.analysis.results.findIndex((r) => r.plan.name === 'train_8b');
    const sim = LLAMA.compiled[i]!.simulation;
    const svg = chart(section(LLAMA.html, 'train_8b'), 'overview');
    expect(svg).toContain('data-aggregated="false"');
    const rows = [...svg.matchAll(/<g class="row" data-sim-rank="(\d+)"[^>]*>([\s\S]*?)<\/g>/g)];
    expect(rows.map((m) => Number(m[1]))).toEqual(sim.ranks.map((t) => t.rank));
    for (const [, rank, body] of rows) {
      const trace = sim.ranks.find((t) => t.rank === Number(rank))!;
      const bars = tags(body!, 'rect', 'data-kind');
      expect(bars).toHaveLength(trace.events.length);
      expect(new Set(bars.flatMap((a) => (a['data-action'] ? [a['data-action']] : [])))).toEqual(new Set(trace.actions));
      for (const a of bars) expect(['F', 'B', 'comm', 'wait']).toContain(a['data-kind']);
      // Forward actions are F, backward ones B.
      for (const a of bars)
        if (a['data-action'] && a['data-kind'] !== 'wait' && a['data-kind'] !== 'comm')
          expect(a['data-kind']).toBe(/F/.test(a['data-action']) ? 'F' : 'B');
    }
    expect(svg).toMatch(/data-kind="F"/);
    expect(svg).toMatch(/data-kind="B"/);
  });

  it('1F1B has bubbles: idle fraction > 0, per row and overall equal to the events', () => {
    for (const [b, name] of [
      [LLAMA, 'train_8b'],
      [GPT3, 'gpt3_175b_megatron'],
    ] as const) {
      const i = b.analysis.results.findIndex((r) => r.plan.name === name);
      const sim = b.compiled[i]!.simulation;
      const html = section(b.html, name);
      const overall = Number(/data-bubble-overall="([\d.]+)"/.exec(html)![1]);
      const expected = sim.ranks.reduce((s, t) => s + idleFraction(t.events, sim.makespan), 0) / sim.ranks.length;
      expect(overall).toBeGreaterThan(0);
      expect(overall).toBeCloseTo(expected, 5);
      for (const t of sim.ranks) {
        const row = new RegExp(`data-sim-rank="${t.rank}"[^>]*data-bubble="([\\d.]+)"`).exec(html);
        expect(Number(row![1])).toBeCloseTo(idleFraction(t.events, sim.makespan), 5);
      }
      // The idle background is drawn under every row.
      expect((chart(html, 'overview').match(/class="idle"/g) ?? []).length).toBe(sim.ranks.length);
    }
  });

  it('dense schedules get zoomed views of the start and the end of the step', () => {
    const html = section(LLAMA.html, 'train_8b');
    expect(html).toContain('data-view="zoom-start"');
    expect(html).toContain('data-view="zoom-end"');
    // Labels with microbatch numbers in the zoom.
    expect(chart(html, 'zoom-start')).toMatch(/<text[^>]*class="bar-text[^"]*"[^>]*>0<\/text>/);
  });

  it('serving: prefill then decode per stage', () => {
    const r = SERVE.analysis.results[0]!;
    const sim = SERVE.compiled[0]!.simulation;
    const svg = chart(section(SERVE.html, r.plan.name), 'overview');
    const rows = [...svg.matchAll(/<g class="row" data-sim-rank="(\d+)"[^>]*>([\s\S]*?)<\/g>/g)];
    expect(rows).toHaveLength(sim.ranks.length);
    for (const [, , body] of rows) {
      const bars = tags(body!, 'rect', 'data-kind');
      const kinds = bars.map((a) => a['data-kind']);
      expect(kinds).toContain('prefill');
      expect(kinds).toContain('decode');
      const lastPrefill = Math.max(...bars.filter((a) => a['data-kind'] === 'prefill').map((a) => Number(a['x'])));
      const firstDecode = Math.min(...bars.filter((a) => a['data-kind'] === 'decode').map((a) => Number(a['x'])));
      expect(lastPrefill).toBeLessThanOrEqual(firstDecode);
    }
  });

  it('bubbleStats and unionLength', () => {
    expect(
      unionLength(
        [
          { start: 0, end: 2 },
          { start: 1, end: 3 },
          { start: 5, end: 6 },
        ],
        0,
        10,
      ),
    ).toBe(4);
    expect(
      unionLength(
        [
          { start: -1, end: 2 },
          { start: 9, end: 12 },
        ],
        0,
        10,
      ),
    ).toBe(3);
    const sim = {
      ok: true,
      makespan: 10,
      problems: [],
      ranks: [
        {
          rank: 0,
          memory: [],
          peakBytes: 0,
          planBytes: 0,
          actions: [],
          events: [
            { start: 0, end: 4, kind: 'compute' as const, label: 'a' },
            { start: 4, end: 8, kind: 'wait' as const, label: 'w' },
            { start: 8, end: 10, kind: 'comm' as const, label: 'c' },
          ],
        },
      ],
    };
    const s = bubbleStats(sim);
    expect(s.rows[0]).toMatchObject({ rank: 0, busy: 6, idle: 4, fraction: 0.4 });
    expect(s.fraction).toBe(0.4);
  });
});

describe('device mesh', () => {
  it('one cell per device, labelled t/d, tensor groups outlined', () => {
    const r = LLAMA.analysis.results.find((x) => x.plan.name === 'train_8b')!;
    const html = section(LLAMA.html, 'train_8b');
    const cells = tags(html, 'rect', 'data-rank');
    expect(cells.map((c) => Number(c['data-rank'])).sort((a, b) => a - b)).toEqual(r.memory.devices.map((d) => d.rank));
    for (const c of cells) {
      const d = r.memory.devices[Number(c['data-rank'])]!;
      expect(c['data-stage']).toBe(String(d.stage));
      expect(html).toContain(`>t${d.tensorRank} d${d.dataRank}<`);
    }
    // 2 stages × 2 replicas tensor groups of 2.
    expect((html.match(/class="tgroup"/g) ?? []).length).toBe(4);
  });

  it('over 512 devices: one replica and a note', () => {
    const r = GPT3.analysis.results[0]!;
    const html = section(GPT3.html, r.plan.name);
    const cells = tags(html, 'rect', 'data-rank');
    expect(r.memory.devices).toHaveLength(768);
    expect(cells).toHaveLength(96);
    expect(cells.every((c) => c['data-data'] === '0')).toBe(true);
    expect(html).toContain('data-one-replica="true"');
  });
});

describe('bounded size', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parplan-report-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the 3072-GPU example: < 2 MB, aggregated Gantt with a note, one replica of the mesh', async () => {
    const out = join(dir, '1t.html');
    const io = memoryIo({ NO_COLOR: '1' });
    const code = await runCli(['report', 'examples/megatron-1t-a100-train.plan', '-o', out], io);
    expect(code).toBe(0);
    expect(io.out()).toContain(`wrote ${out}`);
    const html = readFileSync(out, 'utf8');
    expect(Buffer.byteLength(html)).toBeLessThan(2 * 1024 * 1024);
    const overview = chart(html, 'overview');
    expect(overview).toContain('data-aggregated="true"');
    expect(html).toContain('data-aggregated="true">Aggregated:');
    expect(tags(overview, 'rect', 'data-kind').length).toBeLessThanOrEqual(4000);
    expect(tags(html, 'rect', 'data-kind').length).toBeLessThanOrEqual(4000 + 2 * 1500);
    expect(tags(html, 'rect', 'data-rank')).toHaveLength(512);
    expect(memoryBars(html)).toHaveLength(64);
  });
});

describe('parplan report (command)', () => {
  it('writes report.html by default in the working directory; --plan picks one plan', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parplan-report-'));
    try {
      const io = memoryIo({ NO_COLOR: '1' }, dir);
      const code = await runCli(['report', join(process.cwd(), 'examples/llama3-8b-h100.plan'), '--plan', 'serve_8b'], io);
      expect(code).toBe(0);
      const file = join(dir, 'report.html');
      expect(io.out()).toContain(`wrote ${file}`);
      const html = readFileSync(file, 'utf8');
      expect(html).toContain('id="plan-serve_8b"');
      expect(html).not.toContain('id="plan-train_8b"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a plan with errors: the diagnostics in the report, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parplan-report-'));
    try {
      const out = join(dir, 'r.html');
      const io = memoryIo({ NO_COLOR: '1' });
      const code = await runCli(['report', 'examples/misfit/tensor-does-not-divide.plan', '-o', out], io);
      expect(code).toBe(1);
      const html = readFileSync(out, 'utf8');
      expect(html).toMatch(/<pre class="diag error" data-code="PP\d{4}">/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('usage and file errors: exit 2, nothing written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parplan-report-'));
    try {
      const out = join(dir, 'r.html');
      const io = memoryIo({ NO_COLOR: '1' });
      expect(await runCli(['report', 'examples/no-such.plan', '-o', out], io)).toBe(2);
      expect(existsSync(out)).toBe(false);
      expect(await runCli(['report', 'examples/llama3-8b-h100.plan', '--plan', 'nope', '-o', out], memoryIo())).toBe(2);
      expect(existsSync(out)).toBe(false);
      const none = memoryIo({ NO_COLOR: '1' });
      expect(await runCli(['report'], none)).toBe(2);
      expect(none.err()).toContain('usage: parplan report');
      const help = memoryIo();
      expect(await runCli(['report', '--help'], help)).toBe(0);
      expect(help.out()).toMatch(/^usage: parplan report /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('svg helpers', () => {
  it('niceTicks: round steps covering the range', () => {
    expect(niceTicks(0, 80, 4)).toEqual([0, 20, 40, 60, 80]);
    expect(niceTicks(0, 16, 8)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16]);
  });
});
