/**
 * The CPU reference model: a full forward pass of a GPT-2-style or Llama-style decoder
 * (prefill over a prompt, decode steps with a KV cache, greedy generation), built from
 * the reference ops (f64 accumulation inside each op, f32 tensors between ops — the
 * same points where the GPU rounds). It is the ground truth for the executor's
 * end-to-end tests.
 *
 * Weights are a `Map<string, Float32Array>` keyed by Hugging Face tensor names:
 *
 * GPT-2 (`GPT2LMHeadModel`; the "transformer." prefix is optional, as in the `gpt2`
 * checkpoint's model.safetensors, which omits it):
 *   transformer.wte.weight [vocab, hidden]      transformer.wpe.weight [maxSeq, hidden]
 *   transformer.h.{i}.ln_1.weight / .bias [hidden]
 *   transformer.h.{i}.attn.c_attn.weight [hidden, 3·hidden]  .bias [3·hidden]   (Conv1D: [in, out], y = x·W + b; q | k | v)
 *   transformer.h.{i}.attn.c_proj.weight [hidden, hidden]    .bias [hidden]
 *   transformer.h.{i}.ln_2.weight / .bias
 *   transformer.h.{i}.mlp.c_fc.weight [hidden, ffn]          .bias [ffn]
 *   transformer.h.{i}.mlp.c_proj.weight [ffn, hidden]        .bias [hidden]
 *   transformer.ln_f.weight / .bias;  lm_head.weight [vocab, hidden] only when not tied
 * Semantics: learned absolute positions; pre-LN blocks x += attn(ln_1(x)); x += mlp(ln_2(x));
 * LayerNorm eps 1e-5; gelu_new (tanh approximation); scale 1/√headDim; ln_f; logits = x·wteᵀ.
 *
 * Llama family (`LlamaForCausalLM`, `MistralForCausalLM`, `Qwen2ForCausalLM`, `Qwen3ForCausalLM`):
 *   model.embed_tokens.weight [vocab, hidden]
 *   model.layers.{i}.input_layernorm.weight [hidden]
 *   model.layers.{i}.self_attn.q_proj.weight [heads·headDim, hidden]  (nn.Linear: [out, in])
 *   model.layers.{i}.self_attn.k_proj.weight / v_proj.weight [kvHeads·headDim, hidden]
 *   model.layers.{i}.self_attn.{q,k,v}_proj.bias  (Qwen2: `qkvBias`)
 *   model.layers.{i}.self_attn.q_norm.weight / k_norm.weight [headDim]  (Qwen3: `qkNorm`)
 *   model.layers.{i}.self_attn.o_proj.weight [hidden, heads·headDim]
 *   model.layers.{i}.post_attention_layernorm.weight [hidden]
 *   model.layers.{i}.mlp.gate_proj.weight / up_proj.weight [ffn, hidden];  mlp.down_proj.weight [hidden, ffn]
 *   model.norm.weight [hidden];  lm_head.weight [vocab, hidden] unless tied (then embed_tokens)
 *   Gemma-2 (`Gemma2ForCausalLM`, four norms per layer): post_attention_layernorm is the attention
 *   output's norm, pre_feedforward_layernorm / post_feedforward_layernorm the MLP's input's and output's.
 * MoE layers (`MixtralForCausalLM`, `Qwen3MoeForCausalLM`; the spelling is `moeNaming`), in place of mlp.*:
 *   Mixtral: model.layers.{i}.block_sparse_moe.gate.weight [experts, hidden];
 *     block_sparse_moe.experts.{e}.w1.weight (gate) / w3.weight (up) [expertFfn, hidden], w2.weight (down) [hidden, expertFfn]
 *   Qwen3-MoE: model.layers.{i}.mlp.gate.weight [experts, hidden];
 *     mlp.experts.{e}.gate_proj.weight / up_proj.weight [expertFfn, hidden], down_proj.weight [hidden, expertFfn]
 *   Semantics: reference/moe.ts (softmax router, top-k, renormalised when normTopK, weighted SwiGLU experts).
 * Semantics: RMSNorm with the config's eps; rotate-half RoPE on q and k with the config's theta
 * and scaling (none, linear, llama3: `ropeInvFreq`); grouped-query attention, causal, within
 * the layer's sliding window where it has one (Mistral: a query sees `window` positions, itself
 * included); SwiGLU MLP down(silu(gate(x)) · up(x)); Qwen2's q/k/v biases; Qwen3's RMSNorm of
 * each head of q and k over head_dim (eps as the model's) before RoPE.
 * Gemma-2 (gemma2/modeling_gemma2.py, read at transformers commit 006e86931247; later releases the same
 * semantics, the alternation stated as `layer_types`): RMSNorm × (norm_offset + weight), float32 in HF;
 * each sublayer's output normed before its residual add; GeGLU down(gelu_tanh(gate(x)) · up(x));
 * scores × query_pre_attn_scalar^−½, then cap · tanh(s / cap) before the mask; embeddings ×
 * √hidden rounded to the weights' dtype (`embeddingNormalizer`); final logits cap · tanh(z / cap);
 * the window on layers 0, 2, 4, … (model.ts: sliding_window_pattern).
 *
 * Followed from transformers 4.56 (src/transformers/models/…): gpt2/modeling_gpt2.py,
 * llama/modeling_llama.py, mistral/modeling_mistral.py, qwen2/modeling_qwen2.py,
 * qwen3/modeling_qwen3.py, mixtral/modeling_mixtral.py, qwen3_moe/modeling_qwen3_moe.py, modeling_rope_utils.py and masking_utils.py (`sliding_window_overlay`:
 * kv_idx > q_idx − sliding_window). test/reference/oracle.py checks it against plain torch.
 */
