/**
 * `parplan suggest`'s engine: enumerate the candidates (space.ts), check each with the
 * checker (candidate.ts), size the valid ones with the memory model, cost the ones that
 * fit, and rank them (rank.ts). Pure: the caller times it and prints it.
 */
import { CODES, InternalError, type Code } from '../diagnostics/codes.js';
import { planCost } from '../cost/index.js';
import { fitDiagnostics, fitsAll } from '../fit.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import { memoryPlan } from '../memory/index.js';
import { layerRuns, type Model } from '../model.js';
import type { CheckedPlan } from '../plan.js';
import { checkCandidate, type Target, type Workload } from './candidate.js';
import { heavier, weight } from './prune.js';
import { sizeStages } from './size.js';
import { byLatency, byRank, withinLatency } from './rank.js';
import { vllmPrefillTokens } from '../check/batch.js';
import { groupCandidates, serveCandidates, trainGroups, type Knobs, type TrainKnobs } from './space.js';
import type { Fitting, Rejected, Rejection, SearchResult, Sized, Summary } from './types.js';

export { targetOf, candidateSettings, checkCandidate, type Target, type Workload } from './candidate.js';
export type { Knobs, TrainKnobs, ServeKnobs } from './space.js';
export type { Fitting, Rejected, Rejection, SearchResult, Sized, Summary } from './types.js';

export function search(target: Target, work: Workload): SearchResult {
  const acc = new Accumulator(target, work);
  const { gpus, gpusPerNode } = target.cluster;
  const experts = routedExperts(target.model);
  if (work.mode === 'serve') {
    for (const k of serveCandidates(gpus, gpusPerNode, target.model.layers, experts, work.seq, (b) =>
      vllmPrefillTokens(target.cluster.gpu, b, work.seq),
    ))
      acc.consider(acc.check(k));
  } else {
    for (const g of trainGroups(gpus, gpusPerNode, target.model.layers, work.global, experts)) acc.group(groupCandidates(g));
  }
  return acc.result();
}

/** The routed experts of the model's MoE layers (undefined for a dense model: no expert degree to search). */
export function routedExperts(model: Model): number | undefined {
  for (const r of layerRuns(model)) if (r.layer.mlp.kind === 'moe') return r.layer.mlp.experts;
  return undefined;
}

type Valid = { index: number; knobs: Knobs; plan: CheckedPlan; diagnostics: Diagnostic[] };

class Accumulator {
  private next = 0;
  private readonly fitting: Fitting[] = [];
  private readonly slow: Fitting[] = [];
  private readonly misfits: Sized[] = [];
  private readonly rejected: Rejected[] = [];

  constructor(
    private readonly target: Target,
    private readonly work: Workload,
  ) {}

  /** The checker's verdict; invalid candidates are recorded here. */
  check(knobs: Knobs): Valid | undefined {
    const index = this.next++;
    const { plan, diagnostics } = checkCandidate(knobs, this.target, this.work);
    if (plan) return { index, knobs, plan, diagnostics };
    const first = diagnostics.find((d) => d.severity === 'error');
    if (!first) throw new InternalError('the checker returned no plan and no error');
    this.rejected.push({ index, knobs, why: { kind: 'invalid', code: first.code, message: first.message } });
    return undefined;
  }

  /** A training group, lightest candidates first: one that is heavier than a misfit is pruned unsized. */
  group(candidates: TrainKnobs[]): void {
    const valid = candidates.map((k) => this.check(k)).filter((v): v is Valid & { knobs: TrainKnobs } => v !== undefined);
    const misfits: TrainKnobs[] = [];
    for (const v of [...valid].sort((a, b) => weight(a.knobs) - weight(b.knobs) || a.index - b.index)) {
      if (misfits.some((m) => heavier(v.knobs, m))) {
        this.rejected.push({ index: v.index, knobs: v.knobs, why: { kind: 'pruned' } });
        continue;
      }
      if (!this.consider(v)) misfits.push(v.knobs);
    }
  }

  /** Size, cost and file a valid candidate; false when it does not fit. */
  consider(v: Valid | undefined): boolean {
    if (!v) return false;
    const s: Sized = { ...v, size: sizeStages(v.plan) };
    if (s.size.headroomBytes < 0) {
      this.misfit(s);
      return false;
    }
    const memory = memoryPlan(s.plan);
    if (!fitsAll(memory)) throw new InternalError(`plan sized per stage as fitting does not fit per device: ${JSON.stringify(s.knobs)}`);
    const warnings = [...s.diagnostics, ...fitDiagnostics(s.plan, memory).diagnostics]
      .filter((d) => d.severity === 'warning')
      .map((d) => d.code);
    const f: Fitting = { ...s, memory, cost: planCost(s.plan, memory), warnings };
    if (this.work.mode === 'serve' && !withinLatency(f, this.work.maxTpotSeconds)) {
      this.slow.push(f);
      this.rejected.push({ index: f.index, knobs: f.knobs, why: { kind: 'slow' } });
      return true;
    }
    this.fitting.push(f);
    return true;
  }

  private misfit(s: Sized): void {
    this.rejected.push({ index: s.index, knobs: s.knobs, why: { kind: 'misfit' } });
    this.misfits.push(s);
  }

  result(): SearchResult {
    const ranked = [...this.fitting].sort(byRank(this.work.mode));
    const count = (kind: Rejection['kind']) => this.rejected.filter((r) => r.why.kind === kind).length;
    const invalid = new Map<Code, { count: number; example: string }>();
    for (const { why } of this.rejected) {
      if (why.kind !== 'invalid') continue;
      const seen = invalid.get(why.code) ?? { count: 0, example: why.message };
      invalid.set(why.code, { ...seen, count: seen.count + 1 });
    }
    const summary: Summary = {
      considered: this.next,
      fit: ranked.length,
      misfit: count('misfit'),
      pruned: count('pruned'),
      slow: count('slow'),
      invalid: [...invalid]
        .map(([code, n]) => ({ code, title: CODES[code].title, ...n }))
        .sort((a, b) => b.count - a.count || (a.code < b.code ? -1 : 1)),
    };
    const out: SearchResult = { ranked, rejected: this.rejected.sort((a, b) => a.index - b.index), summary };
    const closest = ranked.length > 0 ? undefined : this.slow.length > 0 ? [...this.slow].sort(byLatency)[0] : leastOver(this.misfits);
    if (closest) out.closest = closest;
    return out;
  }
}

/** The misfit whose fullest device is least over, relative to its usable memory (first in enumeration order on ties). */
function leastOver(misfits: readonly Sized[]): Sized | undefined {
  const ratio = (s: Sized) => s.size.totalBytes / s.size.usableBytes;
  let best: Sized | undefined;
  for (const s of misfits) if (!best || ratio(s) < ratio(best) || (ratio(s) === ratio(best) && s.index < best.index)) best = s;
  return best;
}
