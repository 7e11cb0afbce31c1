/**
 * `parplan train --weights SPEC --data FILE --steps N --lr X [--save DIR] [--seed N] [--log FILE]
 * <file.graph.json>`: train a compiled training plan on the WebGPU runtime.
 *
 * Everything that can be checked without a GPU is checked first, each mistake a coded usage
 * error (exit 2): a missing argument (PP6010), a value that is not one (PP6011), a graph that is
 * not a training graph — a serving graph names its `mode = serve` (PP6012), weights that cannot
 * be found (PP6001), a token file that cannot be used: missing, not llm.c's format, too short for
 * one batch, a token outside the vocabulary (PP6013), weights that are not the model's (PP6011).
 * Then createTrainer (runtime/training/executor.ts, loaded with a dynamic import as `serve` loads
 * the runtime: src/ never imports runtime/ statically) runs --steps steps on batches drawn from
 * the token file; a graph it cannot run yet (several devices, 16-bit weights, W steps) is PP6014
 * (exit 1) with the executor's reason.
 */
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CODES, formatMessage, type Code } from '../../diagnostics/codes.js';
import { LIMITS, limitText } from '../../facts/limits.js';
import type { Graph } from '../../graph/types.js';
import { printable } from '../../format.js';
import { makeStyle, shouldColor } from '../../render/style.js';
import { parseArgs } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { TRAIN, commandHelp } from '../spec.js';
import { CodedUsageError } from '../usage.js';

export interface TrainArgs {
  graph: string;
  weights: string;
  data: string;
  steps: number;
  lr: number;
  seed: number;
  save?: string;
  log?: string;
}

function fail(code: Code, args: Record<string, string | number>, hint: string): never {
  throw new CodedUsageError(code, formatMessage(CODES[code].message, args), hint, TRAIN.name);
}

const COMPILE_HINT = 'compile a plan with mode = train first: parplan compile FILE.plan --plan NAME -o NAME.graph.json';

export function parseTrainArgs(argv: readonly string[]): TrainArgs | 'help' {
  const args = parseArgs(argv, TRAIN.options, TRAIN.name);
  if (args.options.has('--help')) return 'help';
  if (args.positionals.length === 0) fail('PP6010', { what: 'the training graph to run' }, COMPILE_HINT);
  if (args.positionals.length > 1)
    fail('PP6011', { option: 'graph', expected: 'one graph file', value: args.positionals.join(' ') }, 'train runs one graph at a time');
  const text = (name: string, what: string, hint: string): string => {
    const v = args.options.get(name);
    if (typeof v !== 'string') fail('PP6010', { what: `${name} (${what})` }, hint);
    return v;
  };
  const weights = text('--weights', 'the initial weights', 'use --weights random:SEED, or safetensors files or a directory');
  const data = text('--data', 'the token file', 'make one from text: node --import tsx scripts/make-tokens.ts docs/ tokens.bin');
  const stepsText = text('--steps', 'how many optimizer steps', 'e.g. --steps 200');
  const lrText = text('--lr', 'the learning rate', 'e.g. --lr 3e-4');
  const steps = /^\d{1,9}$/.test(stepsText) ? Number(stepsText) : NaN;
  if (!(steps >= 1)) fail('PP6011', { option: '--steps', expected: 'a whole number ≥ 1', value: stepsText }, 'e.g. --steps 200');
  const lr = /^[0-9.eE+-]+$/.test(lrText) ? Number(lrText) : NaN;
  if (!(Number.isFinite(lr) && lr > 0)) fail('PP6011', { option: '--lr', expected: 'a number > 0', value: lrText }, 'e.g. --lr 3e-4');
  const seedText = args.options.get('--seed');
  let seed = 1;
  if (typeof seedText === 'string') {
    seed = /^\d{1,10}$/.test(seedText) ? Number(seedText) : NaN;
    if (!(seed <= 0xffffffff))
      fail('PP6011', { option: '--seed', expected: 'a whole number from 0 to 4294967295', value: seedText }, 'e.g. --seed 1');
  }
  const save = args.options.get('--save');
  const log = args.options.get('--log');
  return {
    graph: args.positionals[0]!,
    weights,
    data,
    steps,
    lr,
    seed,
    ...(typeof save === 'string' ? { save } : {}),
    ...(typeof log === 'string' ? { log } : {}),
  };
}

