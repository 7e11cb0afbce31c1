/**
 * The expert grid: `expert` and `expert_tensor` regroup each pipeline stage's tensor × data
 * ranks (Megatron-Core's MoE parallel folding, megatron/core/parallel_state.py): the same ranks
 * numbered expert tensor (fastest) × expert × expert data. docs/language.md "Expert parallelism"
 * says which ranks form an expert group.
 *
 * expert_tensor defaults by mode: training as Megatron-Core (`--expert-tensor-parallel-size`
 * defaults to the tensor degree); serving as vLLM (FusedMoEParallelConfig.make): with expert = 1
 * each data replica is its own engine and splits the experts over its tensor ranks (tensor), and
 * with expert > 1 the replicas form one engine whose expert groups span them, each expert whole
 * when expert = tensor × data (`--enable-expert-parallel`: EP = TP × DP): tensor × data / expert.
 */
import { diag } from '../diagnostics/diagnostic.js';
import { layerRuns, type MoeMlp } from '../model.js';
import type { ExpertMesh } from '../plan.js';
import { spanOf, type PlanContext } from './context.js';
import { divisors } from '../util/divisors.js';

/** The routed-expert MLP of the model's MoE layers (the first one: buildModel gives them all one shape), if any. */
export function moeOf(model: PlanContext['model']): MoeMlp | undefined {
  for (const r of layerRuns(model)) if (r.layer.mlp.kind === 'moe') return r.layer.mlp;
  return undefined;
}

/** The expert_tensor a plan gets when it does not set it (see the module comment). */
export function defaultExpertTensor(mode: PlanContext['mode'], tensor: number, data: number, expert: number): number {
  return mode === 'serve' && expert > 1 ? (tensor * data) / expert : tensor;
}

/** The plan's expert grid; undefined when it cannot be formed (reported). */
export function checkExperts(ctx: PlanContext): ExpertMesh | undefined {
  const { fields, mesh, model, mode, out } = ctx;
  const ranks = mesh.tensor * mesh.data;
  const moe = moeOf(model);
  if (!moe) {
    for (const key of ['expert', 'expert_tensor']) {
      const e = fields.get(key);
      // `expert = 1` is the default written out: nothing to warn about.
      if (e && !(key === 'expert' && e.value === 1))
        out.push(
          diag(
            'PP3020',
            e.entry.keySpan,
            { key, why: `on model '${model.name}', which has no experts` },
            { help: `expert parallelism splits the routed experts of MoE layers; remove \`${key}\`` },
          ),
        );
    }
    return { tensor: mesh.tensor, expert: 1, data: mesh.data };
  }
  const E = moe.experts;
  const expert = fields.valueOrDefault<number>('expert');
  const etpGiven = fields.value<number>('expert_tensor');
  const related = [{ span: model.span, message: `model '${model.name}' declared here` }];
  const grid = `tensor × data = ${mesh.tensor} × ${mesh.data} = ${ranks}`;
  /** Expert degrees that divide the experts and fit the stage's ranks (with the written expert_tensor, or its default). */
  const fits = (d: number) => {
    const etp = etpGiven ?? defaultExpertTensor(mode, mesh.tensor, mesh.data, d);
    return Number.isInteger(etp) && E % d === 0 && ranks % (d * etp) === 0 && moe.expertFfn % etp === 0;
  };
  const validExperts = divisors(E).filter(fits);
  const listed = (xs: number[]) => xs.join(', ');
  const expertHelp = () =>
    validExperts.length > 0
      ? `valid expert degrees here: ${listed(validExperts)}`
      : `no expert degree fits ${etpGiven !== undefined ? `expert_tensor = ${etpGiven}` : 'these ranks'}`;

  if (E % expert !== 0) {
    out.push(diag('PP3025', spanOf(ctx, 'expert'), { experts: E, expert }, { help: expertHelp(), related }));
    return undefined;
  }
  if (etpGiven === undefined && mode === 'serve' && ranks % expert !== 0) {
    out.push(diag('PP3026', spanOf(ctx, 'expert'), { product: `expert = ${expert}`, grid }, { help: expertHelp() }));
    return undefined;
  }
  const etp = etpGiven ?? defaultExpertTensor(mode, mesh.tensor, mesh.data, expert);
  if (ranks % (expert * etp) !== 0) {
    const validEtp = divisors(ranks / gcd(ranks, expert)).filter((t) => ranks % (expert * t) === 0 && moe.expertFfn % t === 0);
    const key = fields.has('expert') || etpGiven === undefined ? 'expert' : 'expert_tensor';
    const help =
      ranks % expert === 0 && validEtp.length > 0
        ? `with expert = ${expert}, valid expert_tensor degrees: ${listed(validEtp)}; or ${expertHelp()}`
        : expertHelp();
    out.push(
      diag('PP3026', spanOf(ctx, key), { product: `expert × expert_tensor = ${expert} × ${etp} = ${expert * etp}`, grid }, { help }),
    );
    return undefined;
  }
  // expert_ffn vs expert_tensor is PP3035, reported by checkTensor (src/check/tensor.ts) with the same default.
  if (moe.expertFfn % etp !== 0) return undefined;
  if (mode === 'train' && expert > 1) {
    // Megatron-Core refuses both (megatron/core/model_parallel_config.py __post_init__; training/arguments.py).
    if (mesh.tensor > 1 && fields.valueOrDefault<boolean>('sequence_parallel') !== true)
      out.push(
        diag(
          'PP3028',
          spanOf(ctx, 'expert'),
          { expert, tensor: mesh.tensor },
          { help: 'set sequence_parallel = true (tokens are dispatched to experts from their sequence shard)' },
        ),
      );
    const precision = fields.value<string>('precision') ?? (model.dtype === 'fp16' || model.dtype === 'fp32' ? model.dtype : 'bf16');
    if (precision === 'fp16' || precision === 'amp_fp16')
      out.push(
        diag(
          'PP3029',
          spanOf(ctx, fields.has('precision') ? 'precision' : 'expert'),
          { expert },
          { help: 'train in bf16 (precision = bf16), or set expert = 1' },
        ),
      );
  }
  return { tensor: etp, expert, data: ranks / (etp * expert) };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