import type { TensorFormat } from '../wgsl/dtype.js';
import { add, geglu, softcap, swiglu } from './activations.js';
import { argmax } from './argmax.js';
import { attention, RefKvCache } from './attention.js';
import { embedding, embeddingScale } from './embedding.js';
import { matmul } from './matmul.js';
import { layerNorm, rmsNorm } from './norm.js';
import { mulberry32, normalArray } from '../../src/util/random.js';
import { rope, ropeInvFreq } from './rope.js';
import { gatedMlp, gqaAt, layerRuns, type GqaLayer, type Model, type MoeMlp } from '../../src/model.js';
import { moe } from './moe.js';

export { gpt2Config, llamaConfig, type Arch, type Model } from '../../src/model.js';

/** Throws unless the reference can run `c`: positive sizes, every layer gqa attention and a dense MLP of the arch's activation. */
export function checkConfig(c: Model): void {
  const ints = { layers: c.layers, hidden: c.hidden, vocab: c.vocab, maxSeq: c.maxSeq };
  for (const [k, v] of Object.entries(ints))
    if (!Number.isInteger(v) || v < 1) throw new Error(`model config: ${k} must be a positive integer, got ${v}`);
  for (const { first } of layerRuns(c)) {
    const { attention: a, mlp } = gqaAt(c, first, 'the CPU reference');
    const where = `model config${c.overrides ? ` (layer ${first})` : ''}`;
    const widths = mlp.kind === 'dense' ? { ffn: mlp.ffn } : { experts: mlp.experts, topK: mlp.topK, expertFfn: mlp.expertFfn };
    for (const [k, v] of Object.entries({ heads: a.heads, kvHeads: a.kvHeads, headDim: a.headDim, ...widths })) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`${where}: ${k} must be a positive integer, got ${v}`);
    }
    if (a.heads % a.kvHeads !== 0) throw new Error(`${where}: heads ${a.heads} is not a multiple of kvHeads ${a.kvHeads}`);
    if (a.headDim % 2 !== 0) throw new Error(`${where}: headDim ${a.headDim} must be even`);
    if (c.arch === 'gpt2' ? mlp.activation !== 'gelu' : !gatedMlp(mlp.activation))
      throw new Error(
        `${where}: the ${c.arch} reference has a ${c.arch === 'gpt2' ? 'gelu' : 'swiglu or geglu'} MLP, not ${mlp.activation}`,
      );
    if (mlp.kind === 'moe') {
      if (c.arch !== 'llama') throw new Error(`${where}: the reference runs MoE layers in the llama family only`);
      if (mlp.activation !== 'swiglu') throw new Error(`${where}: the reference's experts are SwiGLU MLPs, not ${mlp.activation}`);
      if (mlp.topK > mlp.experts) throw new Error(`${where}: top-k ${mlp.topK} exceeds the ${mlp.experts} experts`);
      if (mlp.sharedExperts > 0 || mlp.routerBias)
        throw new Error(`${where}: the reference's MoE has no shared experts and no router bias (Mixtral, Qwen3-MoE)`);
    }
    if (c.arch === 'gpt2' && (a.kvHeads !== a.heads || a.heads * a.headDim !== c.hidden)) {
      throw new Error(`${where}: GPT-2 needs kvHeads = heads and heads · headDim = hidden`);
    }
  }
}

