/** The key table's defaults are the checker's: writing every default out checks to the same plan. */
import { describe, expect, it } from 'vitest';
import { parse } from '../grammar/index.js';
import { checkProgram } from '../src/check/index.js';
import { defaultText, valueText } from '../src/facts/keys-doc.js';
import { KEYS, type Arch, type BlockKind, type Mode } from '../src/facts/keys.js';

function check(text: string) {
  const { ast, diagnostics } = parse(text, 'defaults.plan');
  const r = checkProgram([ast], ast);
  return { plans: r.plans, diagnostics: [...diagnostics, ...r.diagnostics].map((d) => `${d.code} ${d.message}`) };
}

/** `key = value` for every key of `kind` with a value default (or arch preset), except those in `skip`. */
function defaults(kind: BlockKind, opts: { mode?: Mode; arch?: Arch; skip?: string[] } = {}): string {
  const lines: string[] = [];
  for (const [key, spec] of Object.entries(KEYS[kind])) {
    const d = spec.default;
    if (d === undefined || 'rule' in d || opts.skip?.includes(key) || (opts.mode && spec.modes && !spec.modes.includes(opts.mode)))
      continue;
    const v = 'value' in d ? d.value : d.byArch[opts.arch!];
    lines.push(`${key} = ${valueText(spec.type, v)}`);
  }
  return lines.join('\n  ');
}

/** The plan without where things were written (spans, and whether workspace was given). */
function meaning(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(meaning);
  if (typeof x !== 'object' || x === null) return x;
  return Object.fromEntries(
    Object.entries(x)
      .filter(([k]) => k !== 'span' && k !== 'spans' && k !== 'workspaceGiven')
      .map(([k, v]) => [k, meaning(v)]),
  );
}

const SHAPE: Record<Arch, string> = {
  llama: 'layers = 4  hidden = 256  heads = 4  ffn = 512  vocab = 1000  max_seq = 512',
  gpt2: 'layers = 4  hidden = 256  heads = 4  vocab = 1000  max_seq = 512',
};

function program(arch: Arch, mode: Mode, written: boolean): string {
  const batch = mode === 'serve' ? 'max_batch = 4  seq = 256' : 'global = 8  seq = 256';
  const w = (s: string) => (written ? s : '');
  return `model m {\n  arch = ${arch}  ${SHAPE[arch]}\n  ${w(defaults('model', { arch }))}\n}
cluster c {\n  gpu = H100_SXM_80GB  nodes = 1\n  ${w(defaults('cluster'))}\n}
plan p {\n  model = m  cluster = c  mode = ${mode}  pipeline = 2  data = 4\n  ${w(defaults('plan', { mode, skip: ['pipeline', 'data'] }))}
  batch { ${batch}  ${w(defaults('batch', { mode }))} }\n}\n`;
}

describe('key defaults', () => {
  for (const arch of ['llama', 'gpt2'] as const) {
    for (const mode of ['serve', 'train'] as const) {
      it(`every default written out is the default (${arch}, ${mode})`, () => {
        const implicit = check(program(arch, mode, false));
        const explicit = check(program(arch, mode, true));
        expect(implicit.diagnostics).toEqual([]);
        expect(explicit.diagnostics).toEqual([]);
        expect(explicit.plans).toHaveLength(1);
        expect(meaning(explicit.plans)).toEqual(meaning(implicit.plans));
      });
    }
  }

  it('generates the docs text from the values', () => {
    expect(defaultText(KEYS.plan.reserve!)).toBe('10%');
    expect(defaultText(KEYS.plan.workspace!)).toBe('256 MiB');
    expect(defaultText(KEYS.batch.max_wait!)).toBe('5 ms');
    expect(defaultText(KEYS.model.norm!)).toBe('rmsnorm for llama, layernorm for gpt2');
    expect(defaultText(KEYS.cluster.network!)).toBe('50 (400 Gb/s InfiniBand per GPU)');
  });
});
