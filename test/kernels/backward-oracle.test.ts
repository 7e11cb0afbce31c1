/**
 * The backward and optimizer references (runtime/reference/backward.ts, optimizer.ts) against an
 * independent oracle: torch float64 autograd and torch.optim (test/kernels/backward_oracle.py), on
 * odd sizes. Agreement within 1e-9 of each tensor's largest magnitude (f64 with different
 * summation orders agrees to ~1e-15; any formula slip is far larger). Skipped, saying why, when
 * /usr/bin/python3 has no torch.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  attentionBackward,
  attentionTrain,
  biasGrad,
  combineStats,
  crossEntropyGrad,
  crossEntropyStats,
  embeddingBackward,
  geluBackward,
  gluBackward,
  linearGradInput,
  linearGradWeight,
  normBackward,
  normStats,
  ropeBackward,
} from '../../runtime/reference/backward.js';
import { adamwStep, clipFactor, sgdStep, sumSquares } from '../../runtime/reference/optimizer.js';
import { ropeInvFreq } from '../../runtime/reference/rope.js';
import { normal, rng, uniform } from './util.js';

const PYTHON = '/usr/bin/python3';
const ORACLE = fileURLToPath(new URL('./backward_oracle.py', import.meta.url));
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
if (!hasTorch) console.warn(`skipping the backward torch oracle: ${PYTHON} cannot import torch (Debian: apt-get install python3-torch)`);

type Case = Record<string, unknown> & { op: string };
type Result = Record<string, number[]>;

// One oracle process for the file (importing torch costs seconds), a request per line.
let proc: ChildProcessWithoutNullStreams | undefined;
const waiting: ((line: string) => void)[] = [];
function oracleProcess(): ChildProcessWithoutNullStreams {
  if (proc) return proc;
  const p = spawn(PYTHON, [ORACLE, '--lines']);
  let buf = '';
  let err = '';
  p.stdout.setEncoding('utf8');
  p.stdout.on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      waiting.shift()?.(line);
    }
  });
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  p.on('exit', (code) => {
    for (const w of waiting.splice(0)) w(JSON.stringify({ error: err || `exit ${code}` }));
  });
  proc = p;
  return p;
}
afterAll(() => proc?.stdin.end());

async function runOracle(cases: Case[]): Promise<Result[]> {
  const p = oracleProcess();
  const line = await new Promise<string>((resolve) => {
    waiting.push(resolve);
    p.stdin.write(JSON.stringify(cases) + '\n');
  });
  const v = JSON.parse(line) as Result[] | { error: string };
  if (!Array.isArray(v)) throw new Error(`backward_oracle.py failed: ${v.error}`);
  return v;
}

/** |got − want| ≤ 1e-9 · max|want| elementwise. */
function agree(got: ArrayLike<number>, want: ArrayLike<number>, label: string): void {
  expect(got.length, `${label}: length`).toBe(want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!);
    if (!(e <= worst)) [worst, at] = [e, i];
  }
  if (!(worst <= 1e-9 * Math.max(scale, 1e-30)))
    throw new Error(
      `${label}: [${at}] reference ${got[at]} torch ${want[at]} (|err| ${worst.toExponential(2)}, scale ${scale.toExponential(2)})`,
    );
}

const arr = (x: ArrayLike<number>) => Array.from(x);