/**
 * A Llama-family layer's norms after input_layernorm, as HF names them: the MLP's
 * post_attention_layernorm; with four (Gemma2DecoderLayer) post_attention_layernorm on the
 * attention's output, pre_feedforward_layernorm before the MLP, post_feedforward_layernorm on its output.
 */
function normNames(c: Model): string[] {
  return (c.normsPerLayer ?? 2) === 4
    ? ['post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm']
    : ['post_attention_layernorm'];
}

/** How a MoE checkpoint spells its router and experts: Mixtral's `block_sparse_moe` (w1/w2/w3) or Qwen-MoE's `mlp` (gate/up/down_proj). */
export type MoeNaming = 'mixtral' | 'qwen3_moe';

/** The Hugging Face names of layer p's MoE tensors. */
export function moeNames(p: string, naming: MoeNaming) {
  const m = naming === 'mixtral';
  const base = m ? `${p}.block_sparse_moe` : `${p}.mlp`;
  return {
    router: `${base}.gate.weight`,
    gate: (e: number) => `${base}.experts.${e}.${m ? 'w1' : 'gate_proj'}.weight`,
    up: (e: number) => `${base}.experts.${e}.${m ? 'w3' : 'up_proj'}.weight`,
    down: (e: number) => `${base}.experts.${e}.${m ? 'w2' : 'down_proj'}.weight`,
  };
}

