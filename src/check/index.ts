/**
 * The checker: parsed files → CheckedPlans. Pure: no I/O, no later stage.
 * Declarations of every file of a program (a root file and what it imports) are
 * visible to each other; the plans checked are those of the root file.
 */
import type { Declaration, PlanFile } from '../ast.js';
import { diag, type Diagnostic } from '../diagnostics/diagnostic.js';
import { didYouMean } from '../diagnostics/suggest.js';
import { DECLARATIONS } from '../facts/keys.js';
import type { HfConfigs } from '../hf/config.js';
import type { CheckedPlan } from '../plan.js';
import { checkCluster, type Profiles } from './cluster.js';
import { checkModel } from './model.js';
import { checkTableDeadlock } from './pipeline.js';
import type { Traces } from './traffic.js';
import { checkPlan, type Scope } from './plan.js';

export interface CheckResult {
  plans: CheckedPlan[];
  diagnostics: Diagnostic[];
}

/**
 * `files` holds the root and its imports, imports first (so a later duplicate is the one reported);
 * `configs` the Hugging Face configs the loader read for their `hf_config` keys.
 */
export function checkProgram(
  files: readonly PlanFile[],
  root: PlanFile,
  configs: HfConfigs = new Map(),
  /** The request traces the loader read for the plans' `traffic { trace = "…" }` (src/load.ts `addTraces`). */
  traces: Traces = new Map(),
  /** The step-time profiles the loader read for the clusters' `gpu { profile = "…" }` (src/load.ts `addProfiles`). */
  profiles: Profiles = new Map(),
): CheckResult {
  const out: Diagnostic[] = [];
  const scope: Scope = { models: new Map(), clusters: new Map() };
  const plans = new Map<string, { decl: Declaration }>();
  const rootPlans: { decl: Declaration; file: string }[] = [];

  for (const file of files) {
    for (const decl of file.declarations) {
      if (!Object.hasOwn(DECLARATIONS, decl.keyword)) {
        const hint = didYouMean(decl.keyword, [...Object.keys(DECLARATIONS), 'import'], 4);
        out.push(diag('PP2001', decl.keywordSpan, { keyword: decl.keyword }, hint ? { help: hint } : {}));
        continue;
      }
      const kind = decl.keyword as keyof typeof DECLARATIONS;
      const table: ReadonlyMap<string, { decl: Declaration }> =
        kind === 'model' ? scope.models : kind === 'cluster' ? scope.clusters : plans;
      const first = table.get(decl.name);
      if (first) {
        out.push(
          diag(
            'PP2005',
            decl.nameSpan,
            { kind, name: decl.name },
            {
              help: `rename one of them`,
              related: [{ span: first.decl.nameSpan, message: 'first declared here' }],
            },
          ),
        );
        continue;
      }
      if (kind === 'model') scope.models.set(decl.name, { decl, spec: checkModel(decl, out, configs) });
      else if (kind === 'cluster') scope.clusters.set(decl.name, { decl, spec: checkCluster(decl, out, profiles) });
      else {
        plans.set(decl.name, { decl });
        if (file === root) rootPlans.push({ decl, file: file.file });
      }
    }
  }

  const checked: CheckedPlan[] = [];
  for (const { decl, file } of rootPlans) {
    const p = checkPlan(decl, scope, file, out, traces);
    if (!p) continue;
    checked.push(p);
    // A table that deadlocks is an error, yet the plan is still sized and costed (it is well-formed).
    if (p.mode === 'train') out.push(...checkTableDeadlock(p));
  }
  return { plans: checked, diagnostics: out };
}
