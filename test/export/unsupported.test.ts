/** What an engine cannot express is an error or a warning naming the knob and the engine, at the knob. */
import { describe, expect, it } from 'vitest';
import { exportText, servePlan, show, trainPlan } from './helpers.js';

const codes = (r: { diagnostics: { code: string; severity: string; message: string }[] }) =>
  r.diagnostics.map((d) => `${d.severity}[${d.code}] ${d.message}`);

describe('mode', () => {
  it('vLLM refuses a training plan and torchtitan a serving plan: PP8001, nothing written', () => {
    const v = exportText('vllm', trainPlan(''));
    expect(codes(v)).toEqual(["error[PP8001] vLLM runs serve plans, and plan 't' is a train plan"]);
    expect(v.files).toEqual([]);
    const t = exportText('torchtitan', servePlan(''));
    expect(codes(t)).toEqual(["error[PP8001] torchtitan runs train plans, and plan 's' is a serve plan"]);
  });
});

describe('vLLM', () => {
  it('max_wait and queue have no equivalent: warnings at the values written', () => {
    const r = exportText('vllm', servePlan('', 'max_batch = 16  seq = 4096  max_wait = 2 ms  queue = 10'));
    expect(show(r.diagnostics).filter((d) => d.includes('PP8003'))).toEqual([
      'warning[PP8003] 11:50: vLLM runs max_wait = 2 ms differently: continuous batching admits requests at every step and never waits for a batch to fill',
      'warning[PP8003] 11:64: vLLM runs queue = 10 differently: it queues every request it receives, with no bound',
    ]);
    expect(r.files).toHaveLength(1);
  });

  it('a KV dtype --kv-cache-dtype lacks is an error; fp8 maps to fp8', () => {
    expect(codes(exportText('vllm', servePlan('kv_dtype = fp32')))).toContain(
      'error[PP8002] vLLM cannot express kv_dtype = fp32: --kv-cache-dtype has no fp32 value at main@99d7eb5d6a51 (its choices: auto, bfloat16, fp8, fp8_e4m3, fp8_e5m2; auto is the model dtype)',
    );
    expect(exportText('vllm', servePlan('kv_dtype = fp8')).files[0]!.text).toContain('--kv-cache-dtype fp8');
  });

  it('a prefill budget below max_batch is an error; below seq turns on chunked prefill', () => {
    expect(codes(exportText('vllm', servePlan('', 'max_batch = 16  seq = 4096  max_prefill_tokens = 8')))[1]).toMatch(
      /^error\[PP8002\] vLLM cannot express max_prefill_tokens = 8/,
    );
    expect(exportText('vllm', servePlan('', 'max_batch = 16  seq = 4096  max_prefill_tokens = 1024')).files[0]!.text).toContain(
      '--enable-chunked-prefill',
    );
  });

  it('uneven stages become VLLM_PP_LAYER_PARTITION; reserve becomes --gpu-memory-utilization', () => {
    const text = exportText('vllm', servePlan('pipeline = 2  stages = [0..11, 12..31]  reserve = 8%')).files[0]!.text;
    expect(text).toContain('VLLM_PP_LAYER_PARTITION=12,20 vllm serve');
    expect(text).toContain('--gpu-memory-utilization 0.92');
  });

  it('--model fills in the model and drops the placeholder note', () => {
    const r = exportText('vllm', servePlan(''), { model: 'meta-llama/Meta-Llama-3-8B' });
    expect(r.diagnostics).toEqual([]);
    expect(r.files[0]!.text).toContain('vllm serve meta-llama/Meta-Llama-3-8B');
  });
});