/** Every tensor the model reads: Hugging Face name → shape. */
export function weightShapes(c: Model, opts: { moeNaming?: MoeNaming } = {}): Map<string, number[]> {
  checkConfig(c);
  const s = new Map<string, number[]>();
  const { hidden: h, vocab } = c;
  if (c.arch === 'gpt2') {
    if ((c.normsPerLayer ?? 2) !== 2) throw new Error(`model config: the gpt2 reference has 2 norms per layer, not ${c.normsPerLayer}`);
    s.set('transformer.wte.weight', [vocab, h]);
    s.set('transformer.wpe.weight', [c.maxSeq, h]);
    for (let i = 0; i < c.layers; i++) {
      const { ffn } = denseMlp(gqaAt(c, i, 'the CPU reference'));
      const p = `transformer.h.${i}`;
      s.set(`${p}.ln_1.weight`, [h]);
      s.set(`${p}.ln_1.bias`, [h]);
      s.set(`${p}.attn.c_attn.weight`, [h, 3 * h]);
      s.set(`${p}.attn.c_attn.bias`, [3 * h]);
      s.set(`${p}.attn.c_proj.weight`, [h, h]);
      s.set(`${p}.attn.c_proj.bias`, [h]);
      s.set(`${p}.ln_2.weight`, [h]);
      s.set(`${p}.ln_2.bias`, [h]);
      s.set(`${p}.mlp.c_fc.weight`, [h, ffn]);
      s.set(`${p}.mlp.c_fc.bias`, [ffn]);
      s.set(`${p}.mlp.c_proj.weight`, [ffn, h]);
      s.set(`${p}.mlp.c_proj.bias`, [h]);
    }
    s.set('transformer.ln_f.weight', [h]);
    s.set('transformer.ln_f.bias', [h]);
  } else {
    s.set('model.embed_tokens.weight', [vocab, h]);
    for (let i = 0; i < c.layers; i++) {
      const { attention: a, mlp } = gqaAt(c, i, 'the CPU reference');
      const qd = a.heads * a.headDim;
      const kd = a.kvHeads * a.headDim;
      const p = `model.layers.${i}`;
      s.set(`${p}.input_layernorm.weight`, [h]);
      s.set(`${p}.self_attn.q_proj.weight`, [qd, h]);
      s.set(`${p}.self_attn.k_proj.weight`, [kd, h]);
      s.set(`${p}.self_attn.v_proj.weight`, [kd, h]);
      if (c.bias || c.qkvBias) {
        s.set(`${p}.self_attn.q_proj.bias`, [qd]);
        s.set(`${p}.self_attn.k_proj.bias`, [kd]);
        s.set(`${p}.self_attn.v_proj.bias`, [kd]);
      }
      if (c.qkNorm) {
        s.set(`${p}.self_attn.q_norm.weight`, [a.headDim]);
        s.set(`${p}.self_attn.k_norm.weight`, [a.headDim]);
      }
      s.set(`${p}.self_attn.o_proj.weight`, [h, qd]);
      for (const n of normNames(c)) s.set(`${p}.${n}.weight`, [h]);
      if (mlp.kind === 'moe') {
        const n = moeNames(p, opts.moeNaming ?? 'qwen3_moe');
        s.set(n.router, [mlp.experts, h]);
        for (let e = 0; e < mlp.experts; e++) {
          s.set(n.gate(e), [mlp.expertFfn, h]);
          s.set(n.up(e), [mlp.expertFfn, h]);
          s.set(n.down(e), [h, mlp.expertFfn]);
        }
      } else {
        s.set(`${p}.mlp.gate_proj.weight`, [mlp.ffn, h]);
        s.set(`${p}.mlp.up_proj.weight`, [mlp.ffn, h]);
        s.set(`${p}.mlp.down_proj.weight`, [h, mlp.ffn]);
      }
    }
    s.set('model.norm.weight', [h]);
  }
  if (!c.tiedEmbeddings) s.set('lm_head.weight', [vocab, h]);
  return s;
}

/**
 * Deterministic synthetic weights for `c`: matrices and embeddings ~ N(0, std²) (default
 * 0.02, GPT-2's init; use larger, e.g. 0.2, to make logits spread out), norm gains
 * 1 + N(0, 0.1²) (stored minus the model's norm offset, as Gemma's are), biases N(0, 0.02²) — non-trivial values, so a kernel that ignores a
 * gain or bias is caught.
 */
export function randomWeights(c: Model, seed = 1, std = 0.02, opts: { moeNaming?: MoeNaming } = {}): Map<string, Float32Array> {
  const rand = mulberry32(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of weightShapes(c, opts)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isNorm = /(ln_\d|ln_f|layernorm|norm)\.weight$/.test(name);
    // Gemma's checkpoints store the gain minus norm_offset: the gain itself stays near 1.
    if (isNorm) out.set(name, normalArray(rand, n, 0.1, 1 - (c.normOffset ?? 0)));
    else if (name.endsWith('.bias')) out.set(name, normalArray(rand, n, 0.02));
    else out.set(name, normalArray(rand, n, std));
  }
  return out;
}

export type Weights = ReadonlyMap<string, Float32Array>;

/** One token of a forward call: its id, KV-cache slot and position in its sequence. */
export interface TokenEntry {
  token: number;
  slot: number;
  position: number;
}

/** A model's KV cache: one RefKvCache per layer, [slots, maxSeq, kvHeads, headDim]. */
export interface ModelCache {
  readonly layers: RefKvCache[];
  readonly slots: number;
}

export type TraceFn = (name: string, tensor: Float32Array) => void;

