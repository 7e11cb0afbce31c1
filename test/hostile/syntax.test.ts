/**
 * Issue 13, items 4 and 9 (front end): binary input gives a bounded number of diagnostics
 * in bounded time, never an internal error. Before: a 100 KB file of NUL bytes gave one
 * PP1001 per byte and ran out of memory (3.7 GB); a 1 MB random file overflowed the stack
 * spreading 187k diagnostics.
 */
import { describe, expect, it } from 'vitest';
import { parse } from '../../grammar/index.js';
import { LIMITS } from '../../src/facts/limits.js';
import { mulberry32 } from '../../src/util/random.js';

describe('binary input to the parser', () => {
  it('a 100 KB run of NUL bytes is one PP1001 spanning the run', () => {
    const { diagnostics } = parse('\0'.repeat(100_000), 'nul.plan');
    expect(diagnostics.map((d) => d.code)).toEqual(['PP1001']);
    expect(diagnostics[0]!.span!.end - diagnostics[0]!.span!.start).toBe(100_000);
    expect(diagnostics[0]!.help).toBe('100,000 of them in a row');
  });

  it(`1 MB of random bytes: at most ${LIMITS.syntaxErrorsPerFile} errors, then one PP1005 with the count`, () => {
    const rng = mulberry32(13);
    const bytes = Buffer.alloc(1_000_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rng() * 256);
    const { diagnostics } = parse(bytes.toString('latin1'), 'random.plan');
    expect(diagnostics.length).toBe(LIMITS.syntaxErrorsPerFile + 1);
    const last = diagnostics[diagnostics.length - 1]!;
    expect(last.code).toBe('PP1005');
    expect(last.message).toMatch(/^further syntax errors in this file are not shown: [\d,]+ more$/);
    expect(diagnostics.some((d) => d.code === 'PP9001')).toBe(false);
  });
});
