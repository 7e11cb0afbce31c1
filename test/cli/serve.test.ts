/**
 * `parplan serve`: spawned as a process on a tiny GPT-2 graph (WebGPU on whatever adapter
 * is there, lavapipe on CI): it prints where it serves, answers /v1/generate and
 * /v1/stats, and exits 0 on SIGTERM. Graphs it cannot serve (training, engine = generic,
 * not a graph) and bad arguments are usage errors (exit 2) that say how to fix them,
 * reported before WebGPU is loaded; a port in use is exit 1.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run.js';
import { memoryIo } from '../../src/cli/io.js';
import { compileGraphs } from './graphs.js';
import { ROOT, TSX, parplan } from './spawn.js';

const MODEL = `model tiny {
  arch = gpt2  layers = 2  hidden = 64  heads = 4  vocab = 97  max_seq = 64  dtype = fp32
}
cluster one { gpu { name = "lavapipe"  memory = 2 GiB }  gpus = 1 }
`;
const BATCH = 'batch { max_batch = 4  max_wait = 1 ms  seq = 64  queue = 64  max_prefill_tokens = 16 }';
const PLANS = {
  webgpu: `${MODEL}plan tiny_webgpu { model = tiny  cluster = one  mode = serve  engine = webgpu\n  ${BATCH} }\n`,
  generic: `${MODEL}plan tiny_generic { model = tiny  cluster = one  mode = serve\n  ${BATCH} }\n`,
  train: `${MODEL}plan tiny_train { model = tiny  cluster = one  mode = train\n  batch { global = 8  micro = 2  seq = 64 } }\n`,
};

const dir = mkdtempSync(join(tmpdir(), 'parplan-serve-'));
const graphs = compileGraphs(dir, PLANS);

function env(): Record<string, string | undefined> {
  const e: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1' };
  delete e['FORCE_COLOR'];
  return e;
}

interface Served {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `parplan serve …` and resolves once it prints its "serving" and help lines. */
function serve(args: string[], timeoutMs = 45_000): Promise<Served> {
  const child = spawn(process.execPath, ['--import', TSX, `${ROOT}src/cli/main.ts`, 'serve', ...args], { cwd: ROOT, env: env() });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  return new Promise<Served>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no "serving" line within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`));
    }, timeoutMs);
    const check = () => {
      // Both lines (the URL, then the curl example), whatever chunks they arrive in.
      const m = /^serving plan .* on (http:\/\/\S+) .*\n.*Ctrl-C stops\)\n/m.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve({ child, url: m[1]!, stdout: () => out, stderr: () => err, exit });
      }
    };
    child.stdout.on('data', check);
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before serving\nstdout: ${out}\nstderr: ${err}`));
    });
  });
}

/** Runs `parplan serve …` to its exit, in a process. */
function serveToExit(args: string[]) {
  return parplan(['serve', ...args]);
}