/** A transformer block's steps, as one arch computes them (x: the residual stream). */
interface BlockOps {
  norm1(x: Float32Array): Float32Array;
  qkv(a: Float32Array): { q: Float32Array; k: Float32Array; v: Float32Array };
  attnOut(att: Float32Array, x: Float32Array): Float32Array;
  norm2(x: Float32Array): Float32Array;
  mlpAct(m: Float32Array): Float32Array;
  mlpOut(f: Float32Array, x: Float32Array): Float32Array;
}

export interface ForwardOptions {
  /** Rows of the batch whose logits to compute (default all). */
  logitsRows?: readonly number[];
  /** Called with every intermediate tensor (names like `layer0.attn`, `final_norm`, `logits`). */
  trace?: TraceFn;
}

export class ReferenceModel {
  readonly config: Model;
  private readonly w: Map<string, Float32Array>;
  /** Storage format of the KV cache values (default f32). */
  readonly cacheFormat: TensorFormat;
  /** The spelling of MoE tensors (default Qwen-MoE's). */
  readonly moeNaming: MoeNaming;

  constructor(config: Model, weights: Weights, opts: { cacheFormat?: TensorFormat; moeNaming?: MoeNaming } = {}) {
    checkConfig(config);
    this.config = config;
    this.cacheFormat = opts.cacheFormat ?? 'f32';
    this.moeNaming = opts.moeNaming ?? 'qwen3_moe';
    this.w = new Map();
    const missing: string[] = [];
    for (const [name, shape] of weightShapes(config, { moeNaming: this.moeNaming })) {
      const t = weights.get(name) ?? (name.startsWith('transformer.') ? weights.get(name.slice('transformer.'.length)) : undefined);
      const n = shape.reduce((a, b) => a * b, 1);
      if (!t) missing.push(`${name} [${shape.join(', ')}]`);
      else if (t.length !== n) throw new Error(`weight ${name}: ${t.length} values, expected [${shape.join(', ')}] = ${n}`);
      else this.w.set(name, t);
    }
    if (missing.length > 0)
      throw new Error(`missing weights: ${missing.slice(0, 5).join('; ')}${missing.length > 5 ? ` (and ${missing.length - 5} more)` : ''}`);
  }

  private readonly freqs = new Map<number, Float64Array>();

  /** RoPE's inverse frequencies for head size D: the config's theta and scaling. */
  private invFreq(D: number): Float64Array {
    let f = this.freqs.get(D);
    if (!f) this.freqs.set(D, (f = ropeInvFreq(D, this.config.ropeTheta, this.config.ropeScaling)));
    return f;
  }

  private t(name: string): Float32Array {
    const t = this.w.get(name);
    if (!t) throw new Error(`internal: weight ${name} not loaded`);
    return t;
  }

  newCache(slots: number): ModelCache {
    const c = this.config;
    return {
      slots,
      layers: Array.from({ length: c.layers }, (_, i) => {
        const { kvHeads, headDim } = gqaAt(c, i, 'the CPU reference').attention;
        return new RefKvCache({ slots, maxSeq: c.maxSeq, kvHeads, headDim }, this.cacheFormat);
      }),
    };
  }

