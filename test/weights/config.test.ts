/**
 * A checkpoint directory's config.json against the graph's model (runtime/weights/config.ts):
 * a matching config passes; one that differs is refused with every difference named (the
 * config field and plan key, config.json:line:col, both values) and the fix; a config that
 * cannot be read says why, with its position; a directory without one is a warning. The
 * graphs are compiled from plans by the compiler, the expected positions found in the
 * config text here, not taken from the code under test.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { compilePlan } from '../../src/compile.js';
import type { Graph } from '../../src/graph/types.js';
import { CheckpointConfigError, checkCheckpointConfig, checkpointDirs, diffModels, readConfigModel } from '../../runtime/weights/config.js';
import { ROOT } from '../cli/spawn.js';
import { memoryHost } from '../fuzz/mutate.js';

const root = mkdtempSync(join(tmpdir(), 'parplan-ckpt-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A Qwen3 config.json of a tiny model (model_type qwen3: q/k norms, no biases). */
const QWEN3 = {
  architectures: ['Qwen3ForCausalLM'],
  attention_bias: false,
  head_dim: 16,
  hidden_act: 'silu',
  hidden_size: 64,
  intermediate_size: 128,
  max_position_embeddings: 4096,
  max_window_layers: 4,
  model_type: 'qwen3',
  num_attention_heads: 4,
  num_hidden_layers: 4,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  use_sliding_window: false,
  vocab_size: 1000,
};

/** The same model written out as plan keys (not through hf_config): an independent route to the graph. */
const QWEN3_KEYS =
  'arch = llama  layers = 4  hidden = 64  heads = 4  kv_heads = 2  head_dim = 16  ffn = 128  vocab = 1000  max_seq = 4096' +
  '  norm_eps = 1e-6  rope_theta = 1000000  tied_embeddings = true  qk_norm = true  dtype = bf16';

/** Compile a serving plan whose model block is `body` (files: more files beside /p.plan). */
function compile(body: string, files: Record<string, string> = {}): Graph {
  const text = `model m { ${body} }
cluster c { gpu { name = "lavapipe"  memory = 2 GiB }  gpus = 1 }
plan p { model = m  cluster = c  mode = serve  engine = webgpu
  batch { max_batch = 2  seq = 64  max_prefill_tokens = 16 } }
`;
  const a = analyze(['/p.plan'], { host: memoryHost(new Map([['/p.plan', text], ...Object.entries(files)])) });
  const errors = a.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('; '));
  const r = a.results[0]!;
  return compilePlan(r.plan, r.memory).graph;
}

let n = 0;
/** A checkpoint directory holding `config` as config.json (an object is written as JSON, two-space indent). */
function checkpoint(config: object | string | undefined): string {
  const dir = join(root, `ck${n++}`);
  mkdirSync(dir);
  if (config !== undefined) writeFileSync(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return dir;
}

/** `config.json:line:col` of a field's value in the text, found by searching the text. */
function at(dir: string, text: string, field: string): string {
  const lines = text.split('\n');
  const line = lines.findIndex((l) => l.includes(`"${field}":`));
  const col = lines[line]!.indexOf(':', lines[line]!.indexOf(`"${field}"`)) + 3; // after `: `
  return `${join(dir, 'config.json')}:${line + 1}:${col}`;
}

function refusal(graph: Graph, dir: string): CheckpointConfigError {
  try {
    checkCheckpointConfig(graph, { kind: 'safetensors', paths: [dir] });
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointConfigError);
    return e as CheckpointConfigError;
  }
  throw new Error('the check passed');
}

const GRAPH = compile(QWEN3_KEYS);

