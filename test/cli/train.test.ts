/**
 * `parplan train`: every user mistake is a coded usage error (exit 2) that says what is wrong
 * and how to fix it — missing and invalid arguments (PP6010, PP6011), a serving graph or a
 * plan file (PP6012, naming mode = serve), weights that are not there (PP6001), a token file
 * that is missing, in another format, too short or made for a larger vocabulary (PP6013),
 * weights of another model (PP6011) — a graph the executor cannot run yet is PP6014 (exit 1)
 * with its reason, and a valid command trains: a progress line per step, the JSONL log, the
 * saved checkpoint. (The 200-step criterion on GPT-2's vocabulary is test/training/criterion.test.ts.)
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryIo } from '../../src/cli/io.js';
import { compileGraphs } from './graphs.js';
import { runCli } from '../../src/cli/run.js';
import { tokenFileBytes } from '../../runtime/training/data.js';

const MODEL = `model tiny { arch = gpt2  layers = 2  hidden = 64  heads = 4  vocab = 97  max_seq = 64  dtype = fp32 }
cluster one { gpu { name = "lavapipe"  memory = 2 GiB }  gpus = 2 }
`;
const PLANS = {
  train: `${MODEL}plan tiny_train { model = tiny  cluster = one  mode = train  data = 2\n  batch { global = 8  micro = 2  seq = 32 } }\n`,
  webgpu: `${MODEL}plan tiny_webgpu { model = tiny  cluster = one  mode = train  engine = webgpu  grad_clip = 1.0\n  batch { global = 4  micro = 2  seq = 32 } }\n`,
  llama: `model other { arch = llama  layers = 1  hidden = 32  heads = 2  ffn = 64  vocab = 97  max_seq = 64  dtype = fp32 }\ncluster one { gpu { name = "lavapipe"  memory = 2 GiB }  gpus = 1 }\nplan other_train { model = other  cluster = one  mode = train  engine = webgpu\n  batch { global = 2  micro = 2  seq = 16 } }\n`,
  serve: `${MODEL}plan tiny_serve { model = tiny  cluster = one  mode = serve  engine = webgpu  data = 2\n  batch { max_batch = 4  seq = 64 } }\n`,
};

const dir = mkdtempSync(join(tmpdir(), 'parplan-train-'));
const graphs = compileGraphs(dir, PLANS);
const file = (name: string, bytes: Uint8Array | string) => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};
const tokens = file('tokens.bin', tokenFileBytes(Array.from({ length: 500 }, (_, i) => (i * 13) % 97)));
const wide = file('wide.bin', tokenFileBytes(Array.from({ length: 500 }, (_, i) => (i * 13) % 200)));
const short = file('short.bin', tokenFileBytes(Array.from({ length: 20 }, (_, i) => i)));
const text = file('notes.txt', 'plain text, not tokens\n'.repeat(100));

async function train(...args: string[]) {
  const io = memoryIo({ NO_COLOR: '1' }, dir);
  const code = await runCli(['train', ...args], io);
  return { code, err: io.err(), out: io.out() };
}

const ok = ['--weights', 'random:1', '--data', tokens, '--steps', '3', '--lr', '1e-3'];
const without = (flag: string) => {
  const i = ok.indexOf(flag);
  return [...ok.slice(0, i), ...ok.slice(i + 2)];
};
const replaced = (flag: string, value: string) => ok.map((a, i) => (ok[i - 1] === flag ? value : a));

describe('parplan train', () => {
  it('a graph the trainer cannot run yet (the generic engine, two devices): PP6014 with its reason, exit 1', async () => {
    const r = await train(...ok, '--seed', '7', '--log', join(dir, 'never.jsonl'), graphs.train);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'error[PP6014]: the WebGPU runtime cannot train this graph yet: createTrainer takes a training graph compiled with engine = webgpu',
    );
    expect(existsSync(join(dir, 'never.jsonl'))).toBe(false);
  });

  it('a valid command trains: a line per step, one JSON object per step in --log, the checkpoint in --save', async () => {
    const log = join(dir, 'run.jsonl');
    const out = join(dir, 'trained');
    const r = await train(...ok, '--seed', '7', '--save', out, '--log', log, graphs.webgpu);
    expect(r.err).not.toContain('error');
    expect(r.code).toBe(0);
    // Not a TTY: plain lines, one per step.
    expect(r.err.match(/^step [1-3]\/3 {2}loss \d+\.\d{4} {2}grad norm \d+\.\d{3} {2}\d+ tokens\/s$/gm)).toHaveLength(3);
    const lines = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    expect(lines.map((l) => l['step'])).toEqual([1, 2, 3]);
    for (const l of lines) {
      expect(Object.keys(l).sort()).toEqual(['gradNorm', 'loss', 'seconds', 'step', 'tokens']);
      expect(l['tokens']).toBe(4 * 32);
      // Random weights on a 97-token vocabulary: about ln 97 = 4.57.
      expect(Math.abs(l['loss']! - Math.log(97))).toBeLessThan(0.5);
      expect(l['gradNorm']).toBeGreaterThan(0);
    }
    expect(r.out).toMatch(
      /^trained 3 steps in [\d.]+ s \(\d+ tokens\/s\): loss \d+\.\d{4} at step 1, \d+\.\d{4} over the last 3; saved to /,
    );
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config['model_type']).toBe('gpt2');
    // The saved checkpoint is accepted back as --weights (the same model), and trains on.
    const again = await train(...replaced('--weights', out), graphs.webgpu);
    expect(again.err).not.toContain('error');
    expect(again.code).toBe(0);
  });

  it("another model's checkpoint as --weights: PP6011 naming the tensor", async () => {
    const out = join(dir, 'llama-ckpt');
    expect((await train(...ok, '--steps', '1', '--save', out, graphs.llama)).code).toBe(0);
    const r = await train(...replaced('--weights', out), graphs.webgpu);
    expect(r.code).toBe(2);
    expect(r.err).toContain("error[PP6011]: '--weights' needs the weights of model 'tiny' (Hugging Face names)");
    expect(r.err).toMatch(/= help: weights: .* is missing/);
  });

  it.each([
    ['no graph', ok, 'error[PP6010]: parplan train needs the training graph to run', 'parplan compile'],
    ['no --weights', without('--weights'), 'error[PP6010]: parplan train needs --weights (the initial weights)', 'random:SEED'],
    ['no --data', without('--data'), 'error[PP6010]: parplan train needs --data (the token file)', 'scripts/make-tokens.ts'],
    ['no --steps', without('--steps'), 'error[PP6010]: parplan train needs --steps', '--steps 200'],
    ['no --lr', without('--lr'), 'error[PP6010]: parplan train needs --lr', '--lr 3e-4'],
  ])('%s: PP6010', async (_, args, message, help) => {
    const r = await train(...args, ...(args === ok ? [] : [graphs.train]));
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
    expect(r.err).toContain(help);
    expect(r.err).toContain('usage: parplan train');
  });

  it.each([
    ['--steps 0', replaced('--steps', '0'), "'--steps' needs a whole number ≥ 1, found '0'"],
    ['--steps 2.5', replaced('--steps', '2.5'), "'--steps' needs a whole number ≥ 1, found '2.5'"],
    ['--lr 0', replaced('--lr', '0'), "'--lr' needs a number > 0, found '0'"],
    ['--lr fast', replaced('--lr', 'fast'), "'--lr' needs a number > 0, found 'fast'"],
    ['--lr Infinity', replaced('--lr', '1e999'), "'--lr' needs a number > 0, found '1e999'"],
    ['--seed -1', [...ok, '--seed=-1'], "'--seed' needs a whole number from 0 to 4294967295, found '-1'"],
    ['--weights random:x', replaced('--weights', 'random:x'), "'--weights' needs weights ("],
  ])('%s: PP6011', async (_, args, message) => {
    const r = await train(...args, graphs.train);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error[PP6011]: ${message}`);
  });

  it('--save naming a file, --log naming a directory: PP6011 before any step', async () => {
    let r = await train(...ok, '--save', tokens, graphs.train);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error[PP6011]: '--save' needs a directory to write model.safetensors and config.json in, found '${tokens}'`);
    r = await train(...ok, '--log', dir, graphs.train);
    expect(r.err).toContain(`error[PP6011]: '--log' needs a file, found '${dir}'`);
  });

  it('two graphs: PP6011', async () => {
    const r = await train(...ok, graphs.train, graphs.train);
    expect(r.err).toContain("error[PP6011]: 'graph' needs one graph file");
  });

  it('a serving graph: PP6012 naming mode = serve, and the command that serves it', async () => {
    const r = await train(...ok, graphs.serve);
    expect(r.code).toBe(2);
    expect(r.err).toContain(
      `error[PP6012]: '${graphs.serve}' cannot be trained: it is the graph of plan 'tiny_serve' with mode = serve, and train runs plans with mode = train`,
    );
    expect(r.err).toContain(`= help: serve it instead: parplan serve --weights SPEC ${graphs.serve}`);
  });

  it.each([
    ['a plan file', () => join(dir, 'train.plan'), 'it is a plan, not a compiled graph'],
    ['not JSON', () => file('x.graph.json', 'nope'), 'it is not JSON'],
    ['several graphs', () => file('two.graph.json', '[{}, {}]'), 'it holds 2 graphs; train takes one'],
    ['other JSON', () => file('other.json', '{"a": 1}'), "it is not a parplan graph (no format 'parplan-graph' and plan)"],
  ])('%s: PP6012', async (_, path, reason) => {
    const r = await train(...ok, path());
    expect(r.code).toBe(2);
    expect(r.err).toContain(`cannot be trained: ${reason}`);
  });

  it('a missing graph or weights: PP6001', async () => {
    expect((await train(...ok, join(dir, 'none.graph.json'))).err).toContain("error[PP6001]: cannot read '");
    const r = await train(...replaced('--weights', join(dir, 'no-checkpoint')), graphs.train);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error[PP6001]: cannot read '${join(dir, 'no-checkpoint')}': no such file or directory`);
  });

  it.each([
    ['missing', () => join(dir, 'none.bin'), 'no such file', 'scripts/make-tokens.ts'],
    ['text, not tokens', () => text, 'not a token file: it starts with', "llm.c's format"],
    [
      'too short for one window of seq + 1',
      () => short,
      'its 20 tokens are too short for one sequence of seq 32 + 1 = 33 tokens',
      'longer',
    ],
    ['a token ≥ vocab', () => wide, "token 8 (byte 1040) is 104, outside the model's vocabulary (0 … 96)", 'another tokenizer'],
  ])('token file %s: PP6013', async (_, path, reason, help) => {
    const r = await train(...replaced('--data', path()), graphs.train);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error[PP6013]: cannot use the token file '${path()}': ${reason}`);
    expect(r.err).toContain(help);
  });

  it('--help', async () => {
    const r = await train('--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('usage: parplan train --weights SPEC --data FILE --steps N --lr X');
  });
});
