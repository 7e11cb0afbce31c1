/**
 * Step times from the cost model's serving roofline (src/cost/serve.ts): a prompt of n tokens
 * is ⌈n / max_prefill_tokens⌉ prefill steps of up to max_prefill_tokens tokens (`prefillStep`),
 * a decode step of b sequences at context c is `decodeStep(b, c)`. Both per replica (one data
 * replica's stages). A measured profile (issue 17, item 6) will be another `StepTimes`.
 */
import { decodeStep, prefillStep } from '../cost/serve.js';
import { hardwareOf, ratesOf } from '../cost/rates.js';
import type { ServePlan } from '../plan.js';
import type { StepTimes } from './simulate.js';

/** The plan's step times, or the reason they are unknown (a rate the GPU lacks). */
export function costStepTimes(plan: ServePlan): StepTimes | { unknown: string } {
  const rates = ratesOf(hardwareOf(plan));
  const budget = plan.batch.maxPrefillTokens;
  const probe = decodeStep(plan, 1, 1, rates).seconds;
  const probePrefill = prefillStep(plan, 1, 1, rates);
  if (probe === null || probePrefill === null)
    return { unknown: `GPU '${plan.cluster.gpu.id}' lacks a throughput or bandwidth the cost model needs` };
  // Memoized: the simulation asks for the same few sizes many times.
  const prefills = new Map<number, number>();
  const decodes = new Map<string, number>();
  return {
    prefill(tokens) {
      let t = prefills.get(tokens);
      if (t === undefined) {
        const chunks = Math.ceil(tokens / budget);
        t = chunks * (prefillStep(plan, Math.min(tokens, budget), tokens, rates) ?? 0);
        prefills.set(tokens, t);
      }
      return t;
    },
    decode(batch, context) {
      // Context rounded to 16 tokens: the step time is linear in it, and the cache stays small.
      const c = Math.max(1, Math.round(context / 16) * 16);
      const key = `${batch}:${c}`;
      let t = decodes.get(key);
      if (t === undefined) {
        t = decodeStep(plan, batch, c, rates).seconds ?? 0;
        decodes.set(key, t);
      }
      return t;
    },
  };
}