describe('a matching config.json', () => {
  it('passes: the graph written as plan keys, the checkpoint as Hugging Face wrote it', () => {
    const dir = checkpoint(QWEN3);
    expect(checkCheckpointConfig(GRAPH, { kind: 'safetensors', paths: [dir] })).toEqual({
      checked: [join(dir, 'config.json')],
      warnings: [],
    });
  });

  it('passes for a graph compiled with hf_config from the same file', () => {
    const text = JSON.stringify(QWEN3, null, 2);
    const graph = compile('hf_config = "config.json"', { '/config.json': text });
    expect(checkCheckpointConfig(graph, { kind: 'safetensors', paths: [checkpoint(text)] }).checked).toHaveLength(1);
  });

  it('passes when the plan stores the weights in another dtype or serves shorter sequences than the config allows', () => {
    const graph = compile(QWEN3_KEYS.replace('dtype = bf16', 'dtype = fp32').replace('max_seq = 4096', 'max_seq = 128'));
    expect(checkCheckpointConfig(graph, { kind: 'safetensors', paths: [checkpoint(QWEN3)] }).checked).toHaveLength(1);
  });

  it('an index file stands for its directory; plain safetensors files and random weights are not a checkpoint directory', () => {
    const dir = checkpoint(QWEN3);
    writeFileSync(join(dir, 'model.safetensors.index.json'), '{"weight_map": {}}');
    writeFileSync(join(dir, 'model.safetensors'), '');
    expect(checkpointDirs({ kind: 'safetensors', paths: [join(dir, 'model.safetensors.index.json')] })).toEqual([
      { dir, config: join(dir, 'config.json') },
    ]);
    expect(checkpointDirs({ kind: 'safetensors', paths: [join(dir, 'model.safetensors')] })).toEqual([]);
    expect(checkpointDirs({ kind: 'random', seed: 1 })).toEqual([]);
  });
});

