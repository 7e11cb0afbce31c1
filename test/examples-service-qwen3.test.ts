/**
 * examples/service, end to end with a real architecture (issue 12): the tiny Qwen3 checkpoint
 * directory that make-checkpoint.ts writes (config.json, random bf16 weights under
 * transformers' names, the real Qwen3 tokenizer) is served from the directory alone —
 * `createRuntime(graph, { weights: DIR })` takes the tokenizer from it — behind the HTTP
 * front, and the official `openai` client gets text back. The tokens are the CPU
 * reference's greedy tokens for the same weights (read back from the safetensors file) and
 * the chat template's prompt; the text is the tokenizer's decoding of them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCheckpoint } from '../examples/service/make-checkpoint.js';
import { createRuntime, startHttpServer, type HttpHandle, type Runtime } from '../runtime/index.js';
import { ReferenceModel } from '../runtime/reference/model.js';
import { bf16ToF32 } from '../runtime/weights/convert.js';
import { openSafetensors } from '../runtime/weights/safetensors.js';
import { analyze } from '../src/analyze.js';
import { compilePlan } from '../src/compile.js';
import type { Graph } from '../src/graph/types.js';
import { ROOT } from './cli/spawn.js';

const PLAN = join(ROOT, 'examples/service/tiny-qwen3.plan');
const MESSAGES = [{ role: 'user' as const, content: 'Name three colours.' }];
const NEW = 6;

let dir: string;
let graph: Graph;
let rt: Runtime;
let http: HttpHandle;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parplan-service-qwen3-'));
  makeCheckpoint(dir, 1);
  const a = analyze([PLAN]);
  expect(a.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  graph = compilePlan(a.results[0]!.plan, a.results[0]!.memory).graph;
  rt = await createRuntime(graph, { weights: dir });
  http = await startHttpServer(rt.serve(), { port: 0, codec: rt.codec!, modelName: 'tiny-qwen3' });
}, 120_000);

afterAll(async () => {
  await http?.close();
  await rt?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The checkpoint's weights as the CPU reference takes them: HF names, bf16 widened to f32. */
async function checkpointWeights(): Promise<Map<string, Float32Array>> {
  const f = await openSafetensors(join(dir, 'model.safetensors'));
  try {
    const out = new Map<string, Float32Array>();
    for (const [name, t] of f.tensors) {
      expect(t.dtype).toBe('BF16');
      out.set(name, bf16ToF32(new Uint16Array(await f.readSlice(name))));
    }
    return out;
  } finally {
    await f.close();
  }
}

describe('examples/service: the tiny Qwen3 checkpoint directory, served', () => {
  it('the runtime took the tokenizer from the directory and allocated the memory plan', () => {
    expect(rt.codec).toBeDefined();
    expect(graph.model).toMatchObject({ qkNorm: true, vocab: 151936 });
    for (const r of rt.memoryReport()) expect(r.ratio).toBe(1);
  });

  it("the openai client's chat completion is the CPU reference's greedy continuation of the chat template's prompt", async () => {
    const codec = rt.codec!;
    const prompt = codec.encode(codec.applyChatTemplate(MESSAGES, { addGenerationPrompt: true }), { addSpecialTokens: false });
    const reference = new ReferenceModel(graph.model, await checkpointWeights());
    const expected = reference.generate(prompt, NEW);

    const client = new OpenAI({ baseURL: `${http.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const chat = await client.chat.completions.create({
      model: 'tiny-qwen3',
      messages: MESSAGES,
      max_tokens: NEW,
      temperature: 0,
      ignore_eos: true,
    } as never);
    const choice = (chat as OpenAI.Chat.ChatCompletion).choices[0]!;
    expect((chat as OpenAI.Chat.ChatCompletion).usage).toMatchObject({ prompt_tokens: prompt.length, completion_tokens: NEW });
    expect(choice.finish_reason).toBe('length');
    expect(choice.message.content).toBe(codec.decode(expected));

    // The same through the runtime's own text API.
    const direct = await rt.generate(codec.applyChatTemplate(MESSAGES, { addGenerationPrompt: true }), {
      maxNewTokens: NEW,
      ignoreEos: true,
      addSpecialTokens: false,
    });
    expect(direct.tokens).toEqual(expected);
  }, 120_000);
});