  /**
   * Run a batch of tokens (any mix of sequences, as the GPU step does): write every
   * token's K/V into its slot at its position, then attend causally over the slot's
   * cache up to that position. Returns logits [rows, vocab] for `logitsRows` (default
   * every token, in batch order).
   */
  forward(cache: ModelCache, batch: readonly TokenEntry[], opts: ForwardOptions = {}): Float32Array {
    const c = this.config;
    const ids = batch.map((b) => b.token);
    const slots = batch.map((b) => b.slot);
    const positions = batch.map((b) => b.position);
    for (const b of batch) {
      if (!Number.isInteger(b.token) || b.token < 0 || b.token >= c.vocab)
        throw new Error(`token ${b.token} is outside the vocabulary (${c.vocab})`);
      if (!Number.isInteger(b.slot) || b.slot < 0 || b.slot >= cache.slots)
        throw new Error(`slot ${b.slot} is outside the cache (${cache.slots} slots)`);
      if (!Number.isInteger(b.position) || b.position < 0 || b.position >= c.maxSeq)
        throw new Error(`position ${b.position} is outside 0 … ${c.maxSeq - 1}`);
    }
    const trace = opts.trace ?? (() => {});
    const h = c.hidden;
    let x: Float32Array;
    if (c.arch === 'gpt2') {
      x = embedding(ids, this.t('transformer.wte.weight'), h, { positions, table: this.t('transformer.wpe.weight') });
    } else {
      x = embedding(ids, this.t('model.embed_tokens.weight'), h);
      // Gemma: × √hidden, the normalizer in the hidden states' dtype (the weights').
      const s = embeddingScale(c);
      if (s !== undefined) x = x.map((v) => v * s);
    }
    trace('embed', x);
    for (let i = 0; i < c.layers; i++) {
      x = this.layer(i, x, cache.layers[i]!, slots, positions, trace);
    }
    const rows = opts.logitsRows ?? batch.map((_, i) => i);
    const xs = new Float32Array(rows.length * h);
    rows.forEach((r, i) => xs.set(x.subarray(r * h, (r + 1) * h), i * h));
    let normed: Float32Array;
    let head: Float32Array;
    if (c.arch === 'gpt2') {
      normed = layerNorm(xs, rows.length, h, this.t('transformer.ln_f.weight'), this.t('transformer.ln_f.bias'), c.normEps);
      head = c.tiedEmbeddings ? this.t('transformer.wte.weight') : this.t('lm_head.weight');
    } else {
      normed = rmsNorm(xs, rows.length, h, this.t('model.norm.weight'), c.normEps, c.normOffset ?? 0);
      head = c.tiedEmbeddings ? this.t('model.embed_tokens.weight') : this.t('lm_head.weight');
    }
    trace('final_norm', normed);
    let logits = matmul(normed, head, rows.length, c.vocab, h);
    if (c.logitSoftcap !== undefined) logits = softcap(logits, c.logitSoftcap);
    trace('logits', logits);
    return logits;
  }

  /**
   * One transformer block; the steps and trace names are the same for every arch, the
   * weights and ops of each step are the arch's (`blockOps`).
   */
  private layer(i: number, x: Float32Array, kv: RefKvCache, slots: number[], positions: number[], trace: TraceFn): Float32Array {
    const { heads, window } = gqaAt(this.config, i, 'the CPU reference').attention;
    const ops = this.blockOps(i, slots.length, positions, trace);
    const a = ops.norm1(x);
    trace(`layer${i}.norm1`, a);
    const { q, k, v } = ops.qkv(a);
    trace(`layer${i}.q`, q);
    trace(`layer${i}.k`, k);
    trace(`layer${i}.v`, v);
    kv.write(k, v, slots, positions);
    const { headDim } = gqaAt(this.config, i, 'the CPU reference').attention;
    const scale = 1 / Math.sqrt(this.config.queryPreAttnScalar ?? headDim);
    const att = attention(q, kv, heads, slots, positions, scale, window, this.config.attnSoftcap);
    trace(`layer${i}.attn`, att);
    x = ops.attnOut(att, x);
    trace(`layer${i}.attn_residual`, x);
    const m = ops.norm2(x);
    trace(`layer${i}.norm2`, m);
    const f = ops.mlpAct(m);
    trace(`layer${i}.mlp_act`, f);
    x = ops.mlpOut(f, x);
    trace(`layer${i}.out`, x);
    return x;
  }

