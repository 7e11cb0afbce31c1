/**
 * The OpenAI-compatible routes as users call them: the official `openai` client against a
 * real server (the CPU engine behind it, the real Qwen3 tokenizer and chat template). The
 * expected text is computed independently: the prompt encoded by the codec, the CPU
 * engine's reference tokens (`cpuReference`), decoded by the codec.
 */
import OpenAI, { APIError, BadRequestError, InternalServerError, NotFoundError, RateLimitError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer, type HttpHandle } from '../../runtime/serving/http.js';
import type { BatchPolicy } from '../../runtime/serving/policy.js';
import { cpuReference, type CpuEngineOptions } from '../../runtime/testing/cpu-engine.js';
import type { TextCodec } from '../../runtime/text/types.js';
import { setup, sleep, waitFor } from './helpers.js';
import { llama3WithBos, testCodec } from './text-codec.js';

const MODEL = 'tiny-qwen';
const handles: HttpHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.close({ drainMs: 500 })));
});

async function start(policy: Partial<BatchPolicy> = {}, engine: Partial<CpuEngineOptions> = {}, codec: TextCodec = testCodec().codec) {
  const vocab = (codec as { vocabSize?: number }).vocabSize ?? testCodec().vocabSize;
  const ctx = setup(policy, { vocabSize: vocab, ...engine }, { vocabSize: vocab });
  const http = await startHttpServer(ctx.server, { port: 0, codec, modelName: MODEL });
  handles.push(http);
  const client = new OpenAI({ baseURL: `${http.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  /** What the server must answer for `prompt` (ids), greedy: the reference tokens as text. */
  const expected = (prompt: number[], maxTokens: number) => {
    const ref = cpuReference(prompt, maxTokens, { vocabSize: vocab, stop: codec.eosIds });
    const end = ref.finish === 'stop' ? ref.tokens.length - 1 : ref.tokens.length;
    return { text: codec.decode(ref.tokens.slice(0, end)), tokens: ref.tokens, finish: ref.finish };
  };
  return { ...ctx, http, client, codec, vocab, expected };
}

const chatPrompt = (codec: TextCodec, messages: { role: 'system' | 'user'; content: string }[], variables?: Record<string, unknown>) =>
  codec.encode(codec.applyChatTemplate(messages, { addGenerationPrompt: true, ...(variables ? { variables } : {}) }), {
    addSpecialTokens: false,
  });

/** The error a call rejects with (fails if it resolves). */
async function failure(p: Promise<unknown>): Promise<APIError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof APIError) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

describe('OpenAI-compatible routes, through the official client', () => {
  it('lists the served model and finds it by id', async () => {
    const { client, http } = await start({ maxSeq: 200 });
    const list = await client.models.list();
    expect(list.data.map((m) => ({ id: m.id, object: m.object, owned_by: m.owned_by }))).toEqual([
      { id: MODEL, object: 'model', owned_by: 'parplan' },
    ]);
    expect((await client.models.retrieve(MODEL)).id).toBe(MODEL);
    expect((await fetch(`${http.url}/v1/models/%E0%A4%A`)).status).toBe(404);
    const e = await failure(client.models.retrieve('gpt-4'));
    expect(e).toBeInstanceOf(NotFoundError);
    expect(e).toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });
    // The raw object has vLLM's max_model_len.
    const raw = (await (await fetch(`${http.url}/v1/models`)).json()) as { data: { max_model_len: number }[] };
    expect(raw.data[0]!.max_model_len).toBe(200);
  });

  it('answers a completion (text or token ids) with the reference text, finish_reason and usage', async () => {
    const { client, codec, expected } = await start();
    const prompt = 'The capital of France is';
    const ids = codec.encode(prompt);
    const want = expected(ids, 12);
    const r = await client.completions.create({ model: MODEL, prompt, max_tokens: 12, temperature: 0 });
    expect(r.object).toBe('text_completion');
    expect(r.model).toBe(MODEL);
    expect(r.id).toMatch(/^cmpl-/);
    expect(r.choices).toEqual([{ index: 0, text: want.text, logprobs: null, finish_reason: 'length' }]);
    expect(r.usage).toEqual({ prompt_tokens: ids.length, completion_tokens: 12, total_tokens: ids.length + 12 });
    // Token ids as the prompt (OpenAI accepts an array of ints), and a list holding one prompt.
    const byIds = await client.completions.create({ model: MODEL, prompt: ids, max_tokens: 12, temperature: 0 });
    expect(byIds.choices[0]!.text).toBe(want.text);
    const listed = await client.completions.create({ model: MODEL, prompt: [prompt], max_tokens: 12, temperature: 0 });
    expect(listed.choices[0]!.text).toBe(want.text);
    // Without max_tokens: OpenAI's default of 16.
    const dflt = await client.completions.create({ model: MODEL, prompt, temperature: 0 });
    expect(dflt.usage?.completion_tokens).toBe(16);
    expect(dflt.choices[0]!.text).toBe(expected(ids, 16).text);
  });

  it('answers a chat completion through the chat template', async () => {
    const { client, codec, expected } = await start();
    const messages = [
      { role: 'system' as const, content: 'You are terse.' },
      { role: 'user' as const, content: 'Name a colour.' },
    ];
    const ids = chatPrompt(codec, messages);
    const want = expected(ids, 10);
    const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 10, temperature: 0 });
    expect(r.object).toBe('chat.completion');
    expect(r.id).toMatch(/^chatcmpl-/);
    expect(r.choices[0]).toMatchObject({ index: 0, message: { role: 'assistant', content: want.text }, finish_reason: 'length' });
    expect(r.usage).toEqual({ prompt_tokens: ids.length, completion_tokens: 10, total_tokens: ids.length + 10 });
    // Text parts are joined; max_completion_tokens is max_tokens' newer name.
    const parts = await client.chat.completions.create({
      model: MODEL,
      messages: [
        messages[0]!,
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Name a ' },
            { type: 'text', text: 'colour.' },
          ],
        },
      ],
      max_completion_tokens: 10,
      temperature: 0,
    });
    expect(parts.choices[0]!.message.content).toBe(want.text);

    // vLLM's chat_template_kwargs reach the template: Qwen3 without thinking gets an empty <think> block.
    const plain = chatPrompt(codec, messages, { enable_thinking: false });
    expect(codec.decode(plain, { skipSpecialTokens: false })).toMatch(/<think>\n\n<\/think>\n\n$/);
    const noThink = await client.chat.completions.create({
      model: MODEL,
      messages,
      max_tokens: 10,
      temperature: 0,
      chat_template_kwargs: { enable_thinking: false },
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(noThink.usage!.prompt_tokens).toBe(plain.length);
    expect(noThink.choices[0]!.message.content).toBe(expected(plain, 10).text);
    const bad = await failure(client.chat.completions.create({ model: MODEL, messages, chat_template_kwargs: [1] } as never));
    expect(bad).toMatchObject({ status: 400, param: 'chat_template_kwargs' });
  });

  it('encodes a chat prompt without adding the special tokens the template already wrote (one BOS with Llama 3)', async () => {
    const llama = testCodec(llama3WithBos()).codec;
    const { client, expected } = await start({}, {}, llama);
    const messages = [{ role: 'user' as const, content: 'Hello there.' }];
    const ids = chatPrompt(llama, messages);
    const bos = llama.encode('x')[0]!;
    expect(ids[0]).toBe(bos);
    expect(ids.filter((t) => t === bos)).toHaveLength(1);
    const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 6, temperature: 0 });
    expect(r.usage!.prompt_tokens).toBe(ids.length);
    expect(r.choices[0]!.message.content).toBe(expected(ids, 6).text);
    // A completion prompt gets the tokenizer's BOS, as Hugging Face's encode does.
    const c = await client.completions.create({ model: MODEL, prompt: 'Hello there.', max_tokens: 6, temperature: 0 });
    expect(c.usage!.prompt_tokens).toBe(llama.encode('Hello there.').length);
    expect(llama.encode('Hello there.')[0]).toBe(bos);
  });

  it('streams the same text as the plain answer, ending with finish_reason, usage and [DONE]', async () => {
    const { client, codec, expected, http } = await start({}, { decodeMs: 1 });
    const prompt = 'Once upon a time';
    const want = expected(codec.encode(prompt), 24);
    const plain = await client.completions.create({ model: MODEL, prompt, max_tokens: 24, temperature: 0 });
    const stream = await client.completions.create({
      model: MODEL,
      prompt,
      max_tokens: 24,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    const pieces: string[] = [];
    const finishes: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        pieces.push(c.text);
        finishes.push(c.finish_reason);
      }
    }
    expect(pieces.join('')).toBe(plain.choices[0]!.text);
    expect(pieces.join('')).toBe(want.text);
    expect(pieces.filter((p) => p !== '').length).toBeGreaterThan(3); // streamed, not sent in one piece
    expect(finishes.at(-1)).toBe('length');
    expect(finishes.slice(0, -1).every((f) => f === null)).toBe(true);
    expect(usage).toEqual(plain.usage);

    const messages = [{ role: 'user' as const, content: 'Tell me a story.' }];
    const chatPlain = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 20, temperature: 0 });
    const chatStream = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 20, temperature: 0, stream: true });
    let text = '';
    const roles: string[] = [];
    let last: string | null = null;
    for await (const chunk of chatStream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      const c = chunk.choices[0]!;
      if (c.delta.role) roles.push(c.delta.role);
      text += c.delta.content ?? '';
      last = c.finish_reason;
    }
    expect(roles).toEqual(['assistant']);
    expect(text).toBe(chatPlain.choices[0]!.message.content);
    expect(last).toBe('length');

    // On the wire: SSE, one `data:` line per event, [DONE] last.
    const res = await fetch(`${http.url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ prompt, max_tokens: 4, temperature: 0, stream: true }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await res.text()).split('\n\n').filter((e) => e !== '');
    expect(events.every((e) => e.startsWith('data: '))).toBe(true);
    expect(events.at(-1)).toBe('data: [DONE]');
  });

  it('samples with a seed: the same seed gives the same text, streamed or not', async () => {
    const { client } = await start({}, { decodeMs: 0 });
    // Few tokens: each sampled token draws from the whole 151k-token vocabulary on the CPU.
    const body = { model: MODEL, prompt: 'Roll the dice:', max_tokens: 4, temperature: 1, seed: 1234 };
    const a = await client.completions.create(body);
    const b = await client.completions.create(body);
    expect(b.choices[0]!.text).toBe(a.choices[0]!.text);
    let streamed = '';
    for await (const chunk of await client.completions.create({ ...body, stream: true })) streamed += chunk.choices[0]?.text ?? '';
    expect(streamed).toBe(a.choices[0]!.text);
    const greedy = await client.completions.create({ ...body, temperature: 0 });
    const other = await client.completions.create({ ...body, seed: 99 });
    // The seed and temperature reach the sampler: greedy and another seed answer otherwise.
    expect(greedy.choices[0]!.text).not.toBe(a.choices[0]!.text);
    expect(other.choices[0]!.text).not.toBe(a.choices[0]!.text);
  });

  it('cuts at a stop string (finish_reason stop), streamed or not, and ends at EOS', async () => {
    const { client, codec, expected, server } = await start();
    const prompt = 'Count with me:';
    const full = expected(codec.encode(prompt), 20).text;
    // A stop string from the middle of the answer.
    const at = Math.floor(full.length / 2);
    const stop = full.slice(at, at + 3);
    const cut = full.slice(0, full.indexOf(stop));
    const r = await client.completions.create({ model: MODEL, prompt, max_tokens: 20, temperature: 0, stop: [stop, 'never-there'] });
    expect(r.choices[0]).toMatchObject({ text: cut, finish_reason: 'stop' });
    expect(r.usage!.completion_tokens).toBeLessThan(20);
    let streamed = '';
    let finish: string | null = null;
    for await (const chunk of await client.completions.create({
      model: MODEL,
      prompt,
      max_tokens: 20,
      temperature: 0,
      stop,
      stream: true,
    })) {
      streamed += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(streamed).toBe(cut);
    expect(finish).toBe('stop');
    await waitFor(() => server.stats().active === 0, 2000, 'slots freed');
  });

  it('ends at an EOS id (finish_reason stop; the EOS token counted)', async () => {
    const base = testCodec();
    const ids = base.codec.encode('End here');
    const ref = cpuReference(ids, 10, { vocabSize: base.vocabSize });
    // A codec whose EOS is the reference's 4th token (the CPU engine cannot be steered to the real
    // <|im_end|>): the answer must end with it. It is an ordinary token, so its text is shown, as
    // Hugging Face's decode(skip_special_tokens=True) would; a real EOS is special and skipped.
    const eosCodec: TextCodec = Object.assign(Object.create(base.codec) as TextCodec, { eosIds: [ref.tokens[3]!] });
    const { client } = await start({}, {}, eosCodec);
    const r = await client.completions.create({ model: MODEL, prompt: ids, max_tokens: 10, temperature: 0 });
    expect(r.choices[0]).toMatchObject({ text: base.codec.decode(ref.tokens.slice(0, 4)), finish_reason: 'stop' });
    expect(r.usage!.completion_tokens).toBe(4);
    // vLLM's ignore_eos generates past it; its stop_token_ids end the answer like EOS ids.
    const past = await client.completions.create({ model: MODEL, prompt: ids, max_tokens: 10, temperature: 0, ignore_eos: true } as never);
    expect((past as OpenAI.Completion).choices[0]).toMatchObject({ text: base.codec.decode(ref.tokens), finish_reason: 'length' });
    const byId = await client.completions.create({
      model: MODEL,
      prompt: ids,
      max_tokens: 10,
      temperature: 0,
      ignore_eos: true,
      stop_token_ids: [ref.tokens[1]],
    } as never);
    expect((byId as OpenAI.Completion).choices[0]).toMatchObject({
      text: base.codec.decode(ref.tokens.slice(0, 2)),
      finish_reason: 'stop',
    });
  });

  it('refuses what it cannot do with 400 naming the field, an unknown model with 404; ignores unknown fields', async () => {
    const { client, expected, codec } = await start({ maxSeq: 64 });
    const base = { model: MODEL, prompt: 'hi', max_tokens: 2 };
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ n: 2 }, 'n', /only n = 1/],
      [{ logprobs: 2 }, 'logprobs', /logprobs are not supported/],
      [{ echo: true }, 'echo', /echo/],
      [{ best_of: 3 }, 'best_of', /best_of/],
      [{ presence_penalty: 0.5 }, 'presence_penalty', /presence_penalty/],
      [{ temperature: 3 }, 'temperature', /out of range/],
      [{ top_p: 0 }, 'top_p', /top_p must be > 0/],
      [{ max_tokens: 0 }, 'max_tokens', /must be ≥ 1/],
      [{ max_tokens: 200 }, 'max_tokens', /maximum context length is 64 tokens/],
      [{ stop: 3 }, 'stop', /string or an array of strings/],
      [{ stop: [''] }, 'stop', /empty string/],
      [{ prompt: ['a', 'b'] }, 'prompt', /holds 2 prompts/],
      [{ prompt: 'Hello world. '.repeat(30) }, 'prompt', /maximum context length is 64/],
      [{ stream: 'yes' }, 'stream', /true or false/],
      [{ repetition_penalty: 1.1 }, 'repetition_penalty', /not supported/],
      [{ stop_token_ids: [-1] }, 'stop_token_ids', /not a token id/],
      // Far longer than 64 tokens can be (Qwen3's longest token has 128 characters): refused before the tokenizer
      // spends seconds on it.
      [{ prompt: 'x'.repeat(300_000) }, 'prompt', /has 300000 characters, more than any text of 64 tokens \(at most 16384 characters/],
    ];
    for (const [extra, param, message] of cases) {
      const e = await failure(client.completions.create({ ...base, ...extra } as unknown as OpenAI.CompletionCreateParamsNonStreaming));
      expect({ extra, type: e.constructor.name, status: e.status, param: e.param }).toEqual({
        extra,
        type: 'BadRequestError',
        status: 400,
        param,
      });
      expect(e.error).toMatchObject({ type: 'invalid_request_error', message: expect.stringMatching(message) as unknown });
    }
    const chat = await failure(
      client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        tools: [{ type: 'function', function: { name: 'f' } }],
      }),
    );
    expect(chat).toBeInstanceOf(BadRequestError);
    expect(chat.param).toBe('tools');
    const long = await failure(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x'.repeat(20_000) }] }));
    expect(long).toMatchObject({ status: 400, code: 'context_length_exceeded', param: 'messages' });
    expect(long.message).toMatch(/characters/);
    const role = await failure(client.chat.completions.create({ model: MODEL, messages: [{ role: 'robot', content: 'x' }] } as never));
    expect(role).toMatchObject({ status: 400, param: 'messages[0].role' });
    const image = await failure(
      client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }],
      }),
    );
    expect(image).toMatchObject({ status: 400, param: 'messages[0].content[0]' });

    const missing = await failure(client.completions.create({ ...base, model: 'gpt-4' }));
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });
    // A long value is quoted by its start only.
    const longName = await failure(client.completions.create({ ...base, model: 'm'.repeat(100_000) }));
    expect(longName.message.length).toBeLessThan(400);

    // Fields it does not know are ignored, as OpenAI-compatible servers do.
    const r = await client.completions.create({ ...base, temperature: 0, user: 'me', some_vendor_field: { x: 1 } } as never);
    expect((r as OpenAI.Completion).choices[0]!.text).toBe(expected(codec.encode('hi'), 2).text);
  });

  it('answers 429 when the queue is full, 504 past a deadline, 503 when closed, 501 without a tokenizer', async () => {
    // Decode steps slow enough (100 × 10 ms) that the mid-stream deadline falls after the first token even on a loaded machine.
    const { client, server, http } = await start({ maxBatch: 1, queue: 0 }, { decodeMs: 10 });
    const first = client.completions.create({ model: MODEL, prompt: 'a', max_tokens: 40, temperature: 0 });
    await waitFor(() => server.stats().active === 1, 2000, 'admission');
    const full = await failure(client.completions.create({ model: MODEL, prompt: 'b', max_tokens: 1 }));
    expect(full).toBeInstanceOf(RateLimitError);
    expect(full).toMatchObject({ status: 429, code: 'queue_full', type: 'rate_limit_error' });
    expect((await first).choices[0]!.finish_reason).toBe('length');

    // With max_batch 1 and no queue, each request below waits for the one before it to give its slot back
    // (a settled request keeps its slot until the server's next step boundary: docs/serving.md).
    // `active` counts running requests; the engine call in flight (one 10 ms step) ends before the slot is free.
    const idle = async () => {
      await waitFor(() => server.stats().active === 0, 2000, 'no running request');
      await new Promise((r) => setTimeout(r, 200));
    };
    await idle();
    // deadline_ms: parplan's extension (the client passes extra fields through).
    const late = await failure(client.completions.create({ model: MODEL, prompt: 'c', max_tokens: 100, deadline_ms: 20 } as never));
    expect(late).toMatchObject({ status: 504, code: 'deadline_exceeded', type: 'timeout_error' });
    // A stream whose deadline passes mid-way: the error arrives as an event the client raises.
    await idle();
    const stream = await client.completions.create({ model: MODEL, prompt: 'c', max_tokens: 100, stream: true, deadline_ms: 500 } as never);
    let got = '';
    const mid = await failure(
      (async () => {
        for await (const chunk of stream as unknown as AsyncIterable<OpenAI.Completion>) got += chunk.choices[0]?.text ?? '';
      })(),
    );
    expect(mid.message).toMatch(/deadline of 500 ms passed/);
    expect(got.length).toBeGreaterThan(0);

    await server.close();
    const closed = await failure(client.completions.create({ model: MODEL, prompt: 'd', max_tokens: 1 }));
    expect(closed).toBeInstanceOf(InternalServerError);
    expect(closed).toMatchObject({ status: 503, code: 'server_closed' });
    expect((await fetch(`${http.url}/health`)).status).toBe(503);

    const bare = setup();
    const noText = await startHttpServer(bare.server, { port: 0, modelName: 'org/tiny' });
    handles.push(noText);
    const c2 = new OpenAI({ baseURL: `${noText.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const e = await failure(c2.chat.completions.create({ model: 'org/tiny', messages: [{ role: 'user', content: 'x' }] }));
    expect(e).toMatchObject({ status: 501, code: 'no_tokenizer' });
    expect((await c2.models.list()).data[0]!.id).toBe('org/tiny');
    // An id with a slash, as the client sends it and escaped.
    expect((await c2.models.retrieve('org/tiny')).id).toBe('org/tiny');
    expect((await fetch(`${noText.url}/v1/models/org%2Ftiny`)).status).toBe(200);
  });

  it('answers invalid JSON, a large body, an unknown route and a wrong method in the error shape', async () => {
    const { http } = await start();
    const post = async (path: string, body: string) => {
      const res = await fetch(`${http.url}${path}`, { method: 'POST', body });
      return { status: res.status, json: (await res.json()) as { error: Record<string, unknown> } };
    };
    const shape = { message: expect.any(String) as unknown, type: 'invalid_request_error', param: null };
    expect(await post('/v1/chat/completions', '{"messages": [')).toEqual({
      status: 400,
      json: { error: { ...shape, code: 'invalid_json' } },
    });
    expect(await post('/v1/completions', JSON.stringify({ prompt: 'x'.repeat(2 * 1024 * 1024) }))).toEqual({
      status: 413,
      json: { error: { ...shape, code: 'body_too_large' } },
    });
    expect(await post('/v1/embeddings', '{}')).toEqual({ status: 404, json: { error: { ...shape, code: 'not_found' } } });
    const get = await fetch(`${http.url}/v1/chat/completions`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(((await get.json()) as { error: unknown }).error).toEqual({ ...shape, code: 'method_not_allowed' });
  });

  it('cancels the generation when the client goes away mid-stream', async () => {
    const { client, server, engine } = await start({}, { decodeMs: 3 });
    const ac = new AbortController();
    const stream = await client.chat.completions.create(
      { model: MODEL, messages: [{ role: 'user', content: 'Go on forever.' }], max_tokens: 200, temperature: 0, stream: true },
      { signal: ac.signal },
    );
    let chunks = 0;
    await failure(
      (async () => {
        for await (const _ of stream) if (++chunks === 5) ac.abort();
      })(),
    ).catch(() => undefined);
    await waitFor(() => server.stats().requests.cancelled === 1, 2000, 'cancellation');
    await waitFor(() => engine.occupiedSlots().length === 0, 2000, 'slot release');
    expect(server.stats()).toMatchObject({ active: 0, requests: { completed: 0, cancelled: 1 } });
    expect(server.stats().tokens.total).toBeLessThan(100);
  });

  it('serves many streams at once, some abandoned mid-way: the rest get their exact text, every slot is freed', async () => {
    const { client, server, engine, codec, expected } = await start({ maxBatch: 4, queue: 64 }, { decodeMs: 1 });
    const run = async (i: number) => {
      const prompt = `Stream number ${i}:`;
      const ac = new AbortController();
      const stream = await client.completions.create(
        { model: MODEL, prompt, max_tokens: 12, temperature: 0, stream: true },
        { signal: ac.signal },
      );
      let text = '';
      let n = 0;
      try {
        for await (const chunk of stream) {
          text += chunk.choices[0]?.text ?? '';
          // Every third client leaves after its second event.
          if (i % 3 === 0 && ++n === 2) ac.abort();
        }
      } catch {
        // The client may raise its abort or just end the iteration.
      }
      if (ac.signal.aborted) return 'left';
      expect(text).toBe(expected(codec.encode(prompt), 12).text);
      return 'done';
    };
    const outcomes = await Promise.all(Array.from({ length: 16 }, (_, i) => run(i)));
    const left = outcomes.filter((o) => o === 'left').length;
    expect(outcomes.filter((o) => o === 'done').length).toBe(16 - left);
    expect(left).toBeGreaterThan(0);
    await waitFor(() => server.stats().active === 0 && engine.occupiedSlots().length === 0, 3000, 'slots freed');
    const r = server.stats().requests;
    // A client that left after the last token may still count as completed.
    expect(r.completed + r.cancelled).toBe(16);
    expect(r.cancelled).toBeLessThanOrEqual(left);
    expect(r.cancelled).toBeGreaterThan(0);
    expect(r.failed + r.rejected + r.deadline).toBe(0);
  });

  it('keeps /health, /healthz and /v1/generate', async () => {
    const { http, engine } = await start();
    for (const path of ['/health', '/healthz']) {
      const res = await fetch(`${http.url}${path}`);
      expect({ path, status: res.status, body: await res.json() }).toEqual({ path, status: 200, body: { status: 'ok' } });
    }
    const gen = await fetch(`${http.url}/v1/generate`, { method: 'POST', body: JSON.stringify({ prompt: [1, 2], max_new_tokens: 2 }) });
    expect(gen.status).toBe(200);
    engine.loseDevice('test loss');
    await sleep(1);
    expect((await fetch(`${http.url}/health`)).status).toBe(503);
  });
});