describe('a config.json of another model', () => {
  it('norm eps: names the field, the key, where it is, both values and the fix', () => {
    const text = JSON.stringify({ ...QWEN3, rms_norm_eps: 1e-5 }, null, 2);
    const dir = checkpoint(text);
    const e = refusal(GRAPH, dir);
    expect(e.kind).toBe('mismatch');
    expect(e.lines).toEqual([`${at(dir, text, 'rms_norm_eps')}: rms_norm_eps (norm_eps): config 0.00001, graph 0.000001`]);
    expect(e.headline).toBe(`the checkpoint's ${join(dir, 'config.json')} does not match the graph's model 'm' (1 difference):`);
    expect(e.help).toContain(`recompile with hf_config = "${join(dir, 'config.json')}" in the plan's model block`);
    expect(e.message).toContain(e.lines[0]);
  });

  it('several fields: every difference is listed, not just the first', () => {
    const other = {
      ...QWEN3,
      model_type: 'qwen2', // no q/k norms, q/k/v biases
      num_hidden_layers: 6,
      num_key_value_heads: 4,
      rope_theta: 10000,
      tie_word_embeddings: false,
      hidden_act: 'gelu_pytorch_tanh',
      vocab_size: 1024,
    };
    const text = JSON.stringify(other, null, 2);
    const dir = checkpoint(text);
    const e = refusal(GRAPH, dir);
    const mt = at(dir, text, 'model_type');
    expect(new Set(e.lines)).toEqual(
      new Set([
        `${at(dir, text, 'num_hidden_layers')}: num_hidden_layers (layers): config 6, graph 4`,
        `${at(dir, text, 'vocab_size')}: vocab_size (vocab): config 1024, graph 1000`,
        `${mt}: model_type (qkv_bias): config true, graph false`,
        `${mt}: model_type (qk_norm): config false, graph true`,
        `${at(dir, text, 'tie_word_embeddings')}: tie_word_embeddings (tied_embeddings): config false, graph true`,
        `${at(dir, text, 'rope_theta')}: rope_theta: config 10000, graph 1000000`,
        `${at(dir, text, 'num_key_value_heads')}: num_key_value_heads (kv_heads): config 4, graph 2`,
        `${at(dir, text, 'hidden_act')}: hidden_act (activation): config geglu, graph swiglu`,
      ]),
    );
    expect(e.headline).toContain('(8 differences)');
    expect(e.mismatches.map((m) => m.key).sort()).toEqual(
      ['layers', 'vocab', 'qkv_bias', 'qk_norm', 'tied_embeddings', 'rope_theta', 'kv_heads', 'activation'].sort(),
    );
  });

  it('a sliding window on some layers: the layers are named', () => {
    // Gemma-3-style alternation through layer_types: layers 0–2 slide, layer 3 is full.
    const text = JSON.stringify(
      {
        ...QWEN3,
        use_sliding_window: true,
        sliding_window: 32,
        layer_types: ['sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention'],
      },
      null,
      2,
    );
    const dir = checkpoint(text);
    expect(refusal(GRAPH, dir).lines).toEqual([`${at(dir, text, 'sliding_window')}: sliding_window in layers 0–2: config 32, graph none`]);
  });

  it('rope scaling and a longer context than the config allows', () => {
    const text = JSON.stringify({ ...QWEN3, max_position_embeddings: 32, rope_scaling: { rope_type: 'linear', factor: 4 } }, null, 2);
    const dir = checkpoint(text);
    const lines = refusal(GRAPH, dir).lines;
    expect(lines).toContain(
      `${at(dir, text, 'max_position_embeddings')}: max_position_embeddings (max_seq): config 32, graph 4096 (a graph may be shorter, not longer)`,
    );
    expect(lines.some((l) => /rope_scaling\.rope_type \(rope_scaling\): config linear, graph none$/.test(l))).toBe(true);
    expect(lines).toHaveLength(2);
  });

  it('a field the config leaves out is compared at its default, and said to be absent', () => {
    const { rms_norm_eps: _, ...rest } = QWEN3;
    const dir = checkpoint(rest);
    expect(refusal(GRAPH, dir).lines).toEqual([
      `${join(dir, 'config.json')} (no rms_norm_eps: its default): rms_norm_eps (norm_eps): config 0.00001, graph 0.000001`,
    ]);
  });

  it.each([
    [
      'Qwen3-30B-A3B.json',
      { num_experts_per_tok: 4, moe_intermediate_size: 512 },
      ['experts_per_token: config 4, graph 8', 'expert_ffn: config 512, graph 768'],
    ],
    [
      'Qwen2.5-7B-Instruct-AWQ.json',
      { quantization_config: { quant_method: 'gptq', bits: 4, group_size: 64 } },
      ['quantization: config gptq, graph awq'],
    ],
    [
      'gpt-oss-20b.json',
      { sliding_window: 64 },
      ['sliding_window in layers 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22: config 64, graph 128'],
    ],
  ])('real configs: %s with %j differs in MoE, quantization or window facts', (file, change, expected) => {
    const real = JSON.parse(readFileSync(join(ROOT, 'examples/configs', file), 'utf8')) as object;
    const base = readConfigModel(join(ROOT, 'examples/configs', file), 'm');
    const dir = checkpoint({ ...real, ...change });
    const other = readConfigModel(join(dir, 'config.json'), 'm');
    if (!base.ok || !other.ok) throw new Error('a config did not read');
    expect(
      diffModels(other.model, base.model).map(
        (m) => `${m.key}${m.layers ? ` in layers ${m.layers}` : ''}: config ${m.config}, graph ${m.graph}`,
      ),
    ).toEqual(expected);
  });

  it('Gemma-2: a config written as HF does matches the same model as plan keys; another soft-cap or scalar is named by its field', () => {
    const gemma2 = {
      architectures: ['Gemma2ForCausalLM'],
      attention_bias: false,
      attn_logit_softcapping: 50.0,
      final_logit_softcapping: 30.0,
      head_dim: 16,
      hidden_activation: 'gelu_pytorch_tanh',
      hidden_size: 64,
      intermediate_size: 128,
      max_position_embeddings: 4096,
      model_type: 'gemma2',
      num_attention_heads: 4,
      num_hidden_layers: 4,
      num_key_value_heads: 2,
      query_pre_attn_scalar: 16,
      rms_norm_eps: 1e-6,
      rope_theta: 10000.0,
      sliding_window: 32,
      torch_dtype: 'bfloat16',
      vocab_size: 1000,
    };
    const graph = compile(
      'arch = llama  layers = 4  hidden = 64  heads = 4  kv_heads = 2  head_dim = 16  ffn = 128  vocab = 1000  max_seq = 4096' +
        '  norm_eps = 1e-6  rope_theta = 10000  tied_embeddings = true  activation = geglu  norms_per_layer = 4  norm_offset = 1' +
        '  scale_embeddings = true  attn_softcap = 50  logit_softcap = 30  query_pre_attn_scalar = 16' +
        '  sliding_window = 32  sliding_window_pattern = 2  dtype = bf16',
    );
    expect(() => checkCheckpointConfig(graph, { kind: 'safetensors', paths: [checkpoint(gemma2)] })).not.toThrow();
    const text = JSON.stringify({ ...gemma2, attn_logit_softcapping: 40.0, query_pre_attn_scalar: 256 }, null, 2);
    const dir = checkpoint(text);
    expect(new Set(refusal(graph, dir).lines)).toEqual(
      new Set([
        `${at(dir, text, 'attn_logit_softcapping')}: attn_logit_softcapping (attn_softcap): config 40, graph 50`,
        `${at(dir, text, 'query_pre_attn_scalar')}: query_pre_attn_scalar: config 256, graph 16`,
      ]),
    );
  });

  it('diffModels compares a fact the tables do not know under its own name', () => {
    const a = { ...GRAPH.model, newFact: 1 } as typeof GRAPH.model;
    const b = { ...GRAPH.model, newFact: 2 } as typeof GRAPH.model;
    expect(diffModels(a, b).map((m) => `${m.key}: ${m.config} ${m.graph}`)).toEqual(['newFact: 1 2']);
    expect(diffModels(GRAPH.model, GRAPH.model)).toEqual([]);
  });
});

