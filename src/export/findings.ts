/**
 * An exporter's diagnostics, each pointing at the value the user wrote for the knob (or, for
 * a default, at the plan's name), with the engine named in the message.
 */
import { diag, hasErrors, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { CheckedPlan } from '../plan.js';
import type { Span } from '../source.js';
import { partialNodeWhy, placement, type Placement } from './cluster.js';
import { ENGINE_NAMES, type Engine, type ExportResult } from './types.js';

export class Findings {
  readonly list: Diagnostic[] = [];
  private readonly engine: string;

  constructor(
    private readonly plan: CheckedPlan,
    engine: Engine,
  ) {
    this.engine = ENGINE_NAMES[engine];
  }

  /** Where the user wrote `key` (`zero`, `batch.max_wait`), else the plan's name. */
  span(key: string): Span {
    return this.plan.spans[key] ?? this.plan.span;
  }

  /** Whether the user wrote `key` (a default is never worth a warning). */
  given(key: string): boolean {
    return key in this.plan.spans;
  }

  /** A plan of the other mode: PP8001, and the export writes nothing. */
  wrongMode(expected: 'serve' | 'train', help: string): ExportResult {
    this.list.push(
      diag('PP8001', this.span('mode'), { engine: this.engine, expected, plan: this.plan.name, mode: this.plan.mode }, { help }),
    );
    return { files: [], diagnostics: this.list };
  }

  /** A serve plan given to a training engine (torchtitan, Megatron-LM, DeepSpeed). */
  notTraining(): ExportResult {
    return this.wrongMode('train', 'export a serve plan with --to vllm, or pick a training plan with --plan NAME');
  }

  /** Where the ranks run; undefined, and PP8002 on `data`, when the GPUs used do not fill whole nodes. */
  wholeNodes(): Placement | undefined {
    const at = placement(this.plan);
    if (at === undefined)
      this.notExpressible(
        'data',
        `data = ${this.plan.mesh.data}`,
        partialNodeWhy(this.plan),
        'use every GPU of the nodes the plan runs on',
      );
    return at;
  }

  /**
   * What every training export checks first, in this order: a quantized base, the LoRA adapter
   * (`adapter`: how this engine takes it, called only when the plan has one), whole nodes.
   */
  trainingStart(adapter: () => void): Placement | undefined {
    this.quantizedTraining();
    if (this.plan.mode === 'train' && this.plan.adapter) adapter();
    return this.wholeNodes();
  }

  /** The engine would run something other than the plan, or need more memory than the plan was checked for. */
  notExpressible(key: string, knob: string, why: string, help: string, at?: Span): void {
    this.list.push(diag('PP8002', at ?? this.span(key), { engine: this.engine, knob, why }, { help }));
  }

  /** The engine runs the knob another way that needs no more memory, or the knob has no engine setting. */
  approximated(key: string, knob: string, how: string, help?: string, at?: Span): void {
    this.list.push(diag('PP8003', at ?? this.span(key), { engine: this.engine, knob, how }, help === undefined ? {} : { help }));
  }

  /** A training engine updates 16- or 32-bit weights: a quantized model's plan counted weights it would not hold. */
  quantizedTraining(): void {
    const q = this.plan.model.quant;
    if (!q) return;
    if (this.plan.mode === 'train' && this.plan.adapter) {
      this.notExpressible(
        'model',
        `quantization = ${q.method}`,
        `its config cannot hold a frozen ${q.method}-quantized base (QLoRA's base is quantized when the model is loaded, e.g. transformers' BitsAndBytesConfig), and it would train weights in the training precision`,
        'remove quantization from the model to plan LoRA on a 16-bit base, or run QLoRA with Hugging Face PEFT and bitsandbytes',
        this.plan.model.span,
      );
      return;
    }
    this.notExpressible(
      'model',
      `quantization = ${q.method}`,
      `it trains weights in the training precision, not ${q.method}-quantized ones, which needs more memory than the plan was checked for`,
      'remove quantization from the model to plan training in 16-bit, or export a serve plan --to vllm',
      this.plan.model.span,
    );
  }

  /** The plan's LoRA adapter as its block reads (`adapter { rank = 64  targets = ["all-linear"] }`), for messages. */
  adapterKnob(): string {
    const a = this.plan.mode === 'train' ? this.plan.adapter : undefined;
    if (!a) return 'adapter';
    return `adapter { rank = ${a.rank}  targets = [${a.targets.map((t) => `"${t}"`).join(', ')}] }`;
  }

  /** PEFT's LoraConfig for the plan's adapter: what a training script passes to get_peft_model. */
  peftConfig(): string {
    const a = this.plan.mode === 'train' ? this.plan.adapter : undefined;
    if (!a) return '';
    const targets =
      a.targets.length === 1 && a.targets[0] === 'all-linear' ? '"all-linear"' : `[${a.targets.map((t) => `"${t}"`).join(', ')}]`;
    return `LoraConfig(r=${a.rank}, lora_alpha=${a.alpha}, lora_dropout=${a.dropout}, target_modules=${targets})`;
  }

  placeholder(what: string, placeholder: string, help: string): void {
    this.list.push(diag('PP8004', this.span('model'), { engine: this.engine, what, placeholder }, { help }));
  }

  get failed(): boolean {
    return hasErrors(this.list);
  }
}