/** The graph in `path`, if it is a training graph; anything else is PP6001 (unreadable) or PP6012. */
export function readTrainingGraph(path: string, cwd: string): Graph {
  const full = resolve(cwd, path);
  let text: string;
  try {
    // Looked at before it is read: a FIFO would wait for a writer forever, /dev/zero never ends.
    const st = statSync(full);
    if (!st.isFile()) fail('PP6001', { path, reason: st.isDirectory() ? 'it is a directory' : 'it is not a regular file' }, COMPILE_HINT);
    if (st.size > LIMITS.graphFileBytes)
      fail(
        'PP6001',
        { path, reason: `it is ${st.size} bytes, over the limit of ${limitText(LIMITS.graphFileBytes)} for a graph` },
        COMPILE_HINT,
      );
    text = readFileSync(full, 'utf8');
  } catch (e) {
    if (e instanceof CodedUsageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    fail('PP6001', { path, reason: code === 'ENOENT' ? 'no such file' : e instanceof Error ? e.message : String(e) }, COMPILE_HINT);
  }
  if (path.endsWith('.plan'))
    fail(
      'PP6012',
      { path, reason: 'it is a plan, not a compiled graph' },
      `compile it first: parplan compile ${path} --plan NAME, then: parplan train … NAME.graph.json`,
    );
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    fail('PP6012', { path, reason: `it is not JSON (${e instanceof Error ? e.message : String(e)})` }, COMPILE_HINT);
  }
  if (Array.isArray(value)) fail('PP6012', { path, reason: `it holds ${value.length} graphs; train takes one` }, COMPILE_HINT);
  const g = value as Partial<Graph> | null;
  if (g === null || typeof g !== 'object' || g.format !== 'parplan-graph' || typeof g.plan !== 'object' || g.plan === null)
    fail('PP6012', { path, reason: "it is not a parplan graph (no format 'parplan-graph' and plan)" }, COMPILE_HINT);
  if (g.plan.mode !== 'train')
    fail(
      'PP6012',
      {
        path,
        reason: `it is the graph of plan '${g.plan.name}' with mode = ${String(g.plan.mode)}, and train runs plans with mode = train`,
      },
      g.plan.mode === 'serve' ? `serve it instead: parplan serve --weights SPEC ${path}` : COMPILE_HINT,
    );
  return g as Graph;
}

export async function runTrain(argv: readonly string[], io: Io): Promise<ExitCode> {
  const args = parseTrainArgs(argv);
  if (args === 'help') {
    io.stdout.write(commandHelp(TRAIN));
    return EXIT.OK;
  }
  const graph = readTrainingGraph(args.graph, io.cwd);

  // The weights: the spec, then that every path is there (load.ts does not load WebGPU).
  const { parseWeightsSource } = await import('../../../runtime/weights/load.js');
  let weights: ReturnType<typeof parseWeightsSource>;
  try {
    weights = parseWeightsSource(args.weights);
  } catch (e) {
    fail(
      'PP6011',
      { option: '--weights', expected: `weights (${e instanceof Error ? e.message : String(e)})`, value: args.weights },
      'use random:SEED, or safetensors files or a directory (comma-separated)',
    );
  }
  if (weights.kind === 'safetensors') {
    for (const p of weights.paths) {
      let ok = false;
      try {
        const st = statSync(resolve(io.cwd, p));
        ok = st.isFile() || st.isDirectory();
      } catch {
        // reported below
      }
      if (!ok) fail('PP6001', { path: p, reason: 'no such file or directory' }, 'give safetensors files, a directory, or random:SEED');
    }
  }

  // --save and --log name a directory and a file to write at the end: refused now if they cannot be (not after the steps).
  if (args.save !== undefined && statSync(resolve(io.cwd, args.save), { throwIfNoEntry: false })?.isDirectory() === false)
    fail(
      'PP6011',
      { option: '--save', expected: 'a directory to write model.safetensors and config.json in', value: args.save },
      'it is a file: give a directory (created if missing)',
    );
  if (args.log !== undefined && statSync(resolve(io.cwd, args.log), { throwIfNoEntry: false })?.isDirectory())
    fail('PP6011', { option: '--log', expected: 'a file', value: args.log }, 'it is a directory: give a file name, e.g. run.log.jsonl');

  // The data: llm.c's token format, every token inside the model's vocabulary, at least one batch's window.
  const { readTokenFile, TokenDataError } = await import('../../../runtime/training/data.js');
  const { trainingBatchShape } = await import('../../../runtime/training/batch.js');
  const shape = trainingBatchShape(graph);
  let tokens: Uint32Array;
  try {
    tokens = readTokenFile(resolve(io.cwd, args.data), graph.model.vocab);
  } catch (e) {
    if (!(e instanceof TokenDataError)) throw e;
    fail('PP6013', { path: args.data, reason: e.message.slice(e.path.length + 2) }, dataHint(e.message));
  }
  if (shape && tokens.length < shape.seq + 1)
    fail(
      'PP6013',
      {
        path: args.data,
        reason: `its ${tokens.length} tokens are too short for one sequence of seq ${shape.seq} + 1 = ${shape.seq + 1} tokens`,
      },
      'a batch is windows of seq + 1 consecutive tokens: give a longer file',
    );

  if (!shape) throw new Error('internal error: a training graph without its batch shape (tokens.mb{m}) (this is a bug in parplan)');
  return train(graph, args, tokens, shape, weights, io);
}

