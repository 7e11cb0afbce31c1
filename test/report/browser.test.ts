/**
 * Every example's HTML report in a real browser (issue 13, item 14): no console or page
 * error, no request leaves the page (it must be self-contained), and the pictures are
 * there. One full-page screenshot per example is kept under artifacts/report-screenshots/
 * (CI keeps that folder as an artifact). Needs /usr/bin/chromium: `npm test` installs it
 * (scripts/setup-tests.sh).
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';
import { openBrowser, type Browser } from './browser.js';

const ROOT = join(import.meta.dirname, '../..');
export const SCREENSHOTS = join(ROOT, 'artifacts/report-screenshots');

/** Example files, and whether they hold a training plan (then the page has a Gantt chart). */
const EXAMPLES: [string, boolean][] = [
  ['examples/gpt2-t4-serve.plan', false],
  ['examples/gpt3-175b-a100-train.plan', true],
  ['examples/llama2-70b-a100-serve.plan', false],
  ['examples/llama2-70b-h100-train.plan', true],
  ['examples/llama2-70b-mi300x-serve.plan', false],
  ['examples/llama2-7b-a10g-serve.plan', false],
  ['examples/llama3-8b-h100.plan', true],
  ['examples/llama3-8b-l4-tp2-serve.plan', false],
  ['examples/megatron-1t-a100-train.plan', true],
  ['examples/tinyllama-4090-train.plan', true],
  ['examples/mixtral-8x7b-h100-serve.plan', false],
  ['examples/deepseek-v3-h100-train.plan', true],
  ['examples/misfit/llama2-7b-full-finetune-a100-40gb.plan', true],
  ['examples/llama3-8b-h100-traffic-serve.plan', false],
  ['examples/misfit/llama3-8b-h100-slo.plan', false],
];
/** Serving plans with traffic: the page has the latency charts. */
const TRAFFIC = new Set(['examples/llama3-8b-h100-traffic-serve.plan', 'examples/misfit/llama3-8b-h100-slo.plan']);

let browser: Browser;
let work: string;
beforeAll(async () => {
  browser = await openBrowser();
  work = mkdtempSync(join(tmpdir(), 'parplan-report-'));
  mkdirSync(SCREENSHOTS, { recursive: true });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the HTML report in Chromium', () => {
  for (const [file, training] of EXAMPLES) {
    it(`${file}: no errors, no requests, memory bars, mesh${training ? ', Gantt chart' : ''}${TRAFFIC.has(file) ? ', latency charts' : ''}`, async () => {
      const name = basename(file, '.plan');
      const html = join(work, `${name}.html`);
      const io = memoryIo({ NO_COLOR: '1' });
      const code = await runCli(['report', join(ROOT, file), '-o', html], io);
      expect(code, io.err()).toBe(file.includes('/misfit/') ? 1 : 0);
      const png = join(SCREENSHOTS, `${name}.png`);
      const page = await browser.check(html, png);
      expect(page.problems).toEqual([]);
      expect(page.counts.memoryBars).toBeGreaterThan(0);
      expect(page.counts.meshCells).toBeGreaterThan(0);
      if (training) expect(page.counts.ganttBars).toBeGreaterThan(0);
      // 3 charts × p50 and p99 × at least the 12 sweep rates.
      if (TRAFFIC.has(file)) expect(page.counts.latencyPoints).toBeGreaterThanOrEqual(72);
      expect(statSync(png).size).toBeGreaterThan(10_000);
    });
  }
});
