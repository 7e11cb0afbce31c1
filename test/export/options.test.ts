/**
 * Every option name an exporter writes is one read from the engine's own source
 * (src/export/options/*.ts, cited in docs/export.md), and every choice value is one of the
 * choices listed there. Checked on the real output of every example.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/analyze.js';
import { ENGINES, exportPlan, type Engine, type ExportFile } from '../../src/export/index.js';
import {
  DEEPSPEED_GRAD_ACCUM_DTYPES,
  DEEPSPEED_MOE,
  DEEPSPEED_SOURCES,
  DEEPSPEED_ZERO_OFFLOAD,
} from '../../src/export/options/deepspeed.js';
import { MEGATRON_CHOICES, MEGATRON_MODEL_SOURCES, MEGATRON_SOURCES } from '../../src/export/options/megatron.js';
import type { OptionSource } from '../../src/export/options/source.js';
import { TORCHRUN_ARGS } from '../../src/export/options/torchrun.js';
import {
  TORCHTITAN_CHOICES,
  TORCHTITAN_EXPERT_CONFIG,
  TORCHTITAN_MODELS,
  TORCHTITAN_SOURCES,
} from '../../src/export/options/torchtitan.js';
import {
  VLLM_CACHE_DTYPES,
  VLLM_ENGINE_ARGS,
  VLLM_ENV,
  VLLM_FRONTEND_ARGS,
  VLLM_MODEL_DTYPES,
  VLLM_SERVE_CLI,
} from '../../src/export/options/vllm.js';
import type { CheckedPlan } from '../../src/plan.js';
import { FIXTURES } from './helpers.js';

const names = (...sources: readonly OptionSource[]) => new Set(sources.flatMap((s) => [...s.names]));

const ALLOWED: Record<Engine, Set<string>> = {
  vllm: names(VLLM_ENGINE_ARGS, VLLM_FRONTEND_ARGS, VLLM_SERVE_CLI, VLLM_ENV),
  torchtitan: names(...TORCHTITAN_SOURCES, TORCHTITAN_EXPERT_CONFIG, TORCHRUN_ARGS),
  megatron: names(...MEGATRON_SOURCES, ...MEGATRON_MODEL_SOURCES, TORCHRUN_ARGS),
  deepspeed: names(...DEEPSPEED_SOURCES, DEEPSPEED_ZERO_OFFLOAD),
};

/** Values that must be one of the listed choices, by option name. */
const CHOICES: Record<string, readonly string[]> = {
  '--dtype': VLLM_MODEL_DTYPES.names,
  '--kv-cache-dtype': VLLM_CACHE_DTYPES.names,
  ...MEGATRON_CHOICES,
  ...TORCHTITAN_CHOICES,
  'data_types.grad_accum_dtype': DEEPSPEED_GRAD_ACCUM_DTYPES,
};

/** Lines of the scripts' own logic (strict mode, placeholder and NODE_RANK checks, per-node branches, waiting), not engine options. */
const SHELL_PLUMBING = /^\s*(set -euo pipefail|if |fi$|echo |exit |case |esac$|\d+\)$|;;$|pids|for pid|done$|wait |: "|HERE=|NODE_RANK=)/;

/** (name, value) pairs a file uses: shell flags and env assignments, TOML `section.field`, JSON key paths. */
function used(file: ExportFile): [string, string | undefined][] {
  const text = file.text
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#') && !SHELL_PLUMBING.test(l))
    .join('\n');
  if (file.name.endsWith('.json')) return flatten(JSON.parse(text) as Record<string, unknown>);
  if (file.name.endsWith('.toml')) {
    let section = '';
    return text.split('\n').flatMap((l): [string, string][] => {
      const s = /^\[(\w+)\]$/.exec(l);
      if (s) section = s[1]!;
      const kv = /^([\w.]+) = "?([^"]*)"?$/.exec(l);
      return kv ? [[`${section}.${kv[1]}`, kv[2]!]] : [];
    });
  }
  if (file.name.endsWith('.sh')) {
    // Drop the messages of "${VAR:?message}" placeholders, then read flags and env assignments.
    const plain = text.replace(/"\$\{\w+:\?[^}]*\}"/g, 'PLACEHOLDER');
    const flags = [...plain.matchAll(/(?:^|\s)(--?[a-z][\w.-]*)(?:[ =]+([^\s\\-][^\s\\]*))?/gm)].map((m): [string, string | undefined] => [
      m[1]!,
      m[2],
    ]);
    const env = [...plain.matchAll(/(?:^|\s)(?:export )?([A-Z][A-Z0-9_]+)=/gm)].map((m): [string, undefined] => [m[1]!, undefined]);
    return [...flags, ...env];
  }
  return [];
}

