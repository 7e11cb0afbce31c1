/**
 * Issue 13, items 3, 5, 10 and 11 (what the runtime accepts): checkpoint directories whose
 * links leave them, FIFOs as weights or graphs, hand-edited graphs given to `serve` and
 * `createRuntime`, weights holding NaN, and misuse of the runtime API. Each case asserts
 * the error (its class or exit code, and the first line of its message) and that it comes
 * at once: nothing is allocated, nothing hangs.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { runCli } from '../../src/cli/run.js';
import { memoryIo } from '../../src/cli/io.js';
import { parseServeArgs } from '../../src/cli/commands/serve.js';
import { compilePlan } from '../../src/compile.js';
import { LIMITS } from '../../src/facts/limits.js';
import type { Graph } from '../../src/graph/types.js';
import { checkServingGraph } from '../../src/graph/validate.js';
import { RuntimeInputError, createRuntime } from '../../runtime/index.js';
import { gpt2Config, randomWeights, weightShapes } from '../../runtime/reference/model.js';
import { CheckpointError, WeightsError, forEachWeight, openCheckpoint } from '../../runtime/weights/index.js';
import { safetensorsBytes } from '../weights/write.js';

const base = mkdtempSync(join(tmpdir(), 'parplan-hostile-rt-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** The tiny GPT-2 serving plan of examples/runtime/tiny.plan, compiled in-process. */
function tinyGraph(): Graph {
  const a = analyze(['examples/runtime/tiny.plan']);
  const r = a.results.find((x) => x.plan.name === 'gpt2_tiny_1')!;
  return compilePlan(r.plan, r.memory).graph;
}
const GRAPH = tinyGraph();
const CONFIG = gpt2Config({ layers: 2, hidden: 64, heads: 4, vocab: 97, maxSeq: 64 });

/** The tiny model's weights as a safetensors file (Hugging Face names), `edit` applied first. */
function checkpoint(path: string, edit?: (w: Map<string, Float32Array>) => void): string {
  const weights = randomWeights(CONFIG, 7, 0.1);
  edit?.(weights);
  const shapes = weightShapes(CONFIG);
  writeFileSync(
    path,
    safetensorsBytes(
      Object.fromEntries([...weights].map(([name, data]) => [name, { dtype: 'F32', shape: shapes.get(name) ?? [data.length], data }])),
    ),
  );
  return path;
}

/** `promise`'s rejection (it must reject), and how long it took. */
async function rejection(promise: Promise<unknown>): Promise<{ error: Error; ms: number }> {
  const t0 = performance.now();
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
  return { error, ms: performance.now() - t0 };
}

async function serve(...argv: string[]) {
  const io = memoryIo({ NO_COLOR: '1' });
  const t0 = performance.now();
  const code = await runCli(['serve', '--weights', 'random:1', ...argv], io);
  return { code, err: io.err(), first: io.err().split('\n')[0]!, ms: performance.now() - t0 };
}

describe('item 3: a checkpoint directory is confined to itself', () => {
  const secret = join(base, 'outside.safetensors');
  checkpoint(secret);

  it('a link to a file outside the directory is refused, naming the link', async () => {
    const dir = join(base, 'linked');
    mkdirSync(dir);
    symlinkSync(secret, join(dir, 'model.safetensors'));
    const { error } = await rejection(openCheckpoint([dir]));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message.split('\n')[0]).toBe(
      `${join(dir, 'model.safetensors')}: a symbolic link to ${secret}, outside the checkpoint directory ${dir}; copy the file into the directory instead`,
    );
  });

  it("an index whose shard is a link leaving the index's directory is refused (the path text is inside)", async () => {
    const dir = join(base, 'indexed');
    mkdirSync(dir);
    symlinkSync(secret, join(dir, 'shard-1.safetensors'));
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'wte.weight': 'shard-1.safetensors' } }));
    const { error } = await rejection(openCheckpoint([dir]));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toContain(`${join(dir, 'shard-1.safetensors')}: a symbolic link to ${secret}, outside the checkpoint directory`);
  });

  it('links that stay inside the directory, and a file given by itself, still load', async () => {
    const dir = join(base, 'inside');
    mkdirSync(join(dir, 'blobs'), { recursive: true });
    checkpoint(join(dir, 'blobs', 'abc'));
    symlinkSync(join(dir, 'blobs', 'abc'), join(dir, 'model.safetensors'));
    const ck = await openCheckpoint([dir]);
    expect(ck.names.has('transformer.wte.weight')).toBe(true);
    await ck.close();
    const direct = await openCheckpoint([secret]);
    await direct.close();
  });

  it("a Hugging Face hub cache's snapshot links into its own blobs/ load; a link elsewhere from a snapshot does not", async () => {
    const repo = join(base, 'hub', 'models--org--tiny');
    const snap = join(repo, 'snapshots', 'abc123');
    mkdirSync(join(repo, 'blobs'), { recursive: true });
    mkdirSync(snap, { recursive: true });
    checkpoint(join(repo, 'blobs', 'f00d'));
    symlinkSync('../../blobs/f00d', join(snap, 'model.safetensors'));
    const ck = await openCheckpoint([snap]);
    await ck.close();
    const other = join(repo, 'snapshots', 'evil');
    mkdirSync(other);
    symlinkSync(secret, join(other, 'model.safetensors'));
    expect((await rejection(openCheckpoint([other]))).error.message).toContain('outside the checkpoint directory');
  });
});