/** `node --import tsx ARGS…` to its exit. */
function spawnNode(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', TSX, ...args], { cwd: ROOT, env: env(), encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('parplan serve (process)', () => {
  let s: Served | undefined;
  beforeAll(async () => {
    s = await serve([graphs.webgpu, '--weights', 'random:1', '--port', '0']);
  }, 60_000);
  afterAll(() => {
    if (s && s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  });

  it('prints one serving line with the URL, the devices and the weights, and a curl example', () => {
    const lines = s!.stdout().split('\n');
    expect(lines[0]).toMatch(/^serving plan 'tiny_webgpu' on http:\/\/127\.0\.0\.1:\d+ \(1 device, weights random:1\)$/);
    expect(lines[1]).toContain(`curl -s ${s!.url}/v1/generate -d '{"prompt":[1,2,3],"max_new_tokens":8}'`);
  });

  it('generates max_new_tokens tokens, the same for the same prompt, and reports stats', async () => {
    const ask = async () => {
      const res = await fetch(`${s!.url}/v1/generate`, {
        method: 'POST',
        body: JSON.stringify({ prompt: [5, 17, 42], max_new_tokens: 6 }),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { tokens: number[]; finish: string };
    };
    const [a, b] = await Promise.all([ask(), ask()]);
    expect(a.finish).toBe('length');
    expect(a.tokens).toHaveLength(6);
    for (const t of a.tokens) expect(Number.isInteger(t) && t >= 0 && t < 97).toBe(true);
    expect(b.tokens).toEqual(a.tokens);

    const bad = await fetch(`${s!.url}/v1/generate`, { method: 'POST', body: JSON.stringify({ prompt: [1], max_new_tokens: 100 }) });
    expect(bad.status).toBe(400);

    const stats = (await (await fetch(`${s!.url}/v1/stats`)).json()) as {
      healthy: boolean;
      maxBatch: number;
      requests: { completed: number };
    };
    expect(stats.healthy).toBe(true);
    expect(stats.maxBatch).toBe(4);
    expect(stats.requests.completed).toBe(2);
    expect((await fetch(`${s!.url}/healthz`)).status).toBe(200);
  });

  it('lists the graph model as the OpenAI model; without a tokenizer the text routes answer 501', async () => {
    const models = (await (await fetch(`${s!.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(['tiny']);
    const chat = await fetch(`${s!.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(chat.status).toBe(501);
    expect(((await chat.json()) as { error: { code: string } }).error.code).toBe('no_tokenizer');
    expect((await fetch(`${s!.url}/metrics`)).status).toBe(200);
  });

  it('a second server on the same port exits 1 and says the port is in use', () => {
    const port = new URL(s!.url).port;
    const r = serveToExit([graphs.webgpu, '--weights', 'random:1', '--port', port]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: cannot listen on 127.0.0.1:${port}: the address is in use`);
    expect(r.stderr).toContain('--port 0');
  });

  it('weights that do not load: exit 1, the runtime cannot start', () => {
    const junk = join(dir, 'junk.safetensors');
    writeFileSync(junk, 'not a safetensors file');
    const r = serveToExit([graphs.webgpu, '--weights', junk, '--port', '0']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('error: cannot start the runtime: ');
  });

  it('stops on SIGTERM: exit 0 within a few seconds, port closed', async () => {
    const t0 = Date.now();
    s!.child.kill('SIGTERM');
    const { code, signal } = await s!.exit;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(s!.stderr()).toContain('SIGTERM: stopping');
    expect(s!.stderr()).toContain('stopped');
    await expect(fetch(`${s!.url}/healthz`)).rejects.toThrow();
  });
});

describe('parplan serve: graphs it cannot serve (exit 2, before WebGPU is loaded)', () => {
  it('a training graph: says to set mode = serve and engine = webgpu and recompile', () => {
    const r = serveToExit([graphs.train, '--weights', 'random:1', '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("error: plan 'tiny_train' is a training plan; serve runs serving plans");
    expect(r.stderr).toContain("set mode = serve and engine = webgpu in plan 'tiny_train'");
    expect(r.stderr).toContain(`parplan compile ${join(dir, 'train.plan')} --plan tiny_train`);
    expect(r.stderr).toContain('usage: parplan serve');
  });

  it('a generic-engine graph: says to set engine = webgpu and recompile', () => {
    const r = serveToExit([graphs.generic, '--weights', 'random:1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: plan 'tiny_generic' was compiled for engine = generic; serve runs engine = webgpu graphs");
    expect(r.stderr).toContain(
      `set engine = webgpu in plan 'tiny_generic', then recompile: parplan compile ${join(dir, 'generic.plan')} --plan tiny_generic`,
    );
  });

  it('a missing file', () => {
    const r = serveToExit([join(dir, 'nope.graph.json'), '--weights', 'random:1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: cannot read '${join(dir, 'nope.graph.json')}': no such file`);
  });

  it('check and the error paths of serve do not load WebGPU', () => {
    const probe = join(dir, 'probe.mjs');
    writeFileSync(
      probe,
      "import { createRequire } from 'node:module';\n" +
        "const M = createRequire(import.meta.url)('node:module');\n" +
        "process.on('exit', () => process.stderr.write(`webgpu modules: ${Object.keys(M._cache).filter((k) => /[\\\\/]webgpu[\\\\/]/.test(k)).length}\\n`));\n",
    );
    for (const args of [
      ['check', join(dir, 'webgpu.plan')],
      ['serve', graphs.generic, '--weights', 'random:1'],
    ]) {
      const r = spawnNode(['--import', probe, `${ROOT}src/cli/main.ts`, ...args]);
      expect(r.stderr).toContain('webgpu modules: 0');
    }
    // The probe does see it when it is loaded.
    expect(spawnNode(['--import', probe, '-e', `await import(${JSON.stringify(`${ROOT}runtime/device.ts`)})`]).stderr).toContain(
      'webgpu modules: 1',
    );
  });
});

describe('parplan serve: arguments (in-process)', () => {
  const cli = async (args: string[]) => {
    const io = memoryIo({ NO_COLOR: '1' }, ROOT);
    const code = await runCli(['serve', ...args], io);
    return { code, out: io.out(), err: io.err() };
  };

  it('--help and help serve', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage: parplan serve --weights SPEC \[--port N\] \[--host H\] <file.graph.json>/);
    for (const line of r.out.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
  });

  it.each([
    [[], 'missing the graph to serve'],
    [['a.graph.json'], 'missing --weights'],
    [['a.graph.json', 'b.graph.json', '--weights', 'random:1'], 'serve takes one graph file, got 2'],
    [['g', '--weights', 'random:1', '--port', 'http'], "'http' is not a port"],
    [['g', '--weights', 'random:1', '--port', '70000'], "'70000' is not a port"],
    [['g', '--weights', 'random:1', '--prot', '1'], "unknown option '--prot' for 'serve'"],
    [['g', '--weights', 'random:1', '--served-model-name', ' '], "option '--served-model-name' needs a name"],
  ])('%j → exit 2: %s', async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error: ${message}`);
    expect(r.err).toContain('usage: parplan serve');
  });

  it('a .plan file, a non-graph JSON, several graphs', async () => {
    const notGraph = join(dir, 'other.json');
    writeFileSync(notGraph, '{"hello": 1}');
    const several = join(dir, 'several.json');
    writeFileSync(several, '[{}, {}]');
    expect((await cli([join(dir, 'webgpu.plan'), '--weights', 'random:1'])).err).toContain(
      `compile it first: parplan compile ${join(dir, 'webgpu.plan')} --plan NAME`,
    );
    expect((await cli([notGraph, '--weights', 'random:1'])).err).toContain('is not a parplan graph');
    expect((await cli([several, '--weights', 'random:1'])).err).toContain('holds 2 graphs; serve takes one');
  });

  it('bad or missing weights → exit 2 before any GPU work', async () => {
    const bad = await cli([graphs.webgpu, '--weights', 'random:x']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("error: bad --weights 'random:x': cannot load weights: random:SEED needs a non-negative integer seed");
    const missing = await cli([graphs.webgpu, '--weights', join(dir, 'missing.safetensors')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain(`error: cannot read the weights '${join(dir, 'missing.safetensors')}': no such file or directory`);
  });
});
