/**
 * engine = webgpu for training: what parplan's WebGPU runtime will train (issue 16's contract,
 * docs/memory.md "engine = webgpu (training)"): dense GPT-2 and Llama layers, precision fp32 or
 * bf16 (bf16 weights with an fp32 master), fp32 gradients, AdamW or SGD, recompute none or full
 * (every layer), the mesh tensor × pipeline × data with any schedule and ZeRO 0–3. Everything
 * else is refused here, each knob by its own diagnostic at the knob, naming what to use instead.
 */
import { diag } from '../diagnostics/diagnostic.js';
import { layerRuns } from '../model.js';
import { spanOf, type PlanContext } from './context.js';

/** The training recipe the checker already resolved (precision from the model dtype when absent). */
export interface WebgpuTrainRecipe {
  /** The `precision` value as resolved (amp_bf16 stays amp_bf16). */
  recipe: string;
}

export function checkWebgpuTraining(ctx: PlanContext, r: WebgpuTrainRecipe): boolean {
  let ok = true;
  const f = ctx.fields;
  const { model } = ctx;
  const engine = { related: [{ span: spanOf(ctx, 'engine'), message: 'engine = webgpu set here' }] };

  // The model: dense layers of the two families the backward kernels cover.
  const runs = layerRuns(model);
  const modelWhat = [
    [runs.some((x) => x.layer.mlp.kind === 'moe'), 'Mixture-of-Experts layers'],
    [runs.some((x) => x.layer.attention.kind !== 'gqa'), 'multi-head latent attention'],
    [runs.some((x) => x.layer.attention.kind === 'gqa' && x.layer.attention.window !== undefined), 'sliding-window attention'],
    [(model.normsPerLayer ?? 2) !== 2, 'four norms per layer (Gemma)'],
    [model.qkNorm === true, 'q/k norms (Qwen3)'],
    [model.attnSoftcap !== undefined || model.logitSoftcap !== undefined, 'soft-capping (Gemma-2)'],
    [model.scaleEmbeddings === true || model.normOffset !== undefined, "Gemma's scaled embeddings and offset norms"],
    [model.queryPreAttnScalar !== undefined, 'query_pre_attn_scalar'],
    [model.qkvBias === true && model.arch === 'llama', 'q/k/v biases (Qwen2)'],
  ] as const;
  const what = modelWhat.find(([has]) => has)?.[1];
  if (what) {
    ctx.out.push(
      diag(
        'PP3070',
        spanOf(ctx, 'engine'),
        { model: model.name, what },
        {
          help: 'training on engine = webgpu runs dense GPT-2 and Llama layers; use engine = generic to size this plan for a CUDA training engine',
          related: [{ span: model.span, message: `model '${model.name}' declared here` }],
        },
      ),
    );
    ok = false;
  }

  // Dtypes: f32 activations and gradients; weights fp32, or bf16 with an fp32 master copy.
  if (r.recipe !== 'fp32' && r.recipe !== 'bf16') {
    const given = f.has('precision');
    ctx.out.push(
      diag(
        'PP3071',
        given ? spanOf(ctx, 'precision') : model.span,
        { key: given ? 'precision' : `model '${model.name}' dtype`, value: r.recipe },
        { help: 'set precision = bf16 (bf16 weights, fp32 master, fp32 gradients) or precision = fp32', ...engine },
      ),
    );
    ok = false;
  }
  const gradDtype = f.valueOrDefault<string>('grad_dtype');
  if (gradDtype !== 'fp32') {
    ctx.out.push(
      diag('PP3071', spanOf(ctx, 'grad_dtype'), { key: 'grad_dtype', value: gradDtype }, { help: 'remove grad_dtype (fp32)', ...engine }),
    );
    ok = false;
  }

  // Recomputation: none or full of every layer (the backward re-runs one layer's forward at a time).
  const recompute = f.valueOrDefault<string>('recompute');
  if (recompute === 'selective' || recompute === 'selective_op') {
    ctx.out.push(
      diag(
        'PP3072',
        spanOf(ctx, 'recompute'),
        { what: `recompute = ${recompute}` },
        { help: 'use recompute = full (keeps only each layer input) or recompute = none', ...engine },
      ),
    );
    ok = false;
  } else if (
    recompute === 'full' &&
    (f.valueOrDefault<string>('recompute_method') !== 'uniform' || f.valueOrDefault<number>('recompute_layers') !== 1)
  ) {
    const key = f.valueOrDefault<string>('recompute_method') !== 'uniform' ? 'recompute_method' : 'recompute_layers';
    ctx.out.push(
      diag(
        'PP3072',
        spanOf(ctx, key),
        { what: key === 'recompute_method' ? 'recompute_method = block' : `recompute_layers = ${f.valueOrDefault<number>(key)}` },
        {
          help: `remove ${key}: engine = webgpu recomputes every layer from its input (recompute_method = uniform, recompute_layers = 1)`,
          ...engine,
        },
      ),
    );
    ok = false;
  }

  // The optimizers the runtime has kernels for.
  const optimizer = f.valueOrDefault<string>('optimizer');
  if (optimizer !== 'adamw' && optimizer !== 'sgd') {
    ctx.out.push(
      diag(
        'PP3074',
        spanOf(ctx, 'optimizer'),
        { value: optimizer },
        { help: 'use optimizer = adamw (adam with weight_decay 0 is adamw) or optimizer = sgd', ...engine },
      ),
    );
    ok = false;
  }

  // Knobs the training runtime does not have yet, each at its own key.
  const knobs: [key: string, on: boolean, shown: string, help: string][] = [
    ['context', ctx.mesh.context > 1, `context = ${ctx.mesh.context}`, 'remove context (context = 1); split the batch with data instead'],
    ['expert', f.valueOrDefault<number>('expert') > 1, `expert = ${f.valueOrDefault<number>('expert')}`, 'remove expert'],
    [
      'offload',
      f.valueOrDefault<string>('offload') !== 'none',
      `offload = ${f.valueOrDefault<string>('offload')}`,
      'remove offload; zero = 3 shards weights, gradients and optimizer states over data',
    ],
    ['adapter', f.has('adapter'), 'adapter { … } (LoRA)', 'remove the adapter block (every parameter trains)'],
    ['fp8', f.valueOrDefault<string>('fp8') !== 'none', `fp8 = ${f.valueOrDefault<string>('fp8')}`, 'remove fp8'],
    ['sequence_parallel', f.valueOrDefault<boolean>('sequence_parallel'), 'sequence_parallel = true', 'remove sequence_parallel'],
    [
      'shard_group',
      f.has('shard_group'),
      `shard_group = ${f.value<number>('shard_group')}`,
      'remove shard_group (ZeRO shards over every data rank)',
    ],
    ['capacity_factor', f.has('capacity_factor'), 'capacity_factor', 'remove capacity_factor'],
    // KV heads replicated over tensor ranks would need their gradients summed over the replicas: not in the graph yet.
    [
      'tensor',
      runs.some((x) => x.layer.attention.kind === 'gqa' && ctx.mesh.tensor > x.layer.attention.kvHeads),
      `tensor = ${ctx.mesh.tensor} with ${runs[0]!.layer.attention.kind === 'gqa' ? runs[0]!.layer.attention.kvHeads : 0} KV heads (replicated KV heads)`,
      'use a tensor degree of at most kv_heads',
    ],
  ];
  for (const [key, on, shown, help] of knobs) {
    if (!on) continue;
    ctx.out.push(diag('PP3073', spanOf(ctx, key === 'adapter' ? 'adapter' : key), { what: shown }, { help, ...engine }));
    ok = false;
  }
  return ok;
}