describe('item 5: FIFOs and devices are not read as weights or graphs', () => {
  const fifo = join(base, 'weights.fifo');
  execFileSync('mkfifo', [fifo]);

  it('a FIFO as the weights file: refused at once, not a hang', async () => {
    const { error, ms } = await rejection(openCheckpoint([fifo]));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toBe(`${fifo}: it is a FIFO, not a regular file`);
    expect(ms).toBeLessThan(2000);
  });

  it('a FIFO named *.safetensors in a checkpoint directory, and /dev/zero linked in: refused, naming the file', async () => {
    const dir = join(base, 'fifodir');
    mkdirSync(dir);
    execFileSync('mkfifo', [join(dir, 'model.safetensors')]);
    const { error, ms } = await rejection(openCheckpoint([dir]));
    expect(error.message).toBe(`${join(dir, 'model.safetensors')}: it is a FIFO, not a regular file`);
    expect(ms).toBeLessThan(2000);
    const zero = join(base, 'zerodir');
    mkdirSync(zero);
    symlinkSync('/dev/zero', join(zero, 'model.safetensors'));
    expect((await rejection(openCheckpoint([zero]))).error.message).toBe(
      `${join(zero, 'model.safetensors')}: it is a device, not a regular file`,
    );
  });

  it('serve --weights FIFO: exit 2 at once, before any device is opened', async () => {
    const graph = join(base, 'good.graph.json');
    writeFileSync(graph, JSON.stringify(GRAPH));
    const io = memoryIo({ NO_COLOR: '1' });
    const t0 = performance.now();
    const code = await runCli(['serve', '--weights', fifo, graph], io);
    expect(code).toBe(2);
    expect(io.err().split('\n')[0]).toBe(`error: cannot read the weights '${fifo}': it is not a regular file or a directory`);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('serve with a FIFO as the graph: exit 2 at once', async () => {
    const r = await serve(fifo);
    expect(r.code).toBe(2);
    expect(r.first).toBe(`error: cannot read '${fifo}': it is not a regular file`);
    expect(r.ms).toBeLessThan(2000);
  });
});

describe('item 10: a hand-edited graph is refused before anything is allocated', () => {
  const cases: [string, (g: Graph) => void, string][] = [
    [
      'maxBatch 1e9',
      (g) => (g.batch!.maxBatch = 1e9),
      `graph.batch.maxBatch = 1000000000 is over the limit ${LIMITS.runtimeMaxBatch} (LIMITS.runtimeMaxBatch)`,
    ],
    ['maxBatch 0', (g) => (g.batch!.maxBatch = 0), 'graph.batch.maxBatch = 0 must be at least 1'],
    [
      '1,000 devices',
      (g) => (g.devices = Array.from({ length: 1000 }, (_, rank) => ({ ...g.devices[0]!, rank }))),
      `graph.devices = an array of 1000 is over the limit ${LIMITS.runtimeDevices} (LIMITS.runtimeDevices)`,
    ],
    [
      'a data axis of 1,000',
      (g) => (g.mesh.axes.find((a) => a.name === 'data')!.size = 1000),
      `graph.mesh.axes[3].size = 1000 is over the limit ${LIMITS.runtimeDevices} (LIMITS.runtimeDevices)`,
    ],
    ['empty programs', (g) => (g.programs = {}), 'graph.programs = an object has no programs: every device runs one'],
    ['seq 1e9', (g) => (g.batch!.seq = 1e9), 'graph.batch.seq = 1000000000 is over graph.model.maxSeq = 64'],
    ['vocab 0', (g) => (g.model.vocab = 0), 'graph.model.vocab = 0 must be at least 1'],
    ['vocab -5', (g) => (g.model.vocab = -5), 'graph.model.vocab = -5 must be at least 1'],
    [
      'a negative buffer size',
      (g) => (g.buffers!.stage0![3]!.bytes = -8192),
      'graph.buffers["stage0"][3].bytes = -8192 must be at least 0',
    ],
    [
      'maxBatch 4 with the KV cache of 8',
      (g) => (g.batch!.maxBatch = 4),
      'graph.tensors[20].bytes = 262144 must be 2 × maxBatch 4 × seq 64 × 4 KV heads × headDim 16 × 4 B = 131072 (the graph was edited after compiling: recompile the plan)',
    ],
    [
      'a block inside a block',
      (g) => g.blocks['layer.decode']!.push({ op: 'block', block: 'layer.decode', layers: [0, 1] }),
      `graph.blocks["layer.decode"][${GRAPH.blocks['layer.decode']!.length}].op = "block" cannot appear inside a block`,
    ],
  ];

  it('the compiled graph itself is valid', () => expect(checkServingGraph(GRAPH)).toEqual([]));

  it("every graph and runtime limit is in docs/security.md's table", () => {
    const doc = readFileSync('docs/security.md', 'utf8');
    for (const key of Object.keys(LIMITS).filter((k) => /^(graph|runtime)/.test(k))) expect(doc).toContain(`| \`LIMITS.${key}\` |`);
  });

  for (const [name, edit, message] of cases) {
    it(`${name}: serve exits 2 and createRuntime rejects, naming the path and the value`, async () => {
      const g = structuredClone(GRAPH);
      edit(g);
      const file = join(base, `${name.replace(/\W+/g, '-')}.graph.json`);
      writeFileSync(file, JSON.stringify(g));
      const before = process.memoryUsage().rss;
      const r = await serve(file);
      expect(r.code).toBe(2);
      expect(r.first).toBe(
        `error: '${file}' cannot be served: ${message}${r.first.endsWith('problems)') || r.first.endsWith('problem)') ? r.first.slice(r.first.indexOf(' (and ')) : ''}`,
      );
      expect(r.ms).toBeLessThan(3000);
      const { error, ms } = await rejection(createRuntime(g, { weights: 'random:1' }));
      expect(error).toBeInstanceOf(RuntimeInputError);
      expect((error as RuntimeInputError).code).toBe('invalid_graph');
      expect(error.message.startsWith(`cannot serve this graph: ${message}`)).toBe(true);
      expect(ms).toBeLessThan(1000);
      expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
    });
  }

  it('a graph file over LIMITS.graphFileBytes is not read', async () => {
    const file = join(base, 'huge.graph.json');
    writeFileSync(file, '');
    execFileSync('truncate', ['-s', String(LIMITS.graphFileBytes + 1), file]);
    const r = await serve(file);
    expect(r.code).toBe(2);
    expect(r.first).toBe(
      `error: cannot read '${file}': it is ${LIMITS.graphFileBytes + 1} bytes, over the limit of 16 MiB for a graph (LIMITS.graphFileBytes)`,
    );
  });
});

describe('item 11: weights and API misuse', () => {
  it('a NaN weight is refused at load, naming the tensor and the element; allowNonfinite loads it', async () => {
    const path = checkpoint(join(base, 'nan.safetensors'), (w) => {
      w.get('transformer.h.1.ln_2.weight')![5] = NaN;
    });
    const source = { kind: 'safetensors' as const, paths: [path] };
    const { error } = await rejection(forEachWeight(GRAPH, {}, source, () => undefined));
    expect(error).toBeInstanceOf(WeightsError);
    expect(error.message).toBe(
      `cannot load weights: graph tensor layers.1.mlp_norm.weight (transformer.h.1.ln_2.weight in ${path}): element [5] of its shard [64] is NaN; the checkpoint is corrupt (allowNonfinite, or serve --allow-nonfinite, loads it anyway)`,
    );
    let count = 0;
    await forEachWeight(GRAPH, {}, source, () => void count++, { allowNonfinite: true });
    expect(count).toBeGreaterThan(10);
  });

  it('an infinite weight in a transposed matrix: its index in the graph tensor', async () => {
    const path = checkpoint(join(base, 'inf.safetensors'), (w) => {
      w.get('transformer.h.0.mlp.c_fc.weight')![3 * 256 + 7] = -Infinity; // [in 3, out 7] in GPT-2's Conv1D layout
    });
    const { error } = await rejection(forEachWeight(GRAPH, {}, { kind: 'safetensors', paths: [path] }, () => undefined));
    expect(error.message).toMatch(
      /^cannot load weights: graph tensor layers\.0\.mlp\.up\.weight \(transformer\.h\.0\.mlp\.c_fc\.weightᵀ in .*\): element \[7, 3\] of its shard \[256, 64\] is -Infinity;/,
    );
  });

  it('serve --allow-nonfinite is a flag', () => {
    expect(parseServeArgs(['--weights', 'x', '--allow-nonfinite', 'g.json'])).toMatchObject({ allowNonfinite: true });
    expect(parseServeArgs(['--weights', 'x', 'g.json'])).toMatchObject({ allowNonfinite: false });
  });

  it('createRuntime(null), ({}), (graph, null): a RuntimeInputError with a message, not a TypeError', async () => {
    const nul = await rejection(createRuntime(null as never, { weights: 'random:1' }));
    expect(nul.error).toBeInstanceOf(RuntimeInputError);
    expect(nul.error.message).toBe('cannot serve this graph: graph = null must be an object');
    const empty = await rejection(createRuntime({} as never, { weights: 'random:1' }));
    expect(empty.error.message).toBe('cannot serve this graph: graph.format = missing must be "parplan-graph"');
    const opts = await rejection(createRuntime(GRAPH, null as never));
    expect((opts.error as RuntimeInputError).code).toBe('invalid_options');
    expect(opts.error.message).toBe("createRuntime(graph, options) needs options with weights (e.g. { weights: 'random:1' }), not null");
  });

  // The one case that needs a device (lavapipe here): the tiny graph, random weights.
  it('forward checks token ids; generate(null) rejects; calls after close say so', { timeout: 120_000 }, async () => {
    const rt = await createRuntime(GRAPH, { weights: 'random:1' });
    try {
      for (const [bad, shown] of [
        [-1, '-1'],
        [97, '97'],
        [1e9, '1000000000'],
        [1.5, '1.5'],
        [NaN, 'NaN'],
        ['x', '"x"'],
      ] as const) {
        const { error } = await rejection(rt.forward([[1, bad as number]]));
        expect(error).toBeInstanceOf(RuntimeInputError);
        expect((error as RuntimeInputError).code).toBe('invalid_tokens');
        expect(error.message).toBe(`forward: prompts[0][1] = ${shown} is not a token id (an integer from 0 to 96)`);
      }
      const r = rt.generate(null as never, { maxNewTokens: 1 });
      expect(r).toBeInstanceOf(Promise);
      const { error } = await rejection(r);
      expect((error as RuntimeInputError).code).toBe('invalid_tokens');
      expect(error.message).toBe('generate: the prompt must be an array of token ids, not null');
      expect((await rt.forward([[1, 2, 3]]))[0]!.length).toBe(97);
    } finally {
      await rt.close();
    }
    const after = await rejection(rt.forward([[1]]));
    expect(after.error).toBeInstanceOf(RuntimeInputError);
    expect(after.error.message).toBe('forward: the runtime is closed');
    expect((await rejection(rt.generate([1], { maxNewTokens: 1 }))).error.message).toBe('generate: the runtime is closed');
  });
});