describe.skipIf(!hasTorch)('backward references against torch float64 autograd', async () => {
  const r = rng(9100);

  it('linear: dX = dY·W, dW += dYᵀX (nk and kn), db += Σ dY', async () => {
    for (const [T, N, K, layout] of [
      [5, 7, 3, 'nk'],
      [9, 4, 6, 'kn'],
    ] as const) {
      const x = normal(r, T * K);
      const w = normal(r, N * K);
      const b = normal(r, N);
      const dy = normal(r, T * N);
      const accW = normal(r, N * K);
      const accB = normal(r, N);
      const [o] = await runOracle([
        { op: 'linear', T, N, K, layout, x: arr(x), w: arr(w), b: arr(b), dy: arr(dy), accW: arr(accW), accB: arr(accB) },
      ]);
      agree(linearGradInput(dy, w, T, N, K, layout), o!['dx']!, `dx ${layout}`);
      agree(linearGradWeight(dy, x, T, N, K, layout, accW), o!['dw']!, `dw ${layout}`);
      agree(biasGrad(dy, T, N, accB), o!['db']!, `db ${layout}`);
    }
  });

  it('layernorm and rmsnorm (offset 0 and 1): dx, dγ, dβ from the saved statistics', async () => {
    for (const [kind, rows, cols, offset] of [
      ['layernorm', 5, 13, 0],
      ['rmsnorm', 4, 9, 0],
      ['rmsnorm', 3, 6, 1],
    ] as const) {
      const eps = 1e-5;
      const x = normal(r, rows * cols, 2);
      const w = uniform(r, cols, 0.5, 1.5);
      const b = uniform(r, cols);
      const dy = normal(r, rows * cols);
      const [o] = await runOracle([{ op: 'norm', kind, rows, cols, eps, offset, x: arr(x), w: arr(w), b: arr(b), dy: arr(dy) }]);
      const st = normStats(kind, x, rows, cols, eps);
      const g = normBackward(kind, x, st.rstd, st.mean, w, dy, rows, cols, { offset });
      agree(g.dx, o!['dx']!, `${kind} dx`);
      agree(g.dweight, o!['dw']!, `${kind} dγ`);
      if (kind === 'layernorm') agree(g.dbias, o!['db']!, `${kind} dβ`);
    }
  });

  it('gelu_new, SwiGLU, GeGLU', async () => {
    const n = 37;
    const x = normal(r, n, 3);
    const gate = normal(r, n, 3);
    const up = normal(r, n);
    const dy = normal(r, n);
    const [og, os, oe] = await runOracle([
      { op: 'act', kind: 'gelu', x: arr(x), dy: arr(dy) },
      { op: 'act', kind: 'swiglu', gate: arr(gate), up: arr(up), dy: arr(dy) },
      { op: 'act', kind: 'geglu', gate: arr(gate), up: arr(up), dy: arr(dy) },
    ]);
    agree(geluBackward(x, dy), og!['dx']!, 'gelu dx');
    for (const [kind, o] of [
      ['swiglu', os],
      ['geglu', oe],
    ] as const) {
      const g = gluBackward(kind, gate, up, dy);
      agree(g.dgate, o!['dgate']!, `${kind} dgate`);
      agree(g.dup, o!['dup']!, `${kind} dup`);
    }
  });

  it('rope backward (−θ), partial rotary dims, llama3-scaled frequencies, a wider row', async () => {
    const [T, heads, headDim, rotaryDim, stride] = [5, 3, 8, 6, 28];
    const invFreq = ropeInvFreq(rotaryDim, 500, { type: 'llama3', factor: 8, originalMaxSeq: 32, lowFreqFactor: 1, highFreqFactor: 4 });
    const positions = [0, 3, 17, 40, 9];
    const dy = normal(r, T * stride);
    const [o] = await runOracle([
      { op: 'rope', T, heads, headDim, rotaryDim, stride, x: arr(normal(r, T * stride)), dy: arr(dy), invFreq: arr(invFreq), positions },
    ]);
    agree(ropeBackward(dy, positions, { heads, headDim, rotaryDim, rowStride: stride, invFreq }), o!['dx']!, 'rope dx');
  });

  it('causal GQA attention: out, lse and dq, dk, dv; two sequences, a sliding window', async () => {
    for (const s of [
      { seq: 7, heads: 4, kvHeads: 2, headDim: 6 },
      { seq: 9, heads: 3, kvHeads: 1, headDim: 4, window: 4 },
    ]) {
      const T = 2 * s.seq;
      const q = normal(r, T * s.heads * s.headDim);
      const k = normal(r, T * s.kvHeads * s.headDim);
      const v = normal(r, T * s.kvHeads * s.headDim);
      const dO = normal(r, T * s.heads * s.headDim);
      const [o] = await runOracle([{ op: 'attention', T, ...s, q: arr(q), k: arr(k), v: arr(v), dO: arr(dO) }]);
      const f = attentionTrain(q, k, v, T, s);
      agree(f.out, o!['out']!, 'attention out');
      agree(f.lse, o!['lse']!, 'attention lse');
      const g = attentionBackward(q, k, v, f.out, f.lse, dO, T, s);
      agree(g.dq, o!['dq']!, 'dq');
      agree(g.dk, o!['dk']!, 'dk');
      agree(g.dv, o!['dv']!, 'dv');
    }
  });

  it('embedding backward: two vocab shards together equal the whole table gradient', async () => {
    const [vocab, hidden] = [11, 5];
    const ids = [3, 7, 3, 10, 0, 5, 3];
    const dx = normal(r, ids.length * hidden);
    const [o] = await runOracle([{ op: 'embedding', vocab, hidden, ids, dx: arr(dx) }]);
    const lo = embeddingBackward(ids, dx, hidden, 6, 0);
    const hi = embeddingBackward(ids, dx, hidden, 5, 6);
    agree([...lo, ...hi], o!['grad']!, 'embedding grad');
  });

  it('vocab-parallel cross-entropy over two shards with padding equals F.cross_entropy', async () => {
    const [T, vocab, shard] = [5, 13, 7]; // two shards of 7: the second holds 6 real columns and 1 padded
    const full = normal(r, T * vocab, 3);
    const labels = [0, 12, 6, 7, 3];
    const scale = 1 / 17;
    const [o] = await runOracle([{ op: 'cross_entropy', T, vocab, logits: arr(full), labels, scale }]);
    const shards = [0, 1].map((s) => {
      const x = new Float64Array(T * shard).fill(1e3); // padding: large, to show the mask
      for (let t = 0; t < T; t++)
        for (let c = 0; c < shard && s * shard + c < vocab; c++) x[t * shard + c] = full[t * vocab + s * shard + c]!;
      return x;
    });
    const st = combineStats(shards.map((x, s) => crossEntropyStats(x, T, shard, s * shard, vocab)));
    const parts = shards.map((x, s) => crossEntropyGrad(x, labels, st.max, st.sumexp, shard, s * shard, vocab, scale));
    const loss = parts[0]!.loss.map((l, t) => l + parts[1]!.loss[t]!);
    const dl = new Float64Array(T * vocab);
    for (let t = 0; t < T; t++)
      for (let c = 0; c < vocab; c++) dl[t * vocab + c] = parts[Math.floor(c / shard)]!.dlogits[t * shard + (c % shard)]!;
    agree(loss, o!['loss']!, 'loss');
    agree(dl, o!['dlogits']!, 'dlogits');
    for (let t = 0; t < T; t++) expect(parts[1]!.dlogits[t * shard + 6], 'padded column').toBe(0);
  });

  it('AdamW and SGD over 3 steps with clip_grad_norm_ (clipping and not)', async () => {
    const n = 23;
    for (const kind of ['adamw', 'sgd'] as const)
      for (const maxNorm of [0.5, 100]) {
        const p0 = normal(r, n);
        const grads = [0, 1, 2].map(() => normal(r, n, 0.7));
        const h = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
        const [o] = await runOracle([{ op: 'optimizer', kind, ...h, maxNorm, p: arr(p0), grads: grads.map(arr) }]);
        const p = Float64Array.from(p0);
        const m = new Float64Array(n);
        const v = new Float64Array(n);
        const norms: number[] = [];
        grads.forEach((g, i) => {
          const c = clipFactor(sumSquares(g), maxNorm);
          norms.push(c.norm);
          if (kind === 'adamw') adamwStep(p, m, v, g, i + 1, h, c.factor);
          else sgdStep(p, g, h.lr, h.weightDecay, c.factor);
        });
        agree(norms, o!['norms']!, `${kind} norms`);
        agree(p, o!['p']!, `${kind} p (max norm ${maxNorm})`);
        if (kind === 'adamw') {
          agree(m, o!['m']!, 'adamw m');
          agree(v, o!['v']!, 'adamw v');
        }
      }
  });
});
