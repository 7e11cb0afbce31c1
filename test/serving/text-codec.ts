/** TEMPORARY (until runtime/text lands its loader): an ASCII codec for the HTTP-shape tests. */
import type { ChatMessage, StreamDecoder, TextCodec } from '../../runtime/text/types.js';

const ch = (id: number) => String.fromCharCode(32 + (id % 95));

export function testCodec(): { codec: TextCodec; vocabSize: number } {
  const codec: TextCodec = {
    encode: (text) => [...text].map((c) => Math.max(0, Math.min(94, c.charCodeAt(0) - 32))),
    decode: (ids) => ids.map(ch).join(''),
    streamDecoder: (): StreamDecoder => ({ push: ch, flush: () => '' }),
    hasChatTemplate: true,
    applyChatTemplate: (messages: readonly ChatMessage[]) => messages.map((m) => `<${m.role}>${m.content}\n`).join('') + '<assistant>',
    eosIds: [],
  };
  return { codec, vocabSize: 1000 };
}
