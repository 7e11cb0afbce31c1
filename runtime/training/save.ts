/**
 * What `trainer.save(dir)` writes: a Hugging Face checkpoint directory that transformers'
 * `from_pretrained` and the serving runtime (runtime/weights/load.ts, which compares the
 * config with the graph's model first) both load:
 *
 * - `model.safetensors`: every weight under its Hugging Face name (the names of
 *   runtime/reference/model.ts's `weightShapes`), F32, in that order. Format
 *   (https://huggingface.co/docs/safetensors): u64 little-endian header length N, N bytes of
 *   JSON `{ "__metadata__": { "format": "pt" }, NAME: { dtype, shape, data_offsets } … }`
 *   padded with spaces to a multiple of 8 (as the reference writer pads it), then the data.
 * - `config.json`: the fields transformers' GPT2Config / LlamaConfig read
 *   (configuration_gpt2.py, configuration_llama.py, transformers 4.56), from the graph's model.
 *
 * The files are written to a temporary name and renamed, so a crash leaves no half checkpoint
 * under the real names.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gqaAt, layerRuns, type Model } from '../../src/model.js';
import { weightShapes } from '../reference/model.js';

export class SaveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SaveError';
  }
}

/** The config.json of `model` (a GPT-2 or a Llama without the variants' extra facts). */
export function hfConfig(model: Model): Record<string, unknown> {
  const runs = layerRuns(model);
  if (runs.length !== 1) throw new SaveError('saving a model whose layers differ (overrides) is not supported yet');
  const { attention: a, mlp } = gqaAt(model, 0, 'saving a checkpoint');
  if (mlp.kind !== 'dense') throw new SaveError('saving a MoE model is not supported yet');
  const unsupported = [
    model.qkvBias && 'qkv_bias',
    model.qkNorm && 'qk_norm',
    (model.normsPerLayer ?? 2) !== 2 && 'norms_per_layer',
    model.scaleEmbeddings && 'scale_embeddings',
    model.attnSoftcap !== undefined && 'attn_softcap',
    model.logitSoftcap !== undefined && 'logit_softcap',
    model.queryPreAttnScalar !== undefined && 'query_pre_attn_scalar',
    a.window !== undefined && 'sliding_window',
    a.sinks && 'attention_sinks',
    model.quant && 'quantization',
    (model.normOffset ?? 0) !== 0 && 'norm_offset',
  ].filter((x): x is string => typeof x === 'string');
  if (unsupported.length > 0)
    throw new SaveError(`saving a checkpoint of a model with ${unsupported.join(', ')} is not supported yet (GPT-2 and plain Llama only)`);
  if (model.arch === 'gpt2') {
    return {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      n_layer: model.layers,
      n_embd: model.hidden,
      n_head: a.heads,
      n_inner: mlp.ffn,
      n_positions: model.maxSeq,
      n_ctx: model.maxSeq,
      vocab_size: model.vocab,
      layer_norm_epsilon: model.normEps,
      activation_function: 'gelu_new',
      // GPT2Config's dropouts default to 0.1; parplan trains without dropout, so the config says so.
      attn_pdrop: 0,
      embd_pdrop: 0,
      resid_pdrop: 0,
      tie_word_embeddings: model.tiedEmbeddings,
      torch_dtype: 'float32',
    };
  }
  if (mlp.activation !== 'swiglu') throw new SaveError(`saving a Llama with a ${mlp.activation} MLP is not supported yet (swiglu only)`);
  const s = model.ropeScaling;
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    num_hidden_layers: model.layers,
    hidden_size: model.hidden,
    num_attention_heads: a.heads,
    num_key_value_heads: a.kvHeads,
    head_dim: a.headDim,
    intermediate_size: mlp.ffn,
    max_position_embeddings: model.maxSeq,
    vocab_size: model.vocab,
    rms_norm_eps: model.normEps,
    rope_theta: model.ropeTheta,
    rope_scaling: s
      ? s.type === 'llama3'
        ? {
            rope_type: 'llama3',
            factor: s.factor,
            original_max_position_embeddings: s.originalMaxSeq,
            low_freq_factor: s.lowFreqFactor,
            high_freq_factor: s.highFreqFactor,
          }
        : s.type === 'linear'
          ? { rope_type: 'linear', factor: s.factor }
          : unsupportedRope(s.type)
      : null,
    hidden_act: 'silu',
    attention_bias: model.bias,
    mlp_bias: model.bias,
    tie_word_embeddings: model.tiedEmbeddings,
    torch_dtype: 'float32',
  };
}

function unsupportedRope(type: string): never {
  throw new SaveError(`saving a model with rope_scaling = ${type} is not supported yet (linear, llama3)`);
}

/** The bytes of a safetensors file of F32 tensors, in the order given. */
export function safetensorsF32(tensors: ReadonlyArray<readonly [string, readonly number[], Float32Array]>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, shape, data] of tensors) {
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (new TextEncoder().encode(text).length % 8)) % 8);
  const head = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const [, , data] of tensors) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += data.byteLength;
  }
  return out;
}

/**
 * Write `weights` (Hugging Face name → values) and the config of `model` into `dir` (created
 * if missing). Every weight the model has must be there with its shape's number of values, and
 * nothing else: a missing, extra or wrongly sized tensor is a SaveError naming it.
 */
export function saveCheckpoint(dir: string, weights: ReadonlyMap<string, Float32Array>, model: Model): void {
  const config = hfConfig(model);
  const shapes = weightShapes(model);
  const tensors: [string, number[], Float32Array][] = [];
  for (const [name, shape] of shapes) {
    const data = weights.get(name);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!data) throw new SaveError(`weight ${name} [${shape.join(', ')}] is missing`);
    if (data.length !== n) throw new SaveError(`weight ${name} has ${data.length} values, its shape [${shape.join(', ')}] has ${n}`);
    tensors.push([name, shape, data]);
  }
  const extra = [...weights.keys()].filter((n) => !shapes.has(n));
  if (extra.length > 0) throw new SaveError(`weights the model does not have: ${extra.slice(0, 5).join(', ')}`);
  mkdirSync(dir, { recursive: true });
  const put = (name: string, bytes: Uint8Array | string) => {
    const tmp = join(dir, `.${name}.tmp`);
    writeFileSync(tmp, bytes);
    renameSync(tmp, join(dir, name));
  };
  put('model.safetensors', safetensorsF32(tensors));
  put('config.json', JSON.stringify(config, null, 2) + '\n');
}
