/**
 * The default prefill budget (max_prefill_tokens) is vLLM's default max_num_batched_tokens
 * (vllm-project/vllm vllm/engine/arg_utils.py @99d7eb5d, EngineArgs.get_batch_defaults, OpenAI
 * server): 8192 on GPUs of at least 70 GiB but A100s, else 2048; the misfit help proposes a
 * chunk when the prefill's activations are what does not fit.
 */
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import type { ServePlan } from '../../src/plan.js';
import { memoryHost } from '../fuzz/mutate.js';

const MODEL = `
model llama31_8b {
  arch = llama  layers = 32  hidden = 4096  heads = 32  kv_heads = 8  head_dim = 128  ffn = 14336
  vocab = 128256  max_seq = 131072  rope_theta = 500000  tied_embeddings = false  dtype = bf16
}
cluster h100 { gpu = H100_SXM_80GB  gpus = 1 }
cluster a100 { gpu = A100_80GB  gpus = 1 }
cluster l4 { gpu = L4  gpus = 1 }
`;

function check(body: string) {
  const text = `${MODEL}\nplan p {\n${body}\n}\n`;
  const a = analyze(['/p.plan'], { host: memoryHost(new Map([['/p.plan', text]])) });
  const r = a.results[0]!;
  return { plan: r.plan as ServePlan, fits: r.fits, diagnostics: a.diagnostics };
}

describe('default prefill chunk (vLLM max_num_batched_tokens)', () => {
  it('a 128k Llama-3.1-8B on one H100 at 3 sequences fits with the default 8,192-token chunk', () => {
    const r = check('model = llama31_8b  cluster = h100  mode = serve  batch { max_batch = 3  seq = 131072 }');
    expect(r.plan.batch.maxPrefillTokens).toBe(8192);
    expect(r.fits).toBe(true);
  });

  it('2,048 on an A100 (vLLM leaves A100s out of the larger default) and on GPUs under 70 GiB', () => {
    expect(check('model = llama31_8b  cluster = a100  mode = serve  batch { max_batch = 1  seq = 8192 }').plan.batch.maxPrefillTokens).toBe(
      2048,
    );
    expect(check('model = llama31_8b  cluster = l4  mode = serve  batch { max_batch = 1  seq = 1024 }').plan.batch.maxPrefillTokens).toBe(
      1024,
    );
    expect(check('model = llama31_8b  cluster = l4  mode = serve  batch { max_batch = 4  seq = 1024 }').plan.batch.maxPrefillTokens).toBe(
      2048,
    );
  });

  it('at most max_batch × seq, at least max_batch; the written value wins', () => {
    expect(check('model = llama31_8b  cluster = h100  mode = serve  batch { max_batch = 2  seq = 1000 }').plan.batch.maxPrefillTokens).toBe(
      2000,
    );
    expect(check('model = llama31_8b  cluster = l4  mode = serve  batch { max_batch = 4096  seq = 16 }').plan.batch.maxPrefillTokens).toBe(
      4096,
    );
    const w = check('model = llama31_8b  cluster = h100  mode = serve  batch { max_batch = 3  seq = 131072  max_prefill_tokens = 131072 }');
    expect(w.plan.batch.maxPrefillTokens).toBe(131072);
  });

  it('the whole prompt in one step does not fit, and the help proposes the largest chunk that does', () => {
    const r = check('model = llama31_8b  cluster = h100  mode = serve  batch { max_batch = 3  seq = 131072  max_prefill_tokens = 131072 }');
    expect(r.fits).toBe(false);
    const d = r.diagnostics.find((x) => x.code === 'PP4001')!;
    expect(d.help).toMatch(/^these fit: max_prefill_tokens = 65536 \(prefill in chunks of 65536 tokens/);
    // And it does fit.
    expect(
      check('model = llama31_8b  cluster = h100  mode = serve  batch { max_batch = 3  seq = 131072  max_prefill_tokens = 65536 }').fits,
    ).toBe(true);
    expect(
      check('model = llama31_8b  cluster = h100  mode = serve  batch { max_batch = 3  seq = 131072  max_prefill_tokens = 131071 }').fits,
    ).toBe(false);
  });
});
