/**
 * Golden files: every example plan, and every plan of test/export/fixtures (MoE, MLA, sliding
 * windows, rope scaling), exported to every engine whose mode it has. Each directory test/export/golden/<file>.<engine>/ holds the files and
 * `diagnostics.txt`. UPDATE=1 rewrites them (as test/cases does).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { ENGINES, exportPlan, type Engine } from '../../src/export/index.js';
import type { CheckedPlan } from '../../src/plan.js';
import { FIXTURES, show } from './helpers.js';

const GOLDEN = join(import.meta.dirname, 'golden');
const EXAMPLES = 'examples';
const MODE: Record<Engine, 'serve' | 'train'> = { vllm: 'serve', torchtitan: 'train', megatron: 'train', deepspeed: 'train' };

const examples = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.plan'))
  .sort();
const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.plan'))
  .sort();

/** The plans of a file, as `parplan export` checks them. */
function plansOf(file: string): CheckedPlan[] {
  return analyze([file]).results.map((r) => r.plan);
}

/** What a golden directory should hold: file name → text. */
function expected(file: string, engine: Engine): Map<string, string> | undefined {
  const plans = plansOf(file).filter((p) => p.mode === MODE[engine]);
  if (plans.length === 0) return undefined;
  const files = new Map<string, string>();
  const diagnostics: string[] = [];
  for (const plan of plans) {
    const out = exportPlan(engine, plan);
    diagnostics.push(...show(out.diagnostics).map((d) => `${plan.name}: ${d}`));
    for (const f of out.files) files.set(f.name, f.text);
  }
  files.set('diagnostics.txt', diagnostics.join('\n') + '\n');
  return files;
}

describe('export golden files', () => {
  it('cover every example and engine', () => expect(examples.length).toBeGreaterThanOrEqual(10));
  it('cover the fixtures of the newer model kinds', () => expect(fixtures.length).toBeGreaterThanOrEqual(6));
  const files = [...examples.map((f) => join(EXAMPLES, f)), ...fixtures.map((f) => join(FIXTURES, f))];
  for (const file of files) {
    const name = basename(file);
    for (const engine of ENGINES) {
      const dir = join(GOLDEN, `${name.replace(/\.plan$/, '')}.${engine}`);
      it(`${name} --to ${engine}`, () => {
        const want = expected(file, engine);
        if (want === undefined) {
          expect(existsSync(dir), `${dir} is stale`).toBe(false);
          return;
        }
        if (process.env.UPDATE || !existsSync(dir)) {
          rmSync(dir, { recursive: true, force: true });
          mkdirSync(dir, { recursive: true });
          for (const [name, text] of want) writeFileSync(join(dir, name), text);
        }
        expect(readdirSync(dir).sort()).toEqual([...want.keys()].sort());
        for (const [name, text] of want) expect(text, name).toBe(readFileSync(join(dir, name), 'utf8'));
      });
    }
  }
});
