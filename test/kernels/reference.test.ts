/**
 * The CPU reference itself: number formats, and the reference model checked against an
 * independent, deliberately naive forward pass (no KV cache: every sequence recomputed
 * from scratch with plain loops, straight from the HF definitions), plus the properties
 * the executor relies on: prefill logits = token-by-token decode logits, a batch of slots
 * = each sequence alone, GQA = MHA with repeated K/V heads, GPT-2 names without the
 * "transformer." prefix, greedy generation.
 */
import { describe, expect, it } from 'vitest';
import { bf16Bits, bf16Value, decode, encode, f16Bits, f16Value, roundTo } from '../../runtime/reference/dtype.js';
import { gpt2Config, greedy, llamaConfig, randomWeights, ReferenceModel, weightShapes, type Model } from '../../runtime/reference/model.js';
import { uniformLayer } from '../../src/model.js';

/** The one layer's sizes of a model whose layers are alike, flat. */
const flat = (c: Model) => {
  const { attention, mlp } = uniformLayer(c);
  return { ...attention, ffn: mlp.ffn };
};

describe('number formats', () => {
  it('bf16: round to nearest even, exact decode', () => {
    expect(bf16Value(bf16Bits(1))).toBe(1);
    expect(bf16Value(bf16Bits(1 + 2 ** -8))).toBe(1); // tie → even
    expect(bf16Value(bf16Bits(1 + 3 * 2 ** -8))).toBe(1 + 2 ** -6); // tie → even (up)
    expect(bf16Value(bf16Bits(1 + 2 ** -8 + 2 ** -20))).toBe(1 + 2 ** -7);
    expect(bf16Value(bf16Bits(-3.1415927))).toBe(-3.140625);
  });
  it('f16: ties to even, overflow to ∞, subnormals', () => {
    expect(f16Value(f16Bits(1 + 2 ** -11))).toBe(1);
    expect(f16Value(f16Bits(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
    expect(f16Value(f16Bits(65504))).toBe(65504);
    expect(f16Value(f16Bits(65519))).toBe(65504);
    expect(f16Value(f16Bits(65520))).toBe(Infinity);
    expect(f16Value(f16Bits(2 ** -24))).toBe(2 ** -24);
    expect(f16Value(f16Bits(2 ** -25))).toBe(0); // tie → even (0)
    expect(f16Value(f16Bits(3 * 2 ** -25))).toBe(2 ** -23);
    expect(f16Value(f16Bits(-0.1))).toBe(-0.0999755859375);
    expect(f16Bits(2 ** -14 - 2 ** -26)).toBe(0x0400); // a subnormal that rounds up to the smallest normal
    expect(f16Bits(6.1e-5)).toBe(1023);
  });
  it('packing: two halves per word, element 2i low; encode/decode round trip', () => {
    const xs = [1, -2, 0.5, 3];
    const w = encode('f16', xs);
    expect(w.length).toBe(2);
    expect(w[0]! & 0xffff).toBe(f16Bits(1));
    expect(w[0]! >>> 16).toBe(f16Bits(-2));
    expect(Array.from(decode('f16', w, 4))).toEqual(xs);
    expect(Array.from(decode('bf16', encode('bf16', [1, 2, 3]), 3))).toEqual([1, 2, 3]);
    expect(encode('bf16', [1, 2, 3]).length).toBe(2);
    expect(roundTo('f32', 0.1)).toBe(Math.fround(0.1));
  });
});

// ---------------------------------------------------------------------------------------
// An independent naive forward: one sequence, all positions, no cache, nested loops.

function naiveLogits(c: Model, w: Map<string, Float32Array>, tokens: number[]): number[][] {
  const h = c.hidden;
  const D = flat(c).headDim;
  const get = (n: string) => w.get(n)!;
  const lin = (x: number[], W: Float32Array, out: number, inp: number, conv1d: boolean, b?: Float32Array) =>
    Array.from({ length: out }, (_, o) => {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inp; i++) s += x[i]! * (conv1d ? W[i * out + o]! : W[o * inp + i]!);
      return s;
    });
  const ln = (x: number[], g: Float32Array, b: Float32Array) => {
    const m = x.reduce((a, v) => a + v, 0) / x.length;
    const v = x.reduce((a, y) => a + (y - m) ** 2, 0) / x.length;
    return x.map((y, i) => ((y - m) / Math.sqrt(v + c.normEps)) * g[i]! + b[i]!);
  };
  const rms = (x: number[], g: Float32Array) => {
    const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
    return x.map((y, i) => (y / Math.sqrt(ms + c.normEps)) * g[i]!);
  };
  const ropeVec = (x: number[], pos: number, nh: number) => {
    const out = x.slice();
    for (let hh = 0; hh < nh; hh++) {
      for (let i = 0; i < D / 2; i++) {
        const a = pos / c.ropeTheta ** ((2 * i) / D);
        const x1 = x[hh * D + i]!;
        const x2 = x[hh * D + i + D / 2]!;
        out[hh * D + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
        out[hh * D + i + D / 2] = x2 * Math.cos(a) + x1 * Math.sin(a);
      }
    }
    return out;
  };
  let xs: number[][] = tokens.map((tok, p) =>
    Array.from({ length: h }, (_, i) =>
      c.arch === 'gpt2'
        ? get('transformer.wte.weight')[tok * h + i]! + get('transformer.wpe.weight')[p * h + i]!
        : get('model.embed_tokens.weight')[tok * h + i]!,
    ),
  );
  const attend = (qs: number[][], ks: number[][], vs: number[][]) =>
    qs.map((q, t) => {
      const out: number[] = [];
      for (let hh = 0; hh < flat(c).heads; hh++) {
        const kh = Math.floor(hh / (flat(c).heads / flat(c).kvHeads));
        const sc = ks.slice(0, t + 1).map((k) => {
          let s = 0;
          for (let d = 0; d < D; d++) s += q[hh * D + d]! * k[kh * D + d]!;
          return s / Math.sqrt(D);
        });
        const m = Math.max(...sc);
        const e = sc.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < D; d++) out.push(e.reduce((a, p, j) => a + (p / z) * vs[j]![kh * D + d]!, 0));
      }
      return out;
    });
  for (let l = 0; l < c.layers; l++) {
    if (c.arch === 'gpt2') {
      const p = `transformer.h.${l}`;
      const qkv = xs.map((x) =>
        lin(
          ln(x, get(`${p}.ln_1.weight`), get(`${p}.ln_1.bias`)),
          get(`${p}.attn.c_attn.weight`),
          3 * h,
          h,
          true,
          get(`${p}.attn.c_attn.bias`),
        ),
      );
      const att = attend(
        qkv.map((r) => r.slice(0, h)),
        qkv.map((r) => r.slice(h, 2 * h)),
        qkv.map((r) => r.slice(2 * h)),
      );
      xs = xs.map((x, t) =>
        lin(att[t]!, get(`${p}.attn.c_proj.weight`), h, h, true, get(`${p}.attn.c_proj.bias`)).map((v, i) => v + x[i]!),
      );
      xs = xs.map((x) => {
        const f = lin(
          ln(x, get(`${p}.ln_2.weight`), get(`${p}.ln_2.bias`)),
          get(`${p}.mlp.c_fc.weight`),
          flat(c).ffn,
          h,
          true,
          get(`${p}.mlp.c_fc.bias`),
        );
        const gelu = f.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
        return lin(gelu, get(`${p}.mlp.c_proj.weight`), h, flat(c).ffn, true, get(`${p}.mlp.c_proj.bias`)).map((v, i) => v + x[i]!);
      });
    } else {
      const p = `model.layers.${l}`;
      const a = xs.map((x) => rms(x, get(`${p}.input_layernorm.weight`)));
      const qs = a.map((x, t) => ropeVec(lin(x, get(`${p}.self_attn.q_proj.weight`), flat(c).heads * D, h, false), t, flat(c).heads));
      const ks = a.map((x, t) => ropeVec(lin(x, get(`${p}.self_attn.k_proj.weight`), flat(c).kvHeads * D, h, false), t, flat(c).kvHeads));
      const vs = a.map((x) => lin(x, get(`${p}.self_attn.v_proj.weight`), flat(c).kvHeads * D, h, false));
      const att = attend(qs, ks, vs);
      xs = xs.map((x, t) => lin(att[t]!, get(`${p}.self_attn.o_proj.weight`), h, flat(c).heads * D, false).map((v, i) => v + x[i]!));
      xs = xs.map((x) => {
        const m = rms(x, get(`${p}.post_attention_layernorm.weight`));
        const gt = lin(m, get(`${p}.mlp.gate_proj.weight`), flat(c).ffn, h, false);
        const up = lin(m, get(`${p}.mlp.up_proj.weight`), flat(c).ffn, h, false);
        const act = gt.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
        return lin(act, get(`${p}.mlp.down_proj.weight`), h, flat(c).ffn, false).map((v, i) => v + x[i]!);
      });
    }
  }
  const head = c.tiedEmbeddings ? get(c.arch === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight') : get('lm_head.weight');
  return xs.map((x) => {
    const n = c.arch === 'gpt2' ? ln(x, get('transformer.ln_f.weight'), get('transformer.ln_f.bias')) : rms(x, get('model.norm.weight'));
    return lin(n, head, c.vocab, h, false);
  });
}

const CONFIGS: { name: string; c: Model }[] = [
  { name: 'GPT-2 (2 layers, hidden 16, 4 heads)', c: gpt2Config({ layers: 2, hidden: 16, heads: 4, vocab: 23, maxSeq: 12 }) },
  {
    name: 'Llama (2 layers, hidden 16, 4 heads : 2 KV heads, untied)',
    c: llamaConfig({ layers: 2, hidden: 16, heads: 4, kvHeads: 2, ffn: 24, vocab: 29, maxSeq: 12 }),
  },
  {
    name: 'Llama (1 layer, headDim 6 ≠ hidden/heads, MQA, tied, eps 1e-6, theta 500 000)',
    c: llamaConfig({
      layers: 1,
      hidden: 12,
      heads: 3,
      kvHeads: 1,
      headDim: 6,
      ffn: 20,
      vocab: 17,
      maxSeq: 10,
      tiedEmbeddings: true,
      normEps: 1e-6,
      ropeTheta: 500000,
    }),
  },
];

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe.each(CONFIGS)('reference model: $name', ({ c }) => {
  const weights = randomWeights(c, 42, 0.3);
  const model = new ReferenceModel(c, weights);
  const prompt = [1, 5, 2, 7, 3, 3, 0];

  it('prefill logits equal an independent naive forward (no cache)', () => {
    const got = model.prefill(model.newCache(1), 0, prompt);
    const want = naiveLogits(c, weights, prompt).flat();
    expect(maxDiff(got, want)).toBeLessThan(2e-5);
  });

  it('token-by-token decode equals prefill; a batch of slots equals each sequence alone', () => {
    const full = model.prefill(model.newCache(1), 0, prompt);
    const cache = model.newCache(3);
    model.prefill(cache, 2, prompt.slice(0, 2));
    const rows: Float32Array[] = [];
    for (let p = 2; p < prompt.length; p++) rows.push(model.decode(cache, [{ token: prompt[p]!, slot: 2, position: p }]));
    expect(
      maxDiff(
        rows.flatMap((r) => Array.from(r)),
        full.subarray(2 * c.vocab),
      ),
    ).toBeLessThan(1e-6);
    // batched: slots 0 and 1 hold other sequences of other lengths
    const other = [4, 4, 1];
    const alone = model.prefill(model.newCache(1), 0, [...other, 2]);
    const cache2 = model.newCache(2);
    model.prefill(cache2, 0, prompt.slice(0, 5));
    model.prefill(cache2, 1, other);
    const both = model.decode(cache2, [
      { token: 2, slot: 1, position: 3 },
      { token: prompt[5]!, slot: 0, position: 5 },
    ]);
    expect(maxDiff(both.subarray(0, c.vocab), alone.subarray(3 * c.vocab))).toBeLessThan(1e-6);
    expect(maxDiff(both.subarray(c.vocab), full.subarray(5 * c.vocab, 6 * c.vocab))).toBeLessThan(1e-6);
  });

  it('greedy generation is deterministic, stops at eos and at maxSeq', () => {
    const a = model.generate(prompt.slice(0, 3), 5);
    expect(a).toEqual(model.generate(prompt.slice(0, 3), 5));
    expect(a.length).toBe(5);
    const logits = model.prefill(model.newCache(1), 0, prompt.slice(0, 3), 0, { logitsRows: [2] });
    expect(a[0]).toBe(greedy(logits, c.vocab)[0]);
    expect(model.generate(prompt.slice(0, 3), 5, { eos: a[0] })).toEqual([a[0]]);
    expect(model.generate(prompt, 100).length).toBe(c.maxSeq - prompt.length + 1);
  });

  it('rejects missing or mis-sized weights by Hugging Face name', () => {
    const w = new Map(weights);
    const first = [...weightShapes(c).keys()][3]!;
    w.delete(first);
    expect(() => new ReferenceModel(c, w)).toThrow(new RegExp(`missing weights: ${first.replace(/\./g, '\\.')}`));
    w.set(first, new Float32Array(1));
    expect(() => new ReferenceModel(c, w)).toThrow(/expected/);
  });
});

describe('reference model conventions', () => {
  it('GQA: kvHeads < heads equals MHA with each KV head repeated for its group (HF repeat_kv)', () => {
    const gqa = llamaConfig({ layers: 1, hidden: 16, heads: 4, kvHeads: 2, ffn: 8, vocab: 11, maxSeq: 6 });
    const mha: Model = { ...gqa, layer: { ...gqa.layer, attention: { ...uniformLayer(gqa).attention, kvHeads: 4 } } };
    const w = randomWeights(gqa, 7, 0.3);
    const w2 = new Map(w);
    const D = flat(gqa).headDim;
    for (const p of ['k', 'v']) {
      const name = `model.layers.0.self_attn.${p}_proj.weight`;
      const src = w.get(name)!;
      const rep = new Float32Array(4 * D * gqa.hidden);
      for (let h = 0; h < 4; h++)
        rep.set(src.subarray(Math.floor(h / 2) * D * gqa.hidden, (Math.floor(h / 2) + 1) * D * gqa.hidden), h * D * gqa.hidden);
      w2.set(name, rep);
    }
    const a = new ReferenceModel(gqa, w).prefill(new ReferenceModel(gqa, w).newCache(1), 0, [1, 2, 3, 4]);
    const m2 = new ReferenceModel(mha, w2);
    const b = m2.prefill(m2.newCache(1), 0, [1, 2, 3, 4]);
    expect(maxDiff(a, b)).toBeLessThan(1e-6);
  });

  it('GPT-2 weights are also found without the "transformer." prefix (the gpt2 checkpoint\'s names)', () => {
    const c = gpt2Config({ layers: 1, hidden: 8, heads: 2, vocab: 9, maxSeq: 5 });
    const w = randomWeights(c, 3, 0.3);
    const bare = new Map([...w].map(([k, v]) => [k.replace(/^transformer\./, ''), v]));
    const m1 = new ReferenceModel(c, w);
    const m2 = new ReferenceModel(c, bare);
    expect(Array.from(m2.prefill(m2.newCache(1), 0, [1, 2]))).toEqual(Array.from(m1.prefill(m1.newCache(1), 0, [1, 2])));
  });

  it('Llama q/k/v biases (Qwen2-style) are read with qkvBias, and required then', () => {
    const c = { ...llamaConfig({ layers: 1, hidden: 8, heads: 2, ffn: 8, vocab: 9, maxSeq: 5 }), qkvBias: true };
    const w = randomWeights(c, 3, 0.3);
    const m1 = new ReferenceModel(c, w);
    const wb = new Map(w);
    wb.set('model.layers.0.self_attn.v_proj.bias', new Float32Array(8).fill(0.5));
    const m2 = new ReferenceModel(c, wb);
    expect(maxDiff(m1.prefill(m1.newCache(1), 0, [1, 2]), m2.prefill(m2.newCache(1), 0, [1, 2]))).toBeGreaterThan(1e-3);
    wb.delete('model.layers.0.self_attn.k_proj.bias');
    expect(() => new ReferenceModel(c, wb)).toThrow('missing weights: model.layers.0.self_attn.k_proj.bias [8]');
  });

  it('a bf16 KV cache rounds what it stores (and so differs slightly from f32)', () => {
    const c = llamaConfig({ layers: 1, hidden: 8, heads: 2, ffn: 8, vocab: 9, maxSeq: 5 });
    const w = randomWeights(c, 3, 0.3);
    const m1 = new ReferenceModel(c, w);
    const m2 = new ReferenceModel(c, w, { cacheFormat: 'bf16' });
    const d = maxDiff(m1.prefill(m1.newCache(1), 0, [1, 2, 3]), m2.prefill(m2.newCache(1), 0, [1, 2, 3]));
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(0.05);
  });
});