/** One step's line of the JSONL log (--log) and of the progress. */
export interface TrainLogLine {
  step: number;
  /** Mean next-token cross-entropy of the step's global batch, before its update. */
  loss: number;
  /** Global L2 norm of the gradients, before clipping. */
  gradNorm: number;
  /** Tokens the step trained on (sequences × seq). */
  tokens: number;
  /** Wall time of the step (batch upload, forward, backward, optimizer, readback). */
  seconds: number;
}

/** The optimizer `parplan train` runs: torch.optim.AdamW's defaults (or SGD's) with --lr; the graph says which. */
export function trainOptimizer(graph: Graph, lr: number) {
  const adamw = graph.tensors.some((t) => t.role === 'optimizer');
  return adamw
    ? { kind: 'adamw' as const, lr, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0.01 }
    : { kind: 'sgd' as const, lr, weightDecay: 0 };
}

async function train(
  graph: Graph,
  args: TrainArgs,
  tokens: Uint32Array,
  shape: { sequences: number; seq: number },
  source: { kind: 'safetensors'; paths: string[] } | { kind: 'random'; seed: number },
  io: Io,
): Promise<ExitCode> {
  const style = makeStyle(shouldColor(io.stderr, io.env));
  const { createTrainer, TrainerInputError, TrainingNotExecutedError } = await import('../../../runtime/training/executor.js');
  const { batches } = await import('../../../runtime/training/data.js');
  const error = (text: string, hint?: string) => {
    io.stderr.write(
      `${style.bold(style.red('error'))}${style.bold(`: ${printable(text)}`)}\n${hint ? `  = help: ${printable(hint)}\n` : ''}`,
    );
    return EXIT.FAILED;
  };

  // The initial weights under their Hugging Face names: random (GPT-2's init, N(0, 0.02)) or a checkpoint's tensors as f32.
  let weights: Map<string, Float32Array>;
  if (source.kind === 'random') {
    const { randomWeights } = await import('../../../runtime/reference/model.js');
    weights = randomWeights(graph.model, source.seed, 0.02);
  } else {
    try {
      weights = await readCheckpointF32(source.paths.map((p) => resolve(io.cwd, p)));
    } catch (e) {
      fail('PP6011', { option: '--weights', expected: 'readable safetensors weights', value: args.weights }, messageOf(e));
    }
  }

  const optimizer = trainOptimizer(graph, args.lr);
  let trainer: Awaited<ReturnType<typeof createTrainer>>;
  try {
    trainer = await createTrainer(graph, { weights, optimizer });
  } catch (e) {
    if (e instanceof TrainingNotExecutedError)
      return coded(io, 'PP6014', { reason: e.message }, 'the closing note of issue 16 lists what the trainer runs today');
    if (e instanceof TrainerInputError)
      fail(
        'PP6011',
        {
          option: '--weights',
          expected: `the weights of model '${printable(graph.model.name)}' (Hugging Face names)`,
          value: args.weights,
        },
        e.message,
      );
    return error(`cannot start training: ${messageOf(e)}`);
  }

  const log = args.log === undefined ? undefined : resolve(io.cwd, args.log);
  const stepTokens = shape.sequences * shape.seq;
  const tty = io.stderr.isTTY === true;
  io.stderr.write(
    `training plan '${printable(graph.plan.name)}' (${printable(graph.model.name)}, global batch ${shape.sequences} × seq ${shape.seq}, ` +
      `${optimizer.kind} lr ${args.lr}) on ${tokens.length} tokens of ${printable(args.data)} for ${args.steps} steps\n`,
  );
  const lines: TrainLogLine[] = [];
  const started = performance.now();
  try {
    if (log) writeFileSync(log, '');
    const stream = batches(tokens, { sequences: shape.sequences, seq: shape.seq, seed: args.seed }, args.data);
    for (let step = 1; step <= args.steps; step++) {
      const t0 = performance.now();
      const r = await trainer.step(stream.next().value!);
      const line: TrainLogLine = { step, loss: r.loss, gradNorm: r.gradNorm, tokens: stepTokens, seconds: (performance.now() - t0) / 1000 };
      lines.push(line);
      if (log) appendFileSync(log, JSON.stringify(line) + '\n');
      const rate = (step * stepTokens) / ((performance.now() - started) / 1000);
      const text = `step ${String(step).padStart(String(args.steps).length)}/${args.steps}  loss ${r.loss.toFixed(4)}  grad norm ${r.gradNorm.toFixed(3)}  ${Math.round(rate)} tokens/s`;
      // A TTY gets one line rewritten in place; a pipe or file a plain line per step.
      io.stderr.write(tty ? `\r\x1b[2K${text}${step === args.steps ? '\n' : ''}` : `${text}\n`);
      if (!Number.isFinite(r.loss)) {
        trainer.close();
        return error(`the loss is ${r.loss} at step ${step}`, 'lower --lr (or set grad_clip in the plan) and train again');
      }
    }
    if (args.save !== undefined) await trainer.save(resolve(io.cwd, args.save));
  } catch (e) {
    trainer.close();
    if (tty) io.stderr.write('\n');
    return error(`training stopped at step ${lines.length + 1}: ${messageOf(e)}`);
  }
  trainer.close();
  const seconds = (performance.now() - started) / 1000;
  const last = lines.slice(-10);
  const mean = last.reduce((a, l) => a + l.loss, 0) / last.length;
  io.stdout.write(
    `trained ${args.steps} steps in ${seconds.toFixed(1)} s (${Math.round((args.steps * stepTokens) / seconds)} tokens/s): ` +
      `loss ${lines[0]!.loss.toFixed(4)} at step 1, ${mean.toFixed(4)} over the last ${last.length}` +
      (args.save !== undefined ? `; saved to ${printable(args.save)}` : '') +
      (args.log !== undefined ? `; log in ${printable(args.log)}` : '') +
      '\n',
  );
  return EXIT.OK;
}

