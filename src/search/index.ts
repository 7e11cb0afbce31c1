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
import { byLatency, byRank, bySloMiss, byTraffic, sloShortfall, withinLatency } from './rank.js';
import { predictLatency } from '../latency/check.js';
import { divisors } from '../util/divisors.js';
import { LIMITS } from '../facts/limits.js';
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
  if (work.mode === 'serve' && work.traffic) {
    // Fewest GPUs first; the first count with a plan that meets the SLO ends the search (more GPUs rank after it).
    const counts: number[] = [];
    for (const g of divisors(gpus)) {
      counts.push(g);
      for (const k of serveCandidates(g, gpusPerNode, target.model.layers, experts, work.seq, (b) =>
        vllmPrefillTokens(target.cluster.gpu, b, work.seq),
      ))
        acc.consider(acc.check(k));
      if (acc.judgeLatency()) break;
    }
    acc.gpuCounts = counts;
  } else if (work.mode === 'serve') {
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
  gpuCounts: number[] | undefined;
  private readonly fitting: Fitting[] = [];
  /** Fitting candidates whose latency is not judged yet (under traffic). */
  private unjudged: Fitting[] = [];
  private readonly sloMisses: Fitting[] = [];
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
    if (this.work.mode === 'serve' && this.work.traffic) this.unjudged.push(f);
    else this.fitting.push(f);
    return true;
  }

  /**
   * Under traffic: predict each new fitting candidate's latency (`predictLatency`, the function
   * `check` uses, on at most LIMITS.suggestLatencyRequests requests; the highest rate meeting
   * the SLO only for those that meet it) and file it as meeting or as an SLO miss. Then the
   * best that meet it (`traffic.confirm`, the listed ones) are predicted again as `check`
   * predicts them (all the traffic's requests, up to LIMITS.latencyRequests), so the pinned
   * plan's verdict is check's; a plan that misses then is an SLO miss, and the next is tried.
   * True when one is confirmed.
   */
  judgeLatency(): boolean {
    const met: Fitting[] = [];
    for (const f of this.unjudged) {
      if (f.plan.mode !== 'serve') throw new InternalError('a serving search sized a training plan');
      const { latency } = predictLatency(f.plan, { requests: LIMITS.suggestLatencyRequests, fixes: false, maxRate: 'when-met' });
      if (!latency) {
        // Unknown step times (a GPU without rates): not judged, ranked after every judged plan.
        this.fitting.push(f);
        continue;
      }
      const judged: Fitting = { ...f, latency };
      if (latency.slo.every((r) => r.ok)) met.push(judged);
      else this.miss(judged);
    }
    this.unjudged = [];
    met.sort(byTraffic);
    const want = Math.max(1, this.work.mode === 'serve' ? (this.work.traffic?.confirm ?? 1) : 1);
    let confirmed = 0;
    for (const f of met) {
      if (confirmed >= want) {
        this.fitting.push(f);
        continue;
      }
      const full = f.plan.mode === 'serve' ? predictLatency(f.plan, { fixes: false, maxRate: 'when-met' }).latency : undefined;
      const checked: Fitting = full ? { ...f, latency: full, confirmed: true } : f;
      if (full && full.slo.every((r) => r.ok)) {
        confirmed++;
        this.fitting.push(checked);
      } else this.miss(checked);
    }
    return confirmed > 0;
  }

  private miss(f: Fitting): void {
    this.sloMisses.push(f);
    this.rejected.push({ index: f.index, knobs: f.knobs, why: { kind: 'slo', missed: f.latency!.slo.filter((r) => !r.ok) } });
  }

  private misfit(s: Sized): void {
    this.rejected.push({ index: s.index, knobs: s.knobs, why: { kind: 'misfit' } });
    this.misfits.push(s);
  }

  result(): SearchResult {
    const ranked = [...this.fitting].sort(this.work.mode === 'serve' && this.work.traffic ? byTraffic : byRank(this.work.mode));
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
      sloMissed: count('slo'),
      invalid: [...invalid]
        .map(([code, n]) => ({ code, title: CODES[code].title, ...n }))
        .sort((a, b) => b.count - a.count || (a.code < b.code ? -1 : 1)),
    };
    if (this.gpuCounts) summary.gpuCounts = this.gpuCounts;
    const sloMisses = [...this.sloMisses].sort(bySloMiss);
    const out: SearchResult = { ranked, rejected: this.rejected.sort((a, b) => a.index - b.index), summary, sloMisses };
    let closest: Sized | Fitting | undefined =
      ranked.length > 0
        ? undefined
        : sloMisses.length > 0
          ? [...sloMisses].sort((a, b) => sloShortfall(a) - sloShortfall(b) || a.index - b.index)[0]
          : this.slow.length > 0
            ? [...this.slow].sort(byLatency)[0]
            : leastOver(this.misfits);
    // The nearest SLO miss says how much traffic it does hold (the search skipped that bisection for misses).
    if (closest && 'latency' in closest && closest.latency && closest.plan.mode === 'serve') {
      const again = predictLatency(closest.plan, { fixes: false }).latency;
      if (again) closest = { ...(closest as Fitting), latency: again };
    }
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
