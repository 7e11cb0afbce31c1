/**
 * Runs the training oracle (test/oracle/train.py: plain torch, float64) on a checkpoint
 * directory as `trainer.save` writes it (runtime/training/save.ts), and parses its answer.
 * Tests skip, saying why, when /usr/bin/python3 cannot import torch (`hasTorch`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Model } from '../../src/model.js';
import { saveCheckpoint } from '../../runtime/training/save.js';

export const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./train.py', import.meta.url));

export const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
export const NO_TORCH = `skipping the torch training oracle: ${PYTHON} cannot import torch (Debian: apt-get install python3-torch)`;

export interface OracleOptimizer {
  kind?: 'adamw' | 'sgd';
  lr: number;
  betas?: [number, number];
  eps?: number;
  weight_decay?: number;
  /** Regular expressions searched in each Hugging Face name: those parameters get no weight decay. */
  no_decay?: string[];
  /** Max global grad norm (clip_grad_norm_), or null: none. */
  clip?: number | null;
}

export interface OracleJob {
  /** Hugging Face config.json fields; required when the oracle is given a file, not a directory with config.json. */
  config?: Record<string, unknown>;
  /** The global batch (seq + 1 tokens each), used at every step… */
  batch?: number[][];
  /** …or one global batch per step (as runtime/training/data.ts `batches` draws them). */
  batches?: number[][][];
  optimizer: OracleOptimizer;
  steps: number;
  /** Also return step 1's gradients (before clipping). */
  grads?: boolean;
  /** Central differences of step 1's loss at these (name, flat index), step eps. */
  fd?: { eps: number; at: [string, number][] };
  /** precision = bf16: the file's values are fp32 masters, the forward and backward use them rounded to bf16 (train.py). */
  mixed?: 'bf16';
}

export interface OracleResult {
  steps: { loss: number; gradNorm: number }[];
  /** After the steps (mixed: the bf16 weights, i.e. the masters rounded). */
  weights: Record<string, number[]>;
  /** mixed: the masters after the steps. */
  masters?: Record<string, number[]>;
  grads?: Record<string, number[]>;
  /** [analytic, numeric] per `fd.at`. */
  fd?: [number, number][];
}

/** Run the oracle on a checkpoint directory (model.safetensors + config.json), or a safetensors file with `job.config`. */
export function runOracleDir(dir: string, job: OracleJob): OracleResult {
  const r = spawnSync(PYTHON, [SCRIPT, dir], { input: JSON.stringify(job), encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`test/oracle/train.py failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as OracleResult;
}

/** Save `weights` for `model` in a fresh directory, then run the oracle on it. */
export function runOracle(model: Model, weights: ReadonlyMap<string, Float32Array>, job: OracleJob): OracleResult {
  const dir = mkdtempSync(join(tmpdir(), 'parplan-oracle-'));
  saveCheckpoint(dir, weights, model);
  return runOracleDir(dir, job);
}

/** The trainer's optimizer options (issue 16: `createTrainer(graph, { optimizer, clip })`) as the oracle's. */
export function oracleOptimizer(
  o: { lr: number; betas?: [number, number]; eps?: number; weightDecay?: number; noDecay?: readonly (string | RegExp)[] },
  clip?: number,
): OracleOptimizer {
  return {
    kind: 'adamw',
    lr: o.lr,
    ...(o.betas ? { betas: o.betas } : {}),
    ...(o.eps !== undefined ? { eps: o.eps } : {}),
    weight_decay: o.weightDecay ?? 0,
    // Python's re.search and JavaScript's RegExp agree on the plain patterns names need (\\., |, $, ^).
    no_decay: (o.noDecay ?? []).map((p) => (typeof p === 'string' ? p : p.source)),
    clip: clip ?? null,
  };
}