  /** Layer i's steps for T tokens, on the arch's weight names (the HF checkpoints'). */
  private blockOps(i: number, T: number, positions: number[], trace: TraceFn): BlockOps {
    const c = this.config;
    const h = c.hidden;
    const layer = gqaAt(c, i, 'the CPU reference');
    const at = layer.attention;
    if (c.arch === 'gpt2') {
      const p = `transformer.h.${i}`;
      const norm = (n: string) => (y: Float32Array) => layerNorm(y, T, h, this.t(`${p}.${n}.weight`), this.t(`${p}.${n}.bias`), c.normEps);
      // GPT-2's Conv1D weights are [in, out] and every projection has a bias
      const conv = (n: string, y: Float32Array, N: number, K: number, o: { residual?: Float32Array; activation?: 'gelu' } = {}) =>
        matmul(y, this.t(`${p}.${n}.weight`), T, N, K, { layout: 'kn', bias: this.t(`${p}.${n}.bias`), ...o });
      return {
        norm1: norm('ln_1'),
        qkv: (a) => {
          const qkv = conv('attn.c_attn', a, 3 * h, h);
          const q = new Float32Array(T * h);
          const k = new Float32Array(T * h);
          const v = new Float32Array(T * h);
          for (let t = 0; t < T; t++) {
            q.set(qkv.subarray(t * 3 * h, t * 3 * h + h), t * h);
            k.set(qkv.subarray(t * 3 * h + h, t * 3 * h + 2 * h), t * h);
            v.set(qkv.subarray(t * 3 * h + 2 * h, t * 3 * h + 3 * h), t * h);
          }
          return { q, k, v };
        },
        attnOut: (att, x) => conv('attn.c_proj', att, h, h, { residual: x }),
        norm2: norm('ln_2'),
        mlpAct: (m) => conv('mlp.c_fc', m, denseMlp(layer).ffn, h, { activation: 'gelu' }),
        mlpOut: (f, x) => conv('mlp.c_proj', f, h, denseMlp(layer).ffn, { residual: x }),
      };
    }
    const D = at.headDim;
    const p = `model.layers.${i}`;
    const norm = (n: string) => (y: Float32Array) => rmsNorm(y, T, h, this.t(`${p}.${n}.weight`), c.normEps, c.normOffset ?? 0);
    // Gemma-2: each sublayer's output normed before its residual add.
    const four = (c.normsPerLayer ?? 2) === 4;
    const out = (n: string, y: Float32Array, x: Float32Array) => add(x, norm(n)(y));
    const proj = (a: Float32Array, which: 'q' | 'k' | 'v', heads: number) =>
      matmul(a, this.t(`${p}.self_attn.${which}_proj.weight`), T, heads * D, h, { bias: this.w.get(`${p}.self_attn.${which}_proj.bias`) });
    // Qwen3: every head of q and k RMS-normed over head_dim (one row per token and head), before RoPE.
    const headNorm = (x: Float32Array, which: 'q' | 'k', heads: number) =>
      c.qkNorm ? rmsNorm(x, T * heads, D, this.t(`${p}.self_attn.${which}_norm.weight`), c.normEps, c.normOffset ?? 0) : x;
    const invFreq = this.invFreq(D);
    const rot = (x: Float32Array, heads: number) => rope(x, positions, { heads, headDim: D, invFreq });
    return {
      norm1: norm('input_layernorm'),
      qkv: (a) => {
        const q = rot(headNorm(proj(a, 'q', at.heads), 'q', at.heads), at.heads);
        const k = rot(headNorm(proj(a, 'k', at.kvHeads), 'k', at.kvHeads), at.kvHeads);
        return { q, k, v: proj(a, 'v', at.kvHeads) };
      },
      attnOut: (att, x) =>
        four
          ? out('post_attention_layernorm', matmul(att, this.t(`${p}.self_attn.o_proj.weight`), T, h, at.heads * D), x)
          : matmul(att, this.t(`${p}.self_attn.o_proj.weight`), T, h, at.heads * D, { residual: x }),
      norm2: norm(four ? 'pre_feedforward_layernorm' : 'post_attention_layernorm'),
      ...(layer.mlp.kind === 'moe'
        ? this.moeOps(i, T, layer.mlp, trace)
        : this.denseOps(
            p,
            T,
            denseMlp(layer).ffn,
            layer.mlp.activation,
            four ? (y, x) => out('post_feedforward_layernorm', y, x) : undefined,
          )),
    };
  }

