/** Targets from the fixtures, and an exhaustive evaluation to hold the search against. */
import { join } from 'node:path';
import { fitsAll } from '../../src/fit.js';
import { loadProgram, nodeHost } from '../../src/load.js';
import { memoryPlan } from '../../src/memory/index.js';
import { planCost } from '../../src/cost/index.js';
import { checkCandidate, routedExperts, targetOf, type Target, type Workload } from '../../src/search/index.js';
import { vllmPrefillTokens } from '../../src/check/batch.js';
import { groupCandidates, serveCandidates, trainGroups, type Knobs } from '../../src/search/space.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';

export const FIXTURES = join(import.meta.dirname, 'fixtures');

export function loadTarget(fixture: string, model: string, cluster: string): Target {
  const out: Diagnostic[] = [];
  const program = loadProgram(join(FIXTURES, fixture), nodeHost, new Map(), out);
  if (!program || out.some((d) => d.severity === 'error')) throw new Error(`fixture ${fixture}: ${out.map((d) => d.message).join('; ')}`);
  const decls = program.files.flatMap((f) => f.declarations);
  const find = (kind: string, name: string) => {
    const d = decls.find((x) => x.keyword === kind && x.name === name);
    if (!d) throw new Error(`no ${kind} ${name} in ${fixture}`);
    return d;
  };
  const target = targetOf(find('model', model), find('cluster', cluster), out);
  if (!target) throw new Error(out.map((d) => d.message).join('; '));
  return target;
}

/** Every candidate in enumeration order (the search's indices). */
export function allKnobs(target: Target, work: Workload): Knobs[] {
  const { gpus, gpusPerNode } = target.cluster;
  const experts = routedExperts(target.model);
  if (work.mode === 'serve')
    return serveCandidates(gpus, gpusPerNode, target.model.layers, experts, work.seq, (b) =>
      vllmPrefillTokens(target.cluster.gpu, b, work.seq),
    );
  return trainGroups(gpus, gpusPerNode, target.model.layers, work.global, experts).flatMap(groupCandidates);
}

export interface Exhaustive {
  index: number;
  knobs: Knobs;
  valid: boolean;
  fits: boolean;
  /** Step seconds (training) or −tokens/s (serving): lower is better; undefined unless it fits. */
  score?: number;
  tpot?: number;
}

/** The checker, the whole memory model and the cost model on every candidate: no pruning. */
export function exhaustive(target: Target, work: Workload, knobs = allKnobs(target, work)): Exhaustive[] {
  return knobs.map((k, index) => {
    const { plan } = checkCandidate(k, target, work);
    if (!plan) return { index, knobs: k, valid: false, fits: false };
    const memory = memoryPlan(plan);
    if (!fitsAll(memory)) return { index, knobs: k, valid: true, fits: false };
    const cost = planCost(plan, memory);
    if (cost.train) return { index, knobs: k, valid: true, fits: true, score: cost.train.stepSeconds ?? Infinity };
    return {
      index,
      knobs: k,
      valid: true,
      fits: true,
      score: -(cost.serve?.decodeTokensPerSecond ?? -Infinity),
      tpot: cost.serve?.tpotSeconds ?? Infinity,
    };
  });
}
