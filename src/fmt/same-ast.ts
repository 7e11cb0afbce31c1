/**
 * Whether two ASTs say the same thing: equal once every position is removed.
 * The formatter's guarantee (checked on each run, and by the tests) is that the
 * formatted text parses to the same AST as the input, modulo positions.
 */
import type { PlanFile } from '../ast.js';

const POSITION_KEYS = new Set(['span', 'keySpan', 'nameSpan', 'keywordSpan', 'pathSpan', 'file']);

/** A deep copy without spans and without the file path. */
export function stripSpans(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripSpans);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (!POSITION_KEYS.has(k)) out[k] = stripSpans(v);
  return out;
}

export function sameAst(a: PlanFile, b: PlanFile): boolean {
  return JSON.stringify(stripSpans(a)) === JSON.stringify(stripSpans(b));
}