  /** A dense gated MLP (SwiGLU or Gemma's GeGLU); `post` norms its output before the residual add (Gemma-2). */
  private denseOps(
    p: string,
    T: number,
    ffn: number,
    activation: string,
    post: ((y: Float32Array, x: Float32Array) => Float32Array) | undefined,
  ): Pick<BlockOps, 'mlpAct' | 'mlpOut'> {
    const h = this.config.hidden;
    return {
      mlpAct: (m) =>
        (activation === 'geglu' ? geglu : swiglu)(
          matmul(m, this.t(`${p}.mlp.gate_proj.weight`), T, ffn, h),
          matmul(m, this.t(`${p}.mlp.up_proj.weight`), T, ffn, h),
        ),
      mlpOut: (f, x) =>
        post
          ? post(matmul(f, this.t(`${p}.mlp.down_proj.weight`), T, h, ffn), x)
          : matmul(f, this.t(`${p}.mlp.down_proj.weight`), T, h, ffn, { residual: x }),
    };
  }
  /** A MoE MLP: `mlp_act` is the weighted sum of the chosen experts' outputs, `out` adds it to the residual. */
  private moeOps(i: number, T: number, mlp: MoeMlp, trace: TraceFn): Pick<BlockOps, 'mlpAct' | 'mlpOut'> {
    const h = this.config.hidden;
    const n = moeNames(`model.layers.${i}`, this.moeNaming);
    const w = {
      router: this.t(n.router),
      gate: (e: number) => this.t(n.gate(e)),
      up: (e: number) => this.t(n.up(e)),
      down: (e: number) => this.t(n.down(e)),
    };
    return {
      mlpAct: (m) =>
        moe(m, T, h, w, { experts: mlp.experts, topK: mlp.topK, ffn: mlp.expertFfn, normTopK: mlp.normTopK }, (name, t) =>
          trace(`layer${i}.${name}`, t),
        ),
      mlpOut: (f, x) => {
        const out = new Float32Array(x.length);
        for (let j = 0; j < x.length; j++) out[j] = x[j]! + f[j]!;
        return out;
      },
    };
  }

  /** Prefill `prompt` into `slot` at positions start … start+len−1; logits of every prompt position [len, vocab]. */
  prefill(cache: ModelCache, slot: number, prompt: readonly number[], start = 0, opts: ForwardOptions = {}): Float32Array {
    if (prompt.length === 0) throw new Error('prefill: empty prompt');
    return this.forward(
      cache,
      prompt.map((token, i) => ({ token, slot, position: start + i })),
      opts,
    );
  }

  /** One decode step: each entry's token at its position in its slot; logits [batch, vocab] in batch order. */
  decode(cache: ModelCache, batch: readonly TokenEntry[], opts: ForwardOptions = {}): Float32Array {
    return this.forward(cache, batch, opts);
  }

  /**
   * Greedy generation of one sequence: prefill, then decode until `maxNew` tokens, `eos`,
   * or the context is full. Returns the generated tokens (not the prompt).
   */
  generate(prompt: readonly number[], maxNew: number, opts: { eos?: number } = {}): number[] {
    const c = this.config;
    if (prompt.length === 0) throw new Error('generate: empty prompt');
    if (prompt.length > c.maxSeq) throw new Error(`generate: prompt of ${prompt.length} tokens exceeds maxSeq ${c.maxSeq}`);
    const cache = this.newCache(1);
    const out: number[] = [];
    let logits = this.prefill(cache, 0, prompt, 0, { logitsRows: [prompt.length - 1] });
    let pos = prompt.length;
    while (out.length < maxNew) {
      const next = argmax(logits, 1, c.vocab)[0]!;
      out.push(next);
      if (next === opts.eos || pos >= c.maxSeq) break;
      logits = this.decode(cache, [{ token: next, slot: 0, position: pos }]);
      pos++;
    }
    return out;
  }
}

/** Greedy choice per row of logits [rows, vocab]. */
export function greedy(logits: Float32Array, vocab: number): number[] {
  return Array.from(argmax(logits, logits.length / vocab, vocab));
}

/** A layer's dense MLP (the GPT-2 path and the dense Llama MLP read it). */
function denseMlp(layer: GqaLayer): { ffn: number } {
  if (layer.mlp.kind !== 'dense') throw new Error('internal error: a MoE layer read as dense (this is a bug in parplan)');
  return layer.mlp;
}
