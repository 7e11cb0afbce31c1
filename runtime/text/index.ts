/** Text in and text out (docs/runtime.md, "Text"): the checkpoint's tokenizer and chat template, sampling, text generation. */
export type { ChatMessage, SamplingOptions, StreamDecoder, TextCodec } from './types.js';
export { hasTokenizer, IncrementalDecoder, loadTextCodec, TextCodecError, TOKENIZER_FILES, type CheckpointTextCodec } from './codec.js';
export { argmax, isSampling, sampleToken, samplingProblem, samplingRandom } from './sampling.js';
export { generateText, StopWatcher, stopStringsProblem, type TextGenerateOptions, type TextGenerateResult } from './generate.js';
