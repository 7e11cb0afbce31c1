/**
 * The option types of the builders, derived from the key table: what TypeScript rejects
 * at compile time. `npm run typecheck` (tsc -p tsconfig.test.json) compiles this file, and
 * an `@ts-expect-error` line that is no longer an error fails it; at run time the same
 * values reach the checker, which rejects them with the codes `parplan check` uses.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  analyzePlans,
  cluster,
  model,
  plan,
  type ClusterOptions,
  type GpuId,
  type ModelOptions,
  type PlanOptions,
} from '../../src/index.js';
import { h100Node as node, llama3_8b as llama } from './helpers.js';

const batch = { max_batch: 32, max_wait: '5 ms', seq: 4096 } as const;

const codes = (p: ReturnType<typeof plan>) => analyzePlans([p]).diagnostics.map((d) => d.code);

describe('builder option types', () => {
  it('derive enums, units and catalog names from the facts', () => {
    expectTypeOf<ModelOptions['arch']>().toEqualTypeOf<'llama' | 'gpt2'>();
    expectTypeOf<NonNullable<ModelOptions['dtype']>>().toEqualTypeOf<'fp32' | 'fp16' | 'bf16' | 'fp8' | 'int8' | 'int4'>();
    expectTypeOf<'H100_SXM_80GB'>().toExtend<GpuId>();
    expectTypeOf<'24 GiB'>().toExtend<NonNullable<Extract<ClusterOptions['gpu'], object>['memory']>>();
    expectTypeOf<Extract<PlanOptions, { mode: 'train' }>['schedule']>().toEqualTypeOf<'gpipe' | '1f1b' | 'interleaved' | undefined>();
  });

  it('reject an unknown key at compile time, PP2002 at run time', () => {
    // @ts-expect-error: 'tp' is not a plan key (it is Megatron's name for tensor)
    const p = plan('a', { model: llama, cluster: node, mode: 'serve', tp: 2, batch });
    expect(codes(p)).toContain('PP2002');
  });

  it('reject a wrong enum value at compile time, PP2009 at run time', () => {
    // @ts-expect-error: 'selectiv' is not a recompute mode
    const p = plan('b', { model: llama, cluster: node, mode: 'train', recompute: 'selectiv', batch: { global: 8, seq: 1024 } });
    expect(codes(p)).toContain('PP2009');
  });

  it('reject a size without a unit, and a duration for a size', () => {
    // @ts-expect-error: a size needs a unit
    const bare = plan('c', { model: llama, cluster: node, mode: 'serve', workspace: '256', batch });
    // @ts-expect-error: '5 ms' is a duration, not a size
    const wrong = plan('d', { model: llama, cluster: node, mode: 'serve', workspace: '5 ms', batch });
    expect(codes(bare)).toContain('PP2006');
    expect(codes(wrong)).toContain('PP2007');
  });

  it('reject a key of the other mode, PP2013 at run time', () => {
    // @ts-expect-error: zero is for train plans
    const p = plan('e', { model: llama, cluster: node, mode: 'serve', zero: 1, batch });
    expect(codes(p)).toContain('PP2013');
  });

  it('reject a GPU that is not in the catalog, PP2011 at run time', () => {
    // @ts-expect-error: not a catalog name
    const c = cluster('bad', { gpu: 'H100', gpus: 8 });
    const p = plan('f', { model: llama, cluster: c, mode: 'serve', batch });
    expect(analyzePlans([p]).diagnostics.map((d) => d.code)).toContain('PP2011');
  });

  it('reject a missing required key, PP2003 at run time', () => {
    // @ts-expect-error: vocab and max_seq are required
    const m = model('m', { arch: 'llama', layers: 2, hidden: 64, heads: 4, ffn: 128 });
    const p = plan('g', { model: m, cluster: node, mode: 'serve', batch });
    expect(analyzePlans([p]).diagnostics.map((d) => d.code)).toContain('PP2003');
  });

  it('take references only to builder values', () => {
    // @ts-expect-error: a model is referenced by value, not by name
    const p = plan('h', { model: 'llama3_8b', cluster: node, mode: 'serve', batch });
    // @ts-expect-error: a cluster where a model belongs
    const q = plan('i', { model: node, cluster: node, mode: 'serve', batch });
    expect(p.kind).toBe('plan');
    expect(q.kind).toBe('plan');
  });
});
