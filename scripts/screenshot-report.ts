/**
 * Renders `parplan report` for a plan and screenshots it in headless Chromium: the page a
 * browser actually shows. CI runs the same check for every example in
 * test/report/browser.test.ts (screenshots under artifacts/report-screenshots/).
 *
 *   node --import tsx scripts/screenshot-report.ts [FILE.plan] [--plan NAME] [-o report.png]
 *        [--html report.html] [--width 1240] [--chromium /usr/bin/chromium]
 *
 * Defaults: examples/llama3-8b-h100.plan, report.png, Debian's /usr/bin/chromium
 * (`apt-get install chromium`; playwright-core never downloads a browser here).
 * Fails (exit 1) on a console error, a page error, any request that is not a local
 * file (the report must be self-contained), or a page without memory bars
 * (`[data-category]`) or mesh cells (`[data-rank]`).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { memoryIo } from '../src/cli/io.js';
import { runCli } from '../src/cli/run.js';
import { CHROMIUM, openBrowser } from '../test/report/browser.js';

interface Options {
  plan: string;
  name?: string;
  png: string;
  html?: string;
  width: number;
  chromium: string;
}

function parse(argv: string[]): Options {
  const o: Options = { plan: 'examples/llama3-8b-h100.plan', png: 'report.png', width: 1240, chromium: CHROMIUM };
  let planSet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '-o' || a === '--output') o.png = value();
    else if (a === '--plan') o.name = value();
    else if (a === '--html') o.html = value();
    else if (a === '--width') o.width = Number(value());
    else if (a === '--chromium') o.chromium = value();
    else if (a === '-h' || a === '--help') {
      console.log(
        'usage: node --import tsx scripts/screenshot-report.ts [FILE.plan] [--plan NAME] [-o report.png] [--html report.html] [--width 1240] [--chromium PATH]',
      );
      process.exit(0);
    } else if (!a.startsWith('-') && !planSet) {
      o.plan = a;
      planSet = true;
    } else throw new Error(`unknown argument '${a}'`);
  }
  return o;
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  const work = mkdtempSync(join(tmpdir(), 'parplan-shot-'));
  try {
    const html = resolve(o.html ?? join(work, 'report.html'));
    const io = memoryIo({ NO_COLOR: '1' });
    const code = await runCli(['report', o.plan, ...(o.name ? ['--plan', o.name] : []), '-o', html], io);
    process.stderr.write(io.err());
    process.stdout.write(io.out());
    if (code !== 0 && code !== 1) {
      console.error(`parplan report exited ${code}`);
      return 1;
    }
    const browser = await openBrowser(o.chromium);
    const { counts, problems } = await browser.check(html, o.png, o.width).finally(() => browser.close());
    console.log(`page: ${counts.memoryBars} memory-bar segments, ${counts.ganttBars} Gantt bars, ${counts.meshCells} mesh cells`);
    if (counts.memoryBars === 0) problems.push('no memory bars ([data-category])');
    if (counts.meshCells === 0) problems.push('no mesh ([data-rank])');
    console.log(`wrote ${resolve(o.png)} (${Math.round(statSync(o.png).size / 1024)} KiB)`);
    for (const p of problems) console.error(`error: ${p}`);
    return problems.length > 0 ? 1 : 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  },
);