describe('Megatron-LM', () => {
  it('ZeRO-3 is Megatron-FSDP optim_grads_params, with the checkpoint format it asserts', () => {
    const text = exportText('megatron', trainPlan('data = 8  zero = 3'), { model: 'x' }).files[0]!.text;
    expect(text).toContain('--use-megatron-fsdp\n  --data-parallel-sharding-strategy optim_grads_params\n  --ckpt-format fsdp_dtensor');
    expect(text).not.toContain('CUDA_DEVICE_MAX_CONNECTIONS');
  });

  it('uneven stages become a layout string; a hand-written table is an error', () => {
    expect(exportText('megatron', trainPlan('pipeline = 2  stages = [0..9, 10..31]'), { model: 'x' }).files[0]!.text).toContain(
      "--pipeline-model-parallel-layout 'Et*10|t*22L'",
    );
    const table = exportText(
      'megatron',
      trainPlan('pipeline = 2  precision = fp32  actions = ["0F0 0F1 0B0 0B1", "1F0 1B0 1F1 1B1"]', 'global = 2  seq = 512'),
    );
    expect(codes(table)).toContain(
      'error[PP8002] Megatron-LM cannot express a hand-written actions table: its pipeline schedules are 1F1B and interleaved 1F1B, chosen by flags',
    );
    expect(table.files).toEqual([]);
  });

  it('a gradient dtype that is neither the training dtype nor fp32 is an error', () => {
    expect(codes(exportText('megatron', trainPlan('precision = bf16  grad_dtype = fp16')))).toContain(
      'error[PP8002] Megatron-LM cannot express grad_dtype = fp16: with precision = bf16 its gradients are bf16 or fp32',
    );
  });
});

describe('torchtitan', () => {
  it('ZeRO-1 runs as FSDP with reshard_after_forward = never: a warning at zero', () => {
    const r = exportText('torchtitan', trainPlan('data = 8  zero = 1'), { model: '8B' });
    expect(show(r.diagnostics)).toEqual([
      'warning[PP8003] 10:20: torchtitan runs zero = 1 differently: FSDP has no stage that shards only optimizer states; it runs as zero = 2 (gradients sharded too), which needs less memory',
    ]);
    expect(r.files[0]!.text).toContain('data_parallel_shard_degree = 8\nfsdp_reshard_after_forward = "never"');
  });

  it('fp16 and 16-bit gradients are errors; a hand-written table becomes a schedule CSV', () => {
    expect(codes(exportText('torchtitan', trainPlan('precision = fp16')))).toContain(
      'error[PP8002] torchtitan cannot express precision = fp16: its mixed_precision_param is bfloat16 or float32',
    );
    const t = exportText(
      'torchtitan',
      trainPlan('pipeline = 2  precision = fp32  actions = ["0F0 0F1 0B0 0B1", "1F0 1B0 1F1 1B1"]', 'global = 2  seq = 512'),
      { model: '8B' },
    );
    expect(t.files.map((f) => f.name)).toEqual(['t.torchtitan.toml', 't.torchtitan.sh', 't.schedule.csv']);
    expect(t.files[2]!.text).toBe('0F0,0F1,0B0,0B1\n1F0,1B0,1F1,1B1\n');
    expect(t.files[0]!.text).toContain(
      'pipeline_parallel_schedule = "PipelineScheduleSingle"\npipeline_parallel_schedule_csv = "t.schedule.csv"',
    );
  });
});

describe('DeepSpeed', () => {
  it('ZeRO-2 with pipelining is an error (DeepSpeed asserts it); the stage count is a warning', () => {
    const r = exportText('deepspeed', trainPlan('pipeline = 2  data = 4  zero = 2'));
    expect(codes(r)).toEqual([
      'error[PP8002] DeepSpeed cannot express zero = 2 with pipeline = 2: its pipeline engine asserts that ZeRO-2 and ZeRO-3 are incompatible with pipeline parallelism',
      "warning[PP8003] DeepSpeed runs pipeline = 2 differently: the config has no stage count: build the model as PipelineModule(layers, num_stages=2, partition_method='uniform') in the training script",
    ]);
  });

  it('the batch triple, ZeRO stage and gradient dtype land in the JSON', () => {
    const r = exportText('deepspeed', trainPlan('data = 8  zero = 3  grad_dtype = bf16', 'global = 64  micro = 2  seq = 2048'));
    expect(JSON.parse(r.files[0]!.text)).toEqual({
      train_batch_size: 64,
      train_micro_batch_size_per_gpu: 2,
      gradient_accumulation_steps: 4,
      zero_optimization: { stage: 3 },
      bf16: { enabled: true },
      fp16: { enabled: false },
      data_types: { grad_accum_dtype: 'bf16' },
      optimizer: { type: 'AdamW' },
    });
  });

  it('two nodes: a hostfile and deepspeed --hostfile', () => {
    const r = exportText('deepspeed', trainPlan('data = 16  zero = 1').replace('cluster = node', 'cluster = two'));
    expect(r.files.map((f) => f.name)).toEqual(['t.deepspeed.json', 't.hostfile', 't.deepspeed.sh']);
    expect(r.files[1]!.text).toContain('node-0 slots=8\nnode-1 slots=8\n');
    expect(r.files[2]!.text).toContain('deepspeed \\\n  --hostfile "$HERE/t.hostfile" \\\n  --num_nodes 2 \\\n  --num_gpus 8');
  });
});

