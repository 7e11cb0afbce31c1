/**
 * The checkpoint directory's config.json check where users meet it: createRuntime rejects a
 * checkpoint of another model with RuntimeInputError 'invalid_checkpoint' before it opens a
 * device, and `parplan serve --weights DIR` exits 2 with the differences before WebGPU is
 * loaded; a matching checkpoint directory loads and serves (lavapipe here).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRuntime, RuntimeInputError } from '../../runtime/index.js';
import { llamaConfig } from '../../runtime/reference/model.js';
import { memoryIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';
import { ROOT, TSX } from '../cli/spawn.js';
import { compileTiny, weightsFor, type TinyModel } from '../runtime/models.js';

const LLAMA: TinyModel = {
  plan: 'arch = llama  layers = 2  hidden = 64  heads = 4  kv_heads = 2  ffn = 160  vocab = 97  max_seq = 64  dtype = fp32',
  config: llamaConfig({ layers: 2, hidden: 64, heads: 4, kvHeads: 2, ffn: 160, vocab: 97, maxSeq: 64 }),
};
/** The tiny Llama's config.json as Hugging Face's LlamaConfig writes it (plan defaults: norm_eps 1e-5, rope_theta 10000). */
const CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  num_hidden_layers: 2,
  hidden_size: 64,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 160,
  vocab_size: 97,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  hidden_act: 'silu',
  tie_word_embeddings: false,
  torch_dtype: 'float32',
};

const root = mkdtempSync(join(tmpdir(), 'parplan-ckpt-runtime-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const graph = compileTiny(LLAMA, { tensor: 1, pipeline: 1, data: 1 });
const graphFile = join(root, 'llama.graph.json');
writeFileSync(graphFile, JSON.stringify(graph));

/** A checkpoint directory: the tiny Llama's weights as model.safetensors, and `config` as config.json. */
function checkpoint(name: string, config: object): string {
  const dir = join(root, name);
  mkdirSync(dir);
  copyFileSync(weightsFor(LLAMA).path, join(dir, 'model.safetensors'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}
/** `config.json:line:col` of a field's value, found by searching the file's text. */
function at(dir: string, config: object, field: string): string {
  const lines = JSON.stringify(config, null, 2).split('\n');
  const line = lines.findIndex((l) => l.includes(`"${field}":`));
  return `${join(dir, 'config.json')}:${line + 1}:${lines[line]!.indexOf(':') + 3}`;
}
const GOOD = checkpoint('good', CONFIG);
const BAD_CONFIG = { ...CONFIG, rms_norm_eps: 1e-6, rope_theta: 500000 };
const BAD = checkpoint('bad', BAD_CONFIG);

describe('createRuntime', () => {
  it('a checkpoint of another model: invalid_checkpoint, every difference, before any device is touched', async () => {
    // Any use of the devices (opening, allocating) would throw this instead.
    const untouchable = new Proxy([], {
      get() {
        throw new Error('a device was used');
      },
    });
    const e = await createRuntime(graph, { weights: BAD, devices: untouchable }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(RuntimeInputError);
    const err = e as RuntimeInputError;
    expect(err.code).toBe('invalid_checkpoint');
    const config = join(BAD, 'config.json');
    expect(err.message).toContain(`the checkpoint's ${config} does not match the graph's model 'm' (2 differences):`);
    expect(err.message).toContain(`${at(BAD, BAD_CONFIG, 'rms_norm_eps')}: rms_norm_eps (norm_eps): config 0.000001, graph 0.00001`);
    expect(err.message).toContain(`${at(BAD, BAD_CONFIG, 'rope_theta')}: rope_theta: config 500000, graph 10000`);
    expect(err.message).toContain(`help: recompile with hf_config = "${config}" in the plan's model block`);
  });

  it('a directory without config.json: a warning through onWarning, then it loads', { timeout: 120_000 }, async () => {
    const dir = join(root, 'bare');
    mkdirSync(dir);
    copyFileSync(weightsFor(LLAMA).path, join(dir, 'model.safetensors'));
    const warnings: string[] = [];
    const rt = await createRuntime(graph, { weights: dir, onWarning: (w) => warnings.push(w) });
    await rt.close();
    expect(warnings).toEqual([expect.stringContaining(`the checkpoint ${dir} has no config.json`)]);
  });

  it('a matching checkpoint directory loads and generates, with no warning', { timeout: 120_000 }, async () => {
    const warnings: string[] = [];
    const rt = await createRuntime(graph, { weights: GOOD, onWarning: (w) => warnings.push(w) });
    try {
      const { tokens } = await rt.generate([5, 17, 42], { maxNewTokens: 3 });
      expect(tokens).toHaveLength(3);
      // The same weights as a bare file: the same tokens (the config changes nothing it loads).
      const plain = await createRuntime(graph, { weights: weightsFor(LLAMA).path });
      try {
        expect((await plain.generate([5, 17, 42], { maxNewTokens: 3 })).tokens).toEqual(tokens);
      } finally {
        await plain.close();
      }
    } finally {
      await rt.close();
    }
    expect(warnings).toEqual([]);
  });
});

describe('parplan serve --weights DIR', () => {
  const cli = async (args: string[]) => {
    const io = memoryIo({ NO_COLOR: '1' }, ROOT);
    const code = await runCli(['serve', ...args], io);
    return { code, out: io.out(), err: io.err() };
  };

  it('a checkpoint of another model: exit 2, each difference on its line, the fix', async () => {
    const r = await cli([graphFile, '--weights', BAD, '--port', '0']);
    expect(r.code).toBe(2);
    const config = join(BAD, 'config.json');
    expect(r.err).toBe(
      [
        `error: the checkpoint's ${config} does not match the graph's model 'm' (2 differences):`,
        `  ${at(BAD, BAD_CONFIG, 'rms_norm_eps')}: rms_norm_eps (norm_eps): config 0.000001, graph 0.00001`,
        `  ${at(BAD, BAD_CONFIG, 'rope_theta')}: rope_theta: config 500000, graph 10000`,
        `  = help: recompile with hf_config = "${config}" in the plan's model block (keys written beside it override the config): ` +
          `parplan compile /p.plan --plan p (add --root DIR when the checkpoint is outside the plan's repository), or serve a checkpoint made for model 'm'`,
        '',
      ].join('\n'),
    );
    expect(r.out).toBe('');
  });

  it('an unreadable config.json: exit 2 with its position', async () => {
    const dir = checkpoint('broken', CONFIG);
    writeFileSync(join(dir, 'config.json'), '{"model_type": "llama",\n "hidden_size": 6 4}');
    const r = await cli([graphFile, '--weights', dir]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error: cannot check the checkpoint against the graph: ${join(dir, 'config.json')} cannot be read as a model`);
    expect(r.err).toContain(`${join(dir, 'config.json')}:2:19: error[PP2019]: 'config.json' is not valid JSON`);
  });

  it('a matching checkpoint directory serves (the process, until SIGTERM)', { timeout: 120_000 }, async () => {
    const child = spawn(
      process.execPath,
      ['--import', TSX, `${ROOT}src/cli/main.ts`, 'serve', graphFile, '--weights', GOOD, '--port', '0'],
      {
        cwd: ROOT,
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const served = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 90_000);
      child.stdout.on('data', () => {
        if (/^serving plan 'p' on http:\/\/\S+ \(1 device, weights good\)/m.test(out)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      void exit.then(() => resolve(false));
    });
    child.kill('SIGTERM');
    expect(served, `stdout: ${out}\nstderr: ${err}`).toBe(true);
    expect(await exit).toBe(0);
    expect(err).not.toMatch(/warning|error/);
  });
});