/** A coded error that is not a usage mistake (exit 1), rendered as the other coded errors. */
function coded(io: Io, code: Code, args: Record<string, string | number>, hint: string): ExitCode {
  const style = makeStyle(shouldColor(io.stderr, io.env));
  io.stderr.write(
    `${style.bold(style.red(`error[${code}]`))}${style.bold(`: ${printable(formatMessage(CODES[code].message, args))}`)}\n  = help: ${hint}\n`,
  );
  return EXIT.FAILED;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Every tensor of safetensors files or directories, as f32 under its name (F32, BF16 and F16 tensors). */
async function readCheckpointF32(paths: string[]): Promise<Map<string, Float32Array>> {
  const { openCheckpoint } = await import('../../../runtime/weights/checkpoint.js');
  const { toF32 } = await import('../../../runtime/weights/convert.js');
  const ckpt = await openCheckpoint(paths);
  const out = new Map<string, Float32Array>();
  try {
    for (const name of ckpt.names) {
      const at = await ckpt.locate(name);
      if (!at) continue;
      const format = ({ F32: 'f32', BF16: 'bf16', F16: 'f16' } as const)[at.entry.dtype as 'F32' | 'BF16' | 'F16'];
      if (!format) throw new Error(`${at.file.path}: tensor ${name} is ${at.entry.dtype}; training reads F32, BF16 or F16 weights`);
      out.set(name, Float32Array.from(toF32(new Uint8Array(await at.file.readSlice(name)), format)));
    }
  } finally {
    await ckpt.close();
  }
  return out;
}

function dataHint(message: string): string {
  if (message.includes('outside the model'))
    return "the file was made with another tokenizer than the model's: make it again for this vocabulary";
  if (message.includes('no such file')) return 'make one from text: node --import tsx scripts/make-tokens.ts docs/ tokens.bin';
  return 'a token file is llm.c\'s format (docs/runtime.md, "Training"): scripts/make-tokens.ts writes one';
}