function flatten(o: Record<string, unknown>, prefix = ''): [string, string][] {
  return Object.entries(o).flatMap(([k, v]) =>
    v !== null && typeof v === 'object'
      ? flatten(v as Record<string, unknown>, `${prefix}${k}.`)
      : [[`${prefix}${k}`, String(v)] as [string, string]],
  );
}

/** Names that are not engine options: shell and environment plumbing of the scripts themselves. */
const PLUMBING = new Set(['ARGS', 'CUDA_DEVICE_MAX_CONNECTIONS']);

describe("exported option names come from the engines' sources", () => {
  const examples = readdirSync('examples').filter((f) => f.endsWith('.plan'));
  const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.plan'));
  // The examples and the MoE/MLA/window fixtures, as `parplan export` checks them.
  const plans = (): CheckedPlan[] =>
    [...examples.map((f) => join('examples', f)), ...fixtures.map((f) => join(FIXTURES, f))].flatMap((f) =>
      analyze([f]).results.map((r) => r.plan),
    );
  for (const engine of ENGINES) {
    it(engine, () => {
      let checked = 0;
      for (const plan of plans()) {
        for (const file of exportPlan(engine, plan).files) {
          for (const [flag, value] of used(file)) {
            // torchtitan's command line sets job-file fields as --section.field.
            const name = engine === 'torchtitan' && /^--\w+\.\w+$/.test(flag) && flag !== '--job.config_file' ? flag.slice(2) : flag;
            if (PLUMBING.has(name)) continue;
            expect(ALLOWED[engine].has(name), `${file.name}: '${name}' is not in src/export/options for ${engine}`).toBe(true);
            const choices = CHOICES[name];
            if (choices !== undefined && value !== undefined)
              expect(choices, `${file.name}: ${name} ${value}`).toContain(value.replace(/^'|'$/g, ''));
            checked++;
          }
        }
      }
      expect(checked).toBeGreaterThan(10);
    });
  }

  it('a name outside the lists is caught (the check can fail)', () => {
    const bad: ExportFile = { name: 'x.sh', text: 'vllm serve m \\\n  --tensor-parallel-sise 2\n' };
    expect(
      used(bad)
        .map(([n]) => n)
        .filter((n) => !ALLOWED.vllm.has(n)),
    ).toEqual(['--tensor-parallel-sise']);
  });

  it('every source is cited with its repository, path and, where known, commit', () => {
    const all: readonly OptionSource[] = [
      ...DEEPSPEED_SOURCES,
      ...MEGATRON_SOURCES,
      ...TORCHTITAN_SOURCES,
      TORCHTITAN_EXPERT_CONFIG,
      TORCHTITAN_MODELS,
      ...MEGATRON_MODEL_SOURCES,
      DEEPSPEED_MOE,
      DEEPSPEED_ZERO_OFFLOAD,
      VLLM_SERVE_CLI,
      TORCHRUN_ARGS,
      VLLM_ENGINE_ARGS,
      VLLM_FRONTEND_ARGS,
      VLLM_CACHE_DTYPES,
    ];
    for (const s of all) {
      expect(s.repo).toMatch(/^[\w.-]+\/[\w.-]+$/);
      if (s.commit !== undefined) expect(s.commit).toMatch(/^[0-9a-f]{40}$/);
    }
  });
});
