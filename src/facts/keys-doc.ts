/** The key reference of docs/language.md, generated from the key table (a test keeps the doc in sync). */
import { ARCHS, BYTE_UNITS, KEYS, type BlockKind, type KeySpec, type KeyType, type KeyValue } from './keys.js';

const TITLES: Record<BlockKind, string> = {
  model: '`model NAME { … }`',
  cluster: '`cluster NAME { … }`',
  gpu: '`gpu { … }` inside a cluster (a GPU not in the catalog)',
  plan: '`plan NAME { … }`',
  batch: '`batch { … }` inside a plan',
  adapter: '`adapter { … }` inside a training plan (LoRA)',
  traffic: '`traffic { … }` inside a serving plan (the load to predict latency under)',
  slo: '`slo { … }` inside a serving plan (latency objectives)',
};

function typeText(t: KeyType): string {
  switch (t.kind) {
    case 'int':
      return t.max !== undefined ? `whole number ${t.min}–${t.max}` : `whole number ≥ ${t.min}`;
    case 'number':
      return t.max !== undefined ? `number ${t.min}–${t.max}` : `number ≥ ${t.min}`;
    case 'bytes':
      return `size (\`B KB MB GB TB KiB MiB GiB TiB\`), at most ${valueText(t, t.max)}`;
    case 'duration':
      return `duration (\`us ms s\`), at most ${t.max / 1000} s`;
    case 'fraction':
      return `percentage (0%–${t.max * 100}%)`;
    case 'bool':
      return '`true` \\| `false`';
    case 'enum':
      return t.values.map((v) => `\`${v}\``).join(' \\| ');
    case 'ref':
      return `name of a ${t.to}`;
    case 'gpu':
      return 'catalog name or `gpu { … }`';
    case 'string':
      return 'string';
    case 'ranges':
      return 'list of layer ranges';
    case 'strings':
      return 'list of strings';
    case 'block':
      return 'block';
  }
}

/** A default value as a plan would write it: `10%`, `256 MiB`, `5 ms`, `bf16`. */
export function valueText(t: KeyType, v: KeyValue): string {
  if (typeof v !== 'number') return String(v);
  if (t.kind === 'fraction') return `${+(v * 100).toPrecision(12)}%`;
  if (t.kind === 'duration') return `${v} ms`;
  if (t.kind === 'bytes') {
    const unit = ['TiB', 'GiB', 'MiB', 'KiB'].find((u) => v >= BYTE_UNITS[u]! && v % BYTE_UNITS[u]! === 0) ?? 'B';
    return `${v / BYTE_UNITS[unit]!} ${unit}`;
  }
  return String(v);
}

/** The docs' text of a key's default, generated from the value the checker uses. */
export function defaultText(spec: KeySpec): string | undefined {
  const d = spec.default;
  if (d === undefined) return undefined;
  if ('rule' in d) return d.rule;
  if ('byArch' in d) return ARCHS.map((a) => `${valueText(spec.type, d.byArch[a])} for ${a}`).join(', ');
  return d.note === undefined ? valueText(spec.type, d.value) : `${valueText(spec.type, d.value)} ${d.note}`;
}

export function keyReference(): string {
  const parts: string[] = [];
  for (const kind of Object.keys(KEYS) as BlockKind[]) {
    parts.push(`### ${TITLES[kind]}\n`);
    parts.push('| key | type | default | modes | meaning |');
    parts.push('|---|---|---|---|---|');
    for (const [key, spec] of Object.entries(KEYS[kind])) {
      const def = spec.required ? '**required**' : (defaultText(spec) ?? '—');
      parts.push(`| \`${key}\` | ${typeText(spec.type)} | ${def} | ${spec.modes?.join(', ') ?? 'all'} | ${spec.doc} |`);
    }
    parts.push('');
  }
  return parts.join('\n');
}
