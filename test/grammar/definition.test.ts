import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chevrotainSource } from '../../grammar/chevrotain.js';
import { CST_DTS_PATH, cstDts } from '../../grammar/gen-cst.js';
import { getLexer } from '../../grammar/lexer.js';
import { PlanParser } from '../../grammar/parser.js';
import { ALL_TOKENS } from '../../grammar/tokens.js';

describe('grammar definition', () => {
  it("passes chevrotain's grammar validations (the shared parser skips them for a fast start)", () => {
    // performSelfAnalysis throws on ambiguities, left recursion, unreachable alternatives …
    expect(() => new PlanParser({ skipValidations: false })).not.toThrow();
  });

  it("passes chevrotain's lexer validations, with the first-character optimization", () => {
    // ensureOptimizations: the constructor throws if any token defeats the optimization
    const lexer = getLexer(true);
    expect(lexer.lexerDefinitionErrors).toEqual([]);
  });

  it('token names are unique', () => {
    const names = ALL_TOKENS.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('grammar/cst.generated.d.ts is up to date (regenerate: npx tsx grammar/gen-cst.ts)', () => {
    expect(readFileSync(CST_DTS_PATH, 'utf8')).toBe(cstDts());
  });

  it('loads the bundled chevrotain build (fast cold start)', () => {
    expect(chevrotainSource).toBe('bundle');
  });
});