describe('a config.json that cannot be read', () => {
  it.each([
    [
      'invalid JSON',
      '{\n  "model_type": "qwen3",\n  "hidden_size": 64,,\n}',
      /config\.json:3:21: error\[PP2019\]: 'config\.json' is not valid JSON/,
    ],
    [
      'an unknown model_type',
      JSON.stringify({ ...QWEN3, model_type: 'mamba' }, null, 2),
      /error\[PP2020\]: model_type 'mamba' is not supported/,
    ],
    [
      'a field of the wrong type',
      JSON.stringify({ ...QWEN3, hidden_size: '64' }, null, 2),
      /error\[PP2021\]: config field 'hidden_size' expects a number/,
    ],
    ['not an object', '[1, 2]', /error\[PP2021\]/],
    [
      'larger than the limit',
      `{"model_type": "qwen3", "x": "${'a'.repeat(1024 * 1024)}"}`,
      /error\[PP6001\]: cannot read .*larger than 1 MiB/,
    ],
  ])('%s: says why, where, and refuses', (_, text, pattern) => {
    const dir = checkpoint(text);
    const e = refusal(GRAPH, dir);
    expect(e.kind).toBe('unreadable');
    expect(e.headline).toBe(`cannot check the checkpoint against the graph: ${join(dir, 'config.json')} cannot be read as a model`);
    expect(e.lines.join('\n')).toMatch(pattern);
  });

  it('config.json that is a directory', () => {
    const dir = checkpoint(undefined);
    mkdirSync(join(dir, 'config.json'));
    expect(refusal(GRAPH, dir).lines.join('\n')).toMatch(/cannot read .*config\.json': it is a directory/);
  });

  it('config.json that is a broken link is unreadable, not absent', () => {
    const dir = checkpoint(undefined);
    symlinkSync(join(dir, 'nowhere.json'), join(dir, 'config.json'));
    expect(refusal(GRAPH, dir).lines.join('\n')).toMatch(/cannot read .*config\.json': no such file/);
  });

  it('readConfigModel reads a real config as hf_config compiles it', () => {
    const dir = checkpoint(QWEN3);
    const r = readConfigModel(join(dir, 'config.json'), 'x');
    expect(r.ok && diffModels(r.model, GRAPH.model)).toEqual([]);
  });
});

describe('a checkpoint directory without config.json', () => {
  it('is allowed, with a warning that names the directory and what could not be checked', () => {
    const dir = checkpoint(undefined);
    const r = checkCheckpointConfig(GRAPH, { kind: 'safetensors', paths: [dir] });
    expect(r.checked).toEqual([]);
    expect(r.warnings).toEqual([
      expect.stringContaining(`the checkpoint ${dir} has no config.json: only its tensors' names and shapes are checked`),
    ]);
  });
});
