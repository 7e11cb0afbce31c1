/**
 * Every exported script is correct bash, for every example, every fixture and a generated matrix
 * of plans (test/export/matrix.ts, 1 to 3072 GPUs): `bash -n` and shellcheck (Debian package
 * `shellcheck`, installed by scripts/setup-tests.sh) accept it; run under bash with fake
 * launchers (torchrun, vllm, deepspeed) on PATH, it stops before launching anything while a
 * placeholder is unset, and once they are set it launches exactly the commands of the node
 * NODE_RANK names (one torchrun with that --node-rank; that node's vLLM replicas), never another's.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placement } from '../../src/export/cluster.js';
import { ENGINES, exportPlan, type Engine } from '../../src/export/index.js';
import type { CheckedPlan } from '../../src/plan.js';
import { plain, required, word } from '../../src/export/shell.js';
import { allCases, filledEnv, Launcher, nodesOf, placeholders } from './launch.js';
import { matrixPlans } from './matrix.js';

const MODE: Record<Engine, 'serve' | 'train'> = { vllm: 'serve', torchtitan: 'train', megatron: 'train', deepspeed: 'train' };
let launcher: Launcher;
beforeAll(() => {
  launcher = new Launcher();
});
afterAll(() => launcher.dispose());

describe('exported scripts are correct bash', () => {
  const all = allCases();
  const scripts: { label: string; engine: Engine; plan: CheckedPlan; file: string; text: string; withModel: boolean }[] = [];
  beforeAll(() => {
    for (const { label, plan } of all) {
      for (const engine of ENGINES) {
        if (plan.mode !== MODE[engine]) continue;
        // Without --model (placeholders) and, where it applies, with one (the launch runs through).
        for (const withModel of engine === 'deepspeed' ? [false] : [false, true]) {
          const out = exportPlan(engine, plan, withModel ? { model: engine === 'torchtitan' ? 'custom' : 'org/model' } : {});
          const dir = launcher.write(out.files);
          for (const f of out.files.filter((f) => f.name.endsWith('.sh')))
            scripts.push({
              label: `${label} --to ${engine}${withModel ? ' --model' : ''}`,
              engine,
              plan,
              file: join(dir, f.name),
              text: f.text,
              withModel,
            });
        }
      }
    }
  });

  it('the matrix spans 1 to 3072 GPUs and most of it checks', () => {
    const m = matrixPlans();
    expect(m.plans.length / m.generated).toBeGreaterThan(0.9);
    const gpus = m.plans.map((p) => p.plan.derived.gpusUsed);
    expect(Math.min(...gpus)).toBe(1);
    expect(Math.max(...gpus)).toBe(3072);
  });

  it('many scripts, of every engine, are exported', () => {
    expect(scripts.length).toBeGreaterThan(300);
    for (const engine of ENGINES) expect(scripts.some((s) => s.engine === engine)).toBe(true);
    expect(scripts.some((s) => nodesOf(s.text) > 16)).toBe(true);
  });

  it('every script starts with #!/usr/bin/env bash and sets -euo pipefail before any command', () => {
    for (const s of scripts) {
      expect(s.text.startsWith('#!/usr/bin/env bash\n'), s.label).toBe(true);
      const code = s.text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
      expect(code[0], s.label).toBe('set -euo pipefail');
    }
  });

  it('bash -n accepts every script', () => {
    const bad = scripts.filter((s) => spawnSync('bash', ['-n', s.file], { encoding: 'utf8' }).status !== 0).map((s) => s.label);
    expect(bad).toEqual([]);
  });

  it('shellcheck finds nothing in any script (every severity)', () => {
    // One run over all files; its output names the file and line of each finding.
    const r = spawnSync('shellcheck', ['--shell=bash', '--severity=style', ...scripts.map((s) => s.file)], {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    if (r.error)
      throw new Error(`shellcheck did not run (${r.error.message}): install it with scripts/setup-tests.sh (Debian package shellcheck)`);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('with a placeholder unset, a script stops before launching and names what to set', () => {
    let stopped = 0;
    for (const s of scripts) {
      const names = placeholders(s.text);
      const fill = s.engine === 'torchtitan' && readFileSync(s.file.replace(/\.sh$/, '.toml'), 'utf8').includes('<fill in: ');
      if (names.length === 0 && !fill) continue;
      const r = launcher.run(s.file, {});
      expect(r.status, s.label).not.toBe(0);
      expect(r.calls, s.label).toEqual([]);
      expect(r.stderr, s.label).toMatch(/set [A-Z_]+ to |fill in /);
      stopped++;
    }
    expect(stopped).toBeGreaterThan(100);
  });

  it('with every placeholder set, each node launches its own commands and no other', () => {
    let launched = 0;
    for (const s of scripts.filter((s) => s.withModel || s.engine === 'deepspeed')) {
      const env = filledEnv(s.text);
      const nodes = nodesOf(s.text);
      // The first, second and last node (a wrong NODE_RANK stops the script).
      for (const rank of [...new Set([0, Math.min(1, nodes - 1), nodes - 1])]) {
        const r = launcher.run(s.file, nodes > 1 ? { ...env, NODE_RANK: String(rank) } : env);
        expect(r.status, `${s.label} node ${rank}: ${r.stderr}`).toBe(0);
        const expected = expectedCalls(s.engine, s.plan, rank);
        expect(r.calls.length, `${s.label} node ${rank}`).toBe(expected);
        for (const c of r.calls) {
          if (c[0] === 'torchrun') {
            expect(c[c.indexOf('--node-rank') + 1], s.label).toBe(String(rank));
            expect(c[c.indexOf('--nnodes') + 1], s.label).toBe(String(nodes));
          }
        }
        launched += r.calls.length;
      }
      if (nodes > 1) {
        const r = launcher.run(s.file, { ...env, NODE_RANK: String(nodes) });
        expect(r.status, s.label).not.toBe(0);
        expect(r.stderr, s.label).toContain(`NODE_RANK must be 0 to ${nodes - 1}`);
        expect(r.calls).toEqual([]);
      }
    }
    expect(launched).toBeGreaterThan(100);
  });
});

/** How many launcher commands node `rank` runs: one torchrun or deepspeed (node 0) per node; vLLM, the replicas or engine ranks that start there. */
function expectedCalls(engine: Engine, plan: CheckedPlan, rank: number): number {
  if (engine === 'deepspeed') return rank === 0 ? 1 : 0;
  if (engine !== 'vllm') return 1;
  const per = plan.cluster.gpusPerNode;
  const g = plan.mesh.tensor * plan.mesh.pipeline;
  const e = plan.experts;
  const replicas = e.expert === 1 && e.tensor === plan.mesh.tensor;
  if (!replicas) return placement(plan)!.nodes > 1 || rank === 0 ? 1 : 0;
  let n = 0;
  for (let r = 0; r < plan.mesh.data; r++) if (Math.floor((r * g) / per) === rank) n++;
  return n;
}

describe('shell.ts quoting', () => {
  it('word() gives back every string through bash, apostrophes, spaces and $ included', () => {
    const nasty = [
      "it's",
      "node 0's address",
      'a b',
      '$HOME',
      '`id`',
      '"q"',
      'back\\slash',
      'x,y',
      '*',
      "''",
      'ünï',
      '-',
      'a|b',
      'Et*8|t*8L',
      '!x',
    ];
    for (const s of nasty) {
      const r = spawnSync('bash', ['-c', `printf %s ${word(s)}`], { encoding: 'utf8' });
      expect(r.stdout, s).toBe(s);
    }
  });

  it('required() refuses a message bash would interpret inside "${NAME:?…}", and plain() makes names safe for one', () => {
    expect(() => required('X', "node 0's address")).toThrow(/internal error: .* \(this is a bug in parplan\)/);
    expect(() => required('X', 'cost $5')).toThrow(/internal error/);
    expect(() => required('lower', 'fine')).toThrow(/internal error/);
    const r = spawnSync('bash', ['-c', `set -u; : ${required('UNSET_FOR_TEST', `set it for ${plain("o'brien $x")}`)}`], {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin' },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('UNSET_FOR_TEST: set it for o_brien _x');
  });
});
