import type { Declaration } from '../ast.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import type { Mode } from '../facts/keys.js';
import type { ClusterSpec, Mesh, ModelSpec } from '../plan.js';
import type { Span } from '../source.js';
import type { Fields } from './values.js';

/** What the per-dimension plan checks share. */
export interface PlanContext {
  decl: Declaration;
  mode: Mode;
  fields: Fields;
  /** The batch block's fields (undefined when the block is missing or malformed). */
  batch: Fields | undefined;
  model: ModelSpec;
  cluster: ClusterSpec;
  mesh: Mesh;
  out: Diagnostic[];
}

/** The span of a plan key's value, or of the plan's name when the key was not written (a default). */
export function spanOf(ctx: PlanContext, key: string): Span {
  if (key.startsWith('batch.')) return ctx.batch?.get(key.slice(6))?.span ?? ctx.fields.get('batch')?.entry.keySpan ?? ctx.decl.nameSpan;
  return ctx.fields.get(key)?.span ?? ctx.decl.nameSpan;
}

/** "tensor = 3" as the user wrote it, or "tensor = 1 (default)". */
export function shown(ctx: PlanContext, key: keyof Mesh): string {
  return ctx.fields.has(key) ? `${key} = ${ctx.mesh[key]}` : `${key} = ${ctx.mesh[key]} (default)`;
}
