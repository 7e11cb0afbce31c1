import { describe, expect, it } from 'vitest';
import { annotation, escapeData, escapeProperty, renderGithub } from '../../src/render/github.js';
import { diag } from '../../src/diagnostics/diagnostic.js';
import { SourceFile } from '../../src/source.js';
import { analysis, breakdown, diagnostic, planResult, pp3001, serveSource, spanOf } from './fixtures.js';

describe('github', () => {
  it('writes an error annotation with position and title', () => {
    expect(annotation(pp3001())).toBe(
      '::error file=examples/serve.plan,line=11,col=11,endLine=11,endColumn=12,title=PP3001::' +
        'heads = 32 is not divisible by tensor = 3%0Ahelp: tensor = 2 or 4 divides heads = 32',
    );
  });

  it('uses ::warning and ::notice for warnings and notes', () => {
    const src = new SourceFile('a.plan', 'plan p {\n  tensor = 6\n}\n');
    const s = spanOf(src, 'tensor');
    expect(annotation(diag('PP3010', s, { axes: 'tensor × pipeline × data', product: 6, idle: 2, gpus: 8 }))).toMatch(
      /^::warning file=a\.plan,line=2,col=3,endLine=2,endColumn=9,title=PP3010::/,
    );
    expect(annotation(diag('PP3003', s, { tensor: 6, kvHeads: 2, copies: 3 }))).toMatch(/^::notice file=a\.plan,/);
  });

  it('escapes %, CR and LF in data, and also : and , in properties', () => {
    expect(escapeData('50% done\r\nnext: a,b')).toBe('50%25 done%0D%0Anext: a,b');
    expect(escapeProperty('C:\\plans\\a,b%.plan')).toBe('C%3A\\plans\\a%2Cb%25.plan');
    const d = diagnostic('PP6001', undefined, { path: 'dir,1/x:y.plan', reason: '100% broken\nreally' }, 'dir,1/x:y.plan');
    expect(annotation(d)).toBe("::error file=dir%2C1/x%3Ay.plan,title=PP6001::cannot read 'dir,1/x:y.plan': 100%25 broken%0Areally");
    expect(annotation(diagnostic('PP6003', undefined, { name: 'nope' }))).toBe("::error title=PP6003::no plan named 'nope'");
  });

  it('ends with one line per plan and the summary', () => {
    const src = serveSource();
    const big = planResult({ name: 'big', mesh: { tensor: 1, context: 1, pipeline: 1, data: 1 }, stages: [breakdown({ weights: 90 })] });
    const out = renderGithub(analysis([planResult(), big], [pp3001(src)], [src]));
    expect(out.split('\n').slice(1)).toEqual([
      'parplan: plan serve_8b (examples/serve.plan): fits: tightest is rank 2, 37.25 GiB of 75.67 GiB usable (38.42 GiB headroom, 50.8%)',
      'parplan: plan big (examples/serve.plan): DOES NOT FIT: rank 0 needs 90.00 GiB of 75.67 GiB usable',
      'parplan: 2 plans checked: 1 fits, 1 does not fit; 1 error, 0 warnings',
      '',
    ]);
  });
});
