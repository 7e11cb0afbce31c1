import { describe, expect, it } from 'vitest';
import { SARIF_SCHEMA, artifactUri, renderSarif, toSarif } from '../../src/render/sarif.js';
import { diag } from '../../src/diagnostics/diagnostic.js';
import { SourceFile } from '../../src/source.js';
import { analysis, diagnostic, planResult, pp3001, serveSource, spanOf } from './fixtures.js';

const opts = { toolVersion: '0.1.0', cwd: '/repo' };

describe('sarif', () => {
  it('has the required SARIF 2.1.0 fields', () => {
    const src = serveSource();
    const log = JSON.parse(renderSarif(analysis([planResult()], [pp3001(src)], [src]), opts));
    expect(log.$schema).toBe('https://json.schemastore.org/sarif-2.1.0.json');
    expect(SARIF_SCHEMA).toBe(log.$schema);
    expect(log.version).toBe('2.1.0');
    expect(log.runs).toHaveLength(1);
    const run = log.runs[0];
    expect(run.tool.driver.name).toBe('parplan');
    expect(run.tool.driver.version).toBe('0.1.0');
    expect(run.columnKind).toBe('utf16CodeUnits');
    expect(run.tool.driver.rules).toEqual([
      {
        id: 'PP3001',
        name: 'heads-not-divisible',
        shortDescription: { text: 'Heads not divisible' },
        fullDescription: { text: 'heads = <heads> is not divisible by tensor = <tensor>' },
        defaultConfiguration: { level: 'error' },
        help: { text: 'Run `parplan explain PP3001` for an explanation and examples.' },
      },
    ]);
    expect(run.results).toEqual([
      {
        ruleId: 'PP3001',
        ruleIndex: 0,
        level: 'error',
        message: { text: 'heads = 32 is not divisible by tensor = 3\nhelp: tensor = 2 or 4 divides heads = 32' },
        locations: [
          {
            physicalLocation: {
              artifactLocation: { uri: 'examples/serve.plan' },
              region: { startLine: 11, startColumn: 11, endLine: 11, endColumn: 12 },
            },
          },
        ],
      },
    ]);
  });

  it('lists one rule per code that occurs, sorted, and maps severities to levels', () => {
    const src = new SourceFile('a.plan', 'plan p {\n  tensor = 6\n}\n');
    const s = spanOf(src, 'tensor');
    const ds = [
      diag('PP3010', s, { axes: 'tensor × pipeline × data', product: 6, idle: 2, gpus: 8 }),
      diag('PP3003', s, { tensor: 6, kvHeads: 2, copies: 3 }),
      diag('PP3010', s, { axes: 'tensor × pipeline × data', product: 6, idle: 2, gpus: 8 }),
      diag('PP3001', s, { heads: 32, tensor: 6 }),
    ];
    const run = toSarif(analysis([], ds, [src]), opts).runs[0];
    expect(run.tool.driver.rules.map((r) => r.id)).toEqual(['PP3001', 'PP3003', 'PP3010']);
    expect(run.results.map((r) => [r.ruleId, r.ruleIndex, r.level])).toEqual([
      ['PP3010', 2, 'warning'],
      ['PP3003', 1, 'note'],
      ['PP3010', 2, 'warning'],
      ['PP3001', 0, 'error'],
    ]);
    expect(run.results[0]!.locations[0]!.physicalLocation.region).toEqual({ startLine: 2, startColumn: 3, endLine: 2, endColumn: 9 });
  });

  it('gives multi-line regions, related locations, and escapes braces in messages', () => {
    const src = new SourceFile('a.plan', 'model m {\n  x = 1\n}\n');
    const d = diag(
      'PP1002',
      src.span(8, src.text.length - 1),
      { detail: "expected '}' after block" },
      {
        related: [{ span: src.span(6, 7), message: 'block {m} opened here' }],
      },
    );
    const run = toSarif(analysis([], [d], [src]), opts).runs[0];
    expect(run.tool.driver.rules[0]!.fullDescription).toEqual({ text: 'Syntax error' });
    const r = run.results[0]!;
    expect(r.message.text).toBe("expected '}}' after block");
    expect(r.locations[0]!.physicalLocation.region).toEqual({ startLine: 1, startColumn: 9, endLine: 3, endColumn: 2 });
    expect(r.relatedLocations).toEqual([
      {
        id: 1,
        physicalLocation: { artifactLocation: { uri: 'a.plan' }, region: { startLine: 1, startColumn: 7, endLine: 1, endColumn: 8 } },
        message: { text: 'block {{m}} opened here' },
      },
    ]);
  });

  it('locates file-level diagnostics by file only, and spanless ones nowhere', () => {
    const ds = [
      diagnostic('PP6001', undefined, { path: 'x.plan', reason: 'permission denied' }, 'x.plan'),
      diagnostic('PP6003', undefined, { name: 'nope' }),
    ];
    const results = toSarif(analysis([], ds), opts).runs[0].results;
    expect(results[0]!.locations).toEqual([{ physicalLocation: { artifactLocation: { uri: 'x.plan' } } }]);
    expect(results[1]!.locations).toEqual([]);
  });

  it('has an empty rule and result list for a clean run', () => {
    const run = toSarif(analysis([planResult()]), opts).runs[0];
    expect(run.tool.driver.rules).toEqual([]);
    expect(run.results).toEqual([]);
  });

  it('writes relative, percent-encoded URIs, and file URIs outside the working directory', () => {
    expect(artifactUri('examples/a b.plan', '/repo')).toBe('examples/a%20b.plan');
    expect(artifactUri('./examples/x.plan', '/repo')).toBe('examples/x.plan');
    expect(artifactUri('/repo/plans/x#1.plan', '/repo')).toBe('plans/x%231.plan');
    expect(artifactUri('/elsewhere/x.plan', '/repo')).toBe('file:///elsewhere/x.plan');
    expect(artifactUri('../x.plan', '/repo/sub')).toBe('file:///repo/x.plan');
  });
});
