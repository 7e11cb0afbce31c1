/**
 * Golden files: every example plan exported to every engine whose mode it has. Each directory
 * test/export/golden/<example>.<engine>/ holds the files and `diagnostics.txt`.
 * UPDATE=1 rewrites them (as test/cases does).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { ENGINES, exportPlan, type Engine } from '../../src/export/index.js';
import { show } from './helpers.js';

const GOLDEN = join(import.meta.dirname, 'golden');
const EXAMPLES = 'examples';
const MODE: Record<Engine, 'serve' | 'train'> = { vllm: 'serve', torchtitan: 'train', megatron: 'train', deepspeed: 'train' };

const examples = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.plan'))
  .sort();

/** What a golden directory should hold: file name → text. */
function expected(example: string, engine: Engine): Map<string, string> | undefined {
  const a = analyze([join(EXAMPLES, example)]);
  const plans = a.results.filter((r) => r.plan.mode === MODE[engine]);
  if (plans.length === 0) return undefined;
  const files = new Map<string, string>();
  const diagnostics: string[] = [];
  for (const r of plans) {
    const out = exportPlan(engine, r.plan);
    diagnostics.push(...show(out.diagnostics).map((d) => `${r.plan.name}: ${d}`));
    for (const f of out.files) files.set(f.name, f.text);
  }
  files.set('diagnostics.txt', diagnostics.join('\n') + '\n');
  return files;
}

describe('export golden files', () => {
  it('cover every example and engine', () => expect(examples.length).toBeGreaterThanOrEqual(10));
  for (const example of examples) {
    for (const engine of ENGINES) {
      const dir = join(GOLDEN, `${example.replace(/\.plan$/, '')}.${engine}`);
      it(`${example} --to ${engine}`, () => {
        const want = expected(example, engine);
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
