/** Pinned plans: every example that passes, written out with every knob, checks back to the same plan. */
import { describe, expect, it } from 'vitest';
import { parse } from '../../grammar/index.js';
import { analyze } from '../../src/analyze.js';
import { nodeHost } from '../../src/load.js';
import { comparable, pinnedSettings, pinnedText, recheck } from '../../src/search/pinned.js';
import { renderPlan, toDeclaration } from '../../src/search/settings.js';
import type { Value } from '../../src/ast.js';

// Plans that fit in memory and meet their latency objectives (a missed SLO is an error on recheck too).
const examples = analyze(['examples']).results.filter(
  (r) => r.fits && (r.latency?.slo ?? []).every((o) => o.ok) && (r.plan.mode === 'serve' || r.plan.schedule !== 'table'),
);

/** A value without spans (and without the parser's raw text for numbers, which settings write as given). */
function shape(v: Value): unknown {
  switch (v.kind) {
    case 'number':
      return { n: v.value, unit: v.unit?.text };
    case 'ident':
      return v.name;
    case 'string':
      return { s: v.value };
    case 'range':
      return [shape(v.from), shape(v.to)];
    case 'list':
      return v.items.map(shape);
    case 'block':
      return v.entries.map((e) => [e.key, shape(e.value)]);
  }
}

describe('pinned plans', () => {
  it('covers plans of both modes, with pipelines, interleaving and the webgpu engine', () => {
    expect(examples.length).toBeGreaterThan(8);
    expect(examples.some((r) => r.plan.mode === 'train' && r.plan.schedule === 'interleaved')).toBe(true);
    expect(examples.some((r) => r.plan.mode === 'serve' && r.plan.engine === 'webgpu')).toBe(true);
    expect(examples.some((r) => r.plan.mesh.pipeline > 1)).toBe(true);
  });

  it.each(examples.map((r) => [r.plan.name, r] as const))('%s: written with every knob, it checks back to the same plan', (_, r) => {
    const file = r.plan.file.replace(/\.plan$/, '.pinned.plan');
    const importPath = r.plan.file.split('/').pop()!;
    const text = pinnedText(r.plan, { name: `${r.plan.name}_pinned`, importPath, header: ['pinned'] });
    // The example's own plan is imported along with its model: only the new name is checked.
    expect(recheck(text, file, r.plan, nodeHost)).toBeUndefined();
  });

  it('the text and the AST of the same settings agree (what is checked is what is written)', () => {
    for (const r of examples) {
      const settings = pinnedSettings(r.plan);
      const parsed = parse(renderPlan('p', settings), 'p.plan');
      expect(parsed.diagnostics).toEqual([]);
      expect(shape(parsed.ast.declarations[0]!.body)).toEqual(shape(toDeclaration('p', settings, 'x').body));
    }
  });

  it('recheck names what is wrong: a plan that checks differently is reported, not accepted', () => {
    const [a, b] = examples.filter((r) => r.plan.mode === 'train');
    const text = pinnedText(a!.plan, { name: 'x', importPath: a!.plan.file.split('/').pop()!, header: [] });
    expect(recheck(text, a!.plan.file.replace(/\.plan$/, '.x.plan'), b!.plan, nodeHost)).toBe('it checks to a different plan');
    expect(comparable(a!.plan)).not.toBe(comparable(b!.plan));
  });
});
