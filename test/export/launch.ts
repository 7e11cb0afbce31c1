/**
 * Running exported scripts as a user would, with fake launchers: `torchrun`, `vllm` and
 * `deepspeed` on PATH append their arguments (after the shell expanded them) to a log, so the
 * tests see exactly the argument lists each node would launch (test/export/shell.test.ts,
 * validate.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { analyze } from '../../src/analyze.js';
import type { ExportFile } from '../../src/export/index.js';
import type { CheckedPlan } from '../../src/plan.js';
import { FIXTURES } from './helpers.js';
import { matrixPlans } from './matrix.js';

const LAUNCHERS = ['torchrun', 'vllm', 'deepspeed'];

export interface RunResult {
  status: number | null;
  stderr: string;
  /** Each launcher call: [launcher, ...arguments]. */
  calls: string[][];
  /** Per call, the environment variables the launch reads (CUDA_VISIBLE_DEVICES, VLLM_PP_LAYER_PARTITION; empty when unset). */
  envs: Record<string, string>[];
}

export class Launcher {
  readonly root = mkdtempSync(join(tmpdir(), 'parplan-launch-'));
  private readonly bin = join(this.root, 'bin');
  private dirs = 0;
  private runs = 0;

  constructor() {
    mkdirSync(this.bin);
    // Each fake launcher appends its name and arguments, one per line, then a line `--end--`.
    for (const name of LAUNCHERS) {
      const fake = join(this.bin, name);
      writeFileSync(
        fake,
        // One file per call (named by the time it started, then its process id), so launches run in the background never interleave.
        `#!/usr/bin/env bash\n{ echo ${name}; printf '%s\\n' "$@"; echo --env--; echo "CUDA_VISIBLE_DEVICES=\${CUDA_VISIBLE_DEVICES-}"; echo "VLLM_PP_LAYER_PARTITION=\${VLLM_PP_LAYER_PARTITION-}"; echo --end--; } > "$LAUNCH_LOG.$(date +%s%N).$$"\n`,
      );
      chmodSync(fake, 0o755);
    }
  }

  /** Writes an export's files into a fresh directory; returns it. */
  write(files: readonly ExportFile[]): string {
    const dir = join(this.root, String(this.dirs++));
    mkdirSync(dir);
    for (const f of files) writeFileSync(join(dir, f.name), f.text);
    return dir;
  }

  /** Runs a script under bash with only PATH, LAUNCH_LOG and `env` set, from an unrelated directory. */
  run(file: string, env: Record<string, string>): RunResult {
    const log = join(this.root, `run-${this.runs++}.log`);
    const r = spawnSync('bash', [file], {
      env: { PATH: `${this.bin}:/usr/bin:/bin`, LAUNCH_LOG: log, ...env },
      encoding: 'utf8',
      cwd: this.root,
      timeout: 20_000,
    });
    return { status: r.status, stderr: r.stderr, ...calls(log) };
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

function calls(log: string): { calls: string[][]; envs: Record<string, string>[] } {
  const dir = dirname(log);
  const prefix = `${basename(log)}.`;
  const text = readdirSync(dir)
    .filter((f) => f.startsWith(prefix))
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('');
  const out: string[][] = [];
  const envs: Record<string, string>[] = [];
  let cur: string[] = [];
  let env: Record<string, string> | undefined;
  for (const line of text.split('\n')) {
    if (line === '--env--') env = {};
    else if (line === '--end--') {
      out.push(cur);
      envs.push(env ?? {});
      cur = [];
      env = undefined;
    } else if (env !== undefined) {
      const eq = line.indexOf('=');
      env[line.slice(0, eq)] = line.slice(eq + 1);
    } else if (line !== '' || cur.length > 0) cur.push(line);
  }
  return { calls: out, envs };
}

/** The placeholders a script reads: `${NAME:?…}`. */
export function placeholders(text: string): string[] {
  return [...new Set([...text.matchAll(/\$\{([A-Z][A-Z0-9_]*):\?/g)].map((m) => m[1]!))];
}

/** Values for every placeholder but NODE_RANK: addresses for *_ADDR, numbers for TRAIN_ITERS and LR, paths otherwise. */
export function filledEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const n of placeholders(text)) {
    if (n === 'NODE_RANK') continue;
    env[n] = n.endsWith('_ADDR') ? '10.0.0.1' : n === 'TRAIN_ITERS' ? '1000' : n === 'LR' ? '3e-4' : `/x/${n.toLowerCase()}`;
  }
  return env;
}

/** The nodes a script covers (NODE_RANK 0 … n − 1), 1 when it reads no NODE_RANK. */
export function nodesOf(text: string): number {
  const m = /NODE_RANK must be 0 to (\d+)/.exec(text);
  return m ? Number(m[1]) + 1 : 1;
}

/** Every example's and fixture's plans (as `parplan export` checks them) and the generated matrix. */
export function allCases(): { label: string; plan: CheckedPlan }[] {
  const files = [
    ...readdirSync('examples')
      .filter((f) => f.endsWith('.plan'))
      .map((f) => join('examples', f)),
    ...readdirSync(FIXTURES)
      .filter((f) => f.endsWith('.plan'))
      .map((f) => join(FIXTURES, f)),
  ];
  const named = files.flatMap((f) => analyze([f]).results.map((r) => ({ label: `${f} ${r.plan.name}`, plan: r.plan })));
  return [...named, ...matrixPlans().plans];
}