describe('what the engines need to start, and what they would change silently (issue 15)', () => {
  it('Megatron: the run length and learning rate are placeholders the script checks; the rotary base is always written', () => {
    const r = exportText('megatron', trainPlan('data = 8  zero = 1'));
    const text = r.files[0]!.text;
    expect(text).toContain(': "${TRAIN_ITERS:?set TRAIN_ITERS to the number of training iterations (optimizer steps)}"');
    expect(text).toContain('--train-iters "${TRAIN_ITERS:?');
    expect(text).toContain('--lr "${LR:?set LR to the peak learning rate, e.g. 3e-4}"');
    expect(text).toContain('--rotary-base 10000');
  });

  it('torchtitan: bf16 with tensor or pipeline parallelism and no FSDP is an error naming mixed_precision_param', () => {
    expect(codes(exportText('torchtitan', trainPlan('tensor = 2  data = 4'), { model: 'x' }))).toContain(
      'error[PP8002] torchtitan cannot express training.mixed_precision_param = "bfloat16": with tensor parallelism it applies mixed precision only through FSDP (data_parallel_shard_degree > 1), and without it trains in fp32, which needs more memory than the plan was checked for',
    );
    // FSDP over the data ranks, or one GPU group without TP/PP (autocast), or fp32: no error.
    expect(exportText('torchtitan', trainPlan('tensor = 2  data = 4  zero = 1'), { model: 'x' }).files).toHaveLength(2);
    expect(exportText('torchtitan', trainPlan('data = 8'), { model: 'x' }).files).toHaveLength(2);
    expect(exportText('torchtitan', trainPlan('tensor = 2  data = 4  precision = fp32'), { model: 'x' }).files).toHaveLength(2);
  });

  it('torchtitan: pipeline model parts as module lists, the embedding on the first and norm and output on the last', () => {
    const r = exportText('torchtitan', trainPlan('pipeline = 2  data = 4  zero = 1  schedule = interleaved  virtual = 2'), { model: 'x' });
    const toml = r.files[0]!.text;
    const layers = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `"layers.${from + i}"`).join(', ');
    expect(toml).toContain(
      `module_fqns_per_model_part = [\n  ["tok_embeddings", ${layers(0, 7)}],\n  [${layers(8, 15)}],\n  [${layers(16, 23)}],\n  [${layers(24, 31)}, "norm", "output"],\n]`,
    );
    expect(toml).not.toContain('split_points');
    expect(toml).not.toContain('layers_per_stage');
  });

  it('DeepSpeed: ZeRO-0 with fp32 accumulation of bf16 weights is an error naming grad_dtype', () => {
    expect(codes(exportText('deepspeed', trainPlan('data = 8  grad_dtype = fp32')))).toContain(
      'error[PP8002] DeepSpeed cannot express grad_dtype = fp32 with zero = 0: without ZeRO it accumulates gradients in the bf16 of the weights (data_types.grad_accum_dtype = fp32 raises NotImplementedError at start-up)',
    );
    expect(exportText('deepspeed', trainPlan('data = 8  zero = 1')).files.length).toBeGreaterThan(0);
    expect(exportText('deepspeed', trainPlan('data = 8  grad_dtype = bf16')).files.length).toBeGreaterThan(0);
  });

  it('DeepSpeed: tensor > 1 needs an mpu, said in a warning and in the script', () => {
    const r = exportText('deepspeed', trainPlan('tensor = 2  data = 4  zero = 1'));
    expect(codes(r).some((c) => c.startsWith('warning[PP8003] DeepSpeed runs tensor = 2 differently') && c.includes('mpu='))).toBe(true);
    expect(r.files.find((f) => f.name.endsWith('.sh'))!.text).toContain(
      'pass deepspeed.initialize(..., mpu=...) with get_data_parallel_world_size() = 4',
    );
  });
});
