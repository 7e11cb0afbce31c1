/**
 * The HTML report as a browser shows it: headless Chromium (Debian's /usr/bin/chromium,
 * driven by playwright-core, which never downloads a browser) loads a report, and every
 * console error, page error and request that is not a local file (the report must be
 * self-contained) is a problem, as is a page without the pictures it must have.
 * Used by test/report/browser.test.ts and scripts/screenshot-report.ts.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export interface PageCheck {
  /** Counts of the elements the pictures are made of. */
  counts: { memoryBars: number; ganttBars: number; meshCells: number; latencyPoints: number };
  problems: string[];
}

export interface Browser {
  /** Load `html`, collect problems, screenshot the full page to `png` (when given). */
  check(html: string, png?: string, width?: number): Promise<PageCheck>;
  close(): Promise<void>;
}

export async function openBrowser(executablePath = CHROMIUM): Promise<Browser> {
  if (!existsSync(executablePath))
    throw new Error(`no Chromium at ${executablePath}: run 'bash scripts/setup-tests.sh' (as root) or 'apt-get install chromium'`);
  const profile = mkdtempSync(join(tmpdir(), 'parplan-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1240, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  let problems: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:') || url.startsWith('data:') || url === 'about:blank') return route.continue();
    problems.push(`request to ${url} (the report must be self-contained)`);
    return route.abort();
  });
  return {
    async check(html, png, width = 1240) {
      problems = [];
      const page = await context.newPage();
      try {
        await page.setViewportSize({ width, height: 900 });
        page.on('console', (m) => {
          if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
        });
        page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
        await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
        const counts = {
          memoryBars: await page.locator('[data-category]').count(),
          ganttBars: await page.locator('[data-kind]').count(),
          meshCells: await page.locator('[data-rank]').count(),
          latencyPoints: await page.locator('circle.lat-pt').count(),
        };
        if (png) await page.screenshot({ path: png, fullPage: true });
        return { counts, problems: [...problems] };
      } finally {
        await page.close();
      }
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
