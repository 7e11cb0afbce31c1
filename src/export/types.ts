/** What every exporter takes and returns. */
import type { Diagnostic } from '../diagnostics/diagnostic.js';

export const ENGINES = ['vllm', 'torchtitan', 'megatron', 'deepspeed'] as const;
export type Engine = (typeof ENGINES)[number];

/** The engines as their projects name them, for messages and file headers. */
export const ENGINE_NAMES: Record<Engine, string> = {
  vllm: 'vLLM',
  torchtitan: 'torchtitan',
  megatron: 'Megatron-LM',
  deepspeed: 'DeepSpeed',
};

export interface ExportFile {
  /** A file name (no directory): `<plan>.<engine>.<ext>`. */
  name: string;
  text: string;
}

export interface ExportResult {
  /** Empty when a diagnostic is an error. */
  files: ExportFile[];
  diagnostics: Diagnostic[];
}

export interface ExportOptions {
  /**
   * What the engine needs to find the model, which a plan does not say: vLLM, the Hugging Face
   * id or path of the weights; Megatron-LM, of the tokenizer; torchtitan, the model flavor.
   */
  model?: string;
}
