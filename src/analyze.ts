/**
 * The compiler's front half as one call: read `.plan` files (and their imports),
 * parse, check, compute memory, judge fit. Pure apart from reading files through `host`.
 */
import type { Diagnostic } from './diagnostics/diagnostic.js';
import type { CheckedPlan } from './plan.js';
import type { MemoryPlan } from './memory/types.js';
import type { SourceFile } from './source.js';

export interface PlanResult {
  plan: CheckedPlan;
  memory: MemoryPlan;
  /** Every device's total ≤ its usable bytes. */
  fits: boolean;
}

export interface Analysis {
  /** Plans that passed the checker, in file order then declaration order. */
  results: PlanResult[];
  /** All diagnostics, sorted by file and position, without duplicates. */
  diagnostics: Diagnostic[];
  /** Every file read (roots and imports), by path, for rendering source lines. */
  sources: Map<string, SourceFile>;
  /** The root files checked, in order. */
  files: string[];
}

/** File access, injectable for tests. */
export interface Host {
  readFile(path: string): string;
}
