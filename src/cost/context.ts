/**
 * Context parallelism's attention traffic: what one rank exchanges with its context group per
 * layer, shared by the graph's steps (src/lower/layer.ts) and the cost model (trainStage), so
 * that both count the same bytes. c = context, s = seq, b = micro, g KV heads and A query heads
 * per tensor rank, d = head_dim, e = bytes(precision). KV = 2·s·b·g·d·e is the whole sequence's
 * K and V of this rank's heads (each context rank holds 1/c of it).
 *   p2p, all_gather: forward gathers the other ranks' K,V (TransformerEngine's ring of c − 1
 *       send/recv steps receives exactly what a ring all-gather does; torch's ALL_GATHER rotate
 *       method is one all-gather); backward gathers them again and reduce-scatters dK,dV:
 *       (c − 1)/c · KV forward, 2 × (c − 1)/c · KV backward (anchors §5, derived); full
 *       recomputation gathers once more, selective recomputation (attention) too.
 *   a2a: an all-to-all of q, k, v before attention and of its output after (Ulysses-style head
 *       split; TE AttnFuncWithCPAndQKVOA2A), the conjugates in backward: (c − 1)/c of the local
 *       s/c·b·(A + 2g)·d·e and s/c·b·A·d·e each.
 * The graph writes the p2p ring as the all-gather it moves the bytes of (a ring of c − 1 steps,
 * each rank receiving one chunk per step).
 */
import { bytesPerElement } from '../facts/dtypes.js';
import { stageRuns } from '../memory/params.js';
import type { LayerRankFacts, Stage, TrainPlan } from '../plan.js';
import { contextGroupCrossesNodes, linkOf, reduceScatterBytes, TrafficSum } from './comm.js';

/** The whole tensors one layer's context-parallel attention exchanges on one rank, in bytes (0 at context = 1). */
export function contextAttentionBytes(plan: TrainPlan, f: LayerRankFacts): { kv: number; qkv: number; out: number } {
  const c = plan.mesh.context;
  const a = f.layer.attention;
  if (c === 1 || a.kind !== 'gqa') return { kv: 0, qkv: 0, out: 0 };
  const s = plan.batch.seq;
  const b = plan.batch.micro;
  const e = bytesPerElement(plan.precision);
  const d = a.headDim;
  return {
    kv: 2 * s * b * f.kvHeadsPerRank * d * e,
    qkv: (s / c) * b * (f.headsPerRank + 2 * f.kvHeadsPerRank) * d * e,
    out: (s / c) * b * f.headsPerRank * d * e,
  };
}

/** Exchanges per layer and microbatch: forward 1, backward 2 (gather + reduce-scatter), + 1 when attention is recomputed. */
export function contextExchanges(plan: TrainPlan): number {
  return 3 + (plan.recompute === 'none' ? 0 : 1);
}

/** Context-parallel traffic of one microbatch on one device of `stage` (not overlapped with compute: an upper bound of TE's overlapped ring). */
export function contextTraffic(plan: TrainPlan, stage: Stage, into = new TrafficSum()): TrafficSum {
  const c = plan.mesh.context;
  if (c === 1) return into;
  const link = linkOf(plan, contextGroupCrossesNodes(plan, stage.index));
  const n = contextExchanges(plan);
  for (const r of stageRuns(plan, stage)) {
    const x = contextAttentionBytes(plan, r.f);
    if (plan.contextComm === 'a2a') {
      // Forward: q,k,v in and the output back; backward: their gradients; recomputation: the forward again.
      const passes = n - 1;
      into.add('context', link, r.n * passes * reduceScatterBytes(x.qkv + x.out, c), r.n * passes * 2);
    } else into.add('context', link, r.n * n * reduceScatterBytes(x.kv, c), r.n * n);
  }
  return into;
}
