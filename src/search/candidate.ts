/**
 * A candidate of the search: its knobs, written as plan settings and checked by the
 * checker itself (`checkPlan`), so that validity has one source of truth.
 */
import type { HfConfigs } from '../hf/config.js';
import type { Declaration } from '../ast.js';
import { checkCluster } from '../check/cluster.js';
import { checkModel } from '../check/model.js';
import { checkPlan, type Scope } from '../check/plan.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import { InternalError } from '../diagnostics/codes.js';
import type { CheckedPlan, ClusterSpec, ModelSpec, ServeSlo, ServeTraffic } from '../plan.js';
import type { Knobs } from './space.js';
import { int, toDeclaration, withUnit, word, type Setting } from './settings.js';

/** What the user asks for besides the knobs searched: the workload. */
export type Workload =
  /** adapter: LoRA fine-tuning (--lora-rank, --lora-targets): every candidate trains these adapters on a frozen base. */
  | { mode: 'train'; global: number; seq: number; adapter?: { rank: number; targets?: readonly string[] } }
  /** maxTpotSeconds: the latency bound, time per output token at max_batch (Infinity: none). traffic: the load and objectives candidates must meet. */
  | { mode: 'serve'; seq: number; maxTpotSeconds: number; traffic?: TrafficWork };

/**
 * `suggest --mode serve` under traffic: a plan's `traffic` and `slo` blocks (and its server's
 * max_wait and queue), which every candidate gets, so that its latency is predicted as
 * `parplan check` would predict it for the pinned plan.
 */
export interface TrafficWork {
  /** The plan the blocks come from. */
  plan: string;
  traffic: ServeTraffic;
  slo: ServeSlo;
  maxWaitMs: number;
  queue: number;
  /** How many of the best plans that meet it are predicted again as check predicts them (the listed ones; default 1, the winner). */
  confirm?: number;
}

/** The model and cluster, checked once, and the scope every candidate is checked in. */
export interface Target {
  model: ModelSpec;
  cluster: ClusterSpec;
  scope: Scope;
}

/** The name candidates are checked under (never shown: the written plan gets its own). */
export const CANDIDATE_FILE = '<suggest>';

/** Check the chosen declarations as checkProgram does; undefined (with `out` holding why) when either has errors. */
export function targetOf(modelDecl: Declaration, clusterDecl: Declaration, out: Diagnostic[], configs?: HfConfigs): Target | undefined {
  const model = checkModel(modelDecl, out, configs);
  const cluster = checkCluster(clusterDecl, out);
  if (!model || !cluster || out.some((d) => d.severity === 'error')) return undefined;
  const scope: Scope = {
    models: new Map([[model.name, { decl: modelDecl, spec: model }]]),
    clusters: new Map([[cluster.name, { decl: clusterDecl, spec: cluster }]]),
  };
  return { model, cluster, scope };
}

/** The settings a candidate writes: its knobs and the workload; everything else is the checker's default. */
export function candidateSettings(k: Knobs, target: Target, work: Workload): Setting[] {
  const head = [
    word('model', target.model.name),
    word('cluster', target.cluster.name),
    word('mode', k.mode),
    int('tensor', k.tensor),
    int('pipeline', k.pipeline),
    int('data', k.data),
    // MoE models: the expert grid is searched too (dense models have none to write).
    ...(k.expert !== undefined ? [int('expert', k.expert), int('expert_tensor', k.expertTensor ?? k.tensor)] : []),
  ];
  if (k.mode === 'serve') {
    if (work.mode !== 'serve') throw new InternalError('a serving candidate needs a serving workload');
    const chunk = k.maxPrefillTokens !== undefined ? [int('max_prefill_tokens', k.maxPrefillTokens)] : [];
    // Under traffic, the server's other settings are the traffic plan's.
    const server = work.traffic ? [withUnit('max_wait', work.traffic.maxWaitMs, 'ms'), int('queue', work.traffic.queue)] : [];
    return [
      ...head,
      { key: 'batch', value: { kind: 'block', value: [int('max_batch', k.maxBatch), int('seq', work.seq), ...chunk, ...server] } },
    ];
  }
  if (work.mode !== 'train') throw new InternalError('a training candidate needs a training workload');
  const schedule = k.schedule ? [word('schedule', k.schedule), ...(k.virtual ? [int('virtual', k.virtual)] : [])] : [];
  return [
    ...head,
    ...schedule,
    int('zero', k.zero),
    word('recompute', k.recompute),
    word('sequence_parallel', k.sequenceParallel),
    { key: 'batch', value: { kind: 'block', value: [int('global', work.global), int('micro', k.micro), int('seq', work.seq)] } },
    ...(work.adapter
      ? [
          {
            key: 'adapter',
            value: {
              kind: 'block' as const,
              value: [
                int('rank', work.adapter.rank),
                ...(work.adapter.targets ? [{ key: 'targets', value: { kind: 'strings' as const, value: work.adapter.targets } }] : []),
              ],
            },
          },
        ]
      : []),
  ];
}

export interface Checked {
  /** Undefined when the checker found an error. */
  plan: CheckedPlan | undefined;
  diagnostics: Diagnostic[];
}

export function checkCandidate(k: Knobs, target: Target, work: Workload): Checked {
  const out: Diagnostic[] = [];
  const decl = toDeclaration('candidate', candidateSettings(k, target, work), CANDIDATE_FILE);
  const checked = checkPlan(decl, target.scope, CANDIDATE_FILE, out);
  // The traffic and objectives are the traffic plan's as checked there (a trace already read), not written again.
  const t = work.mode === 'serve' ? work.traffic : undefined;
  const plan = checked && checked.mode === 'serve' && t ? { ...checked, traffic: t.traffic, slo: t.slo } : checked;
  return { plan, diagnostics: out };
}
