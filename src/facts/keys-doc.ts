/** The key reference of docs/language.md, generated from the key table (a test keeps the doc in sync). */
import { KEYS, type BlockKind, type KeyType } from './keys.js';

const TITLES: Record<BlockKind, string> = {
  model: '`model NAME { … }`',
  cluster: '`cluster NAME { … }`',
  gpu: '`gpu { … }` inside a cluster (a GPU not in the catalog)',
  plan: '`plan NAME { … }`',
  batch: '`batch { … }` inside a plan',
};

function typeText(t: KeyType): string {
  switch (t.kind) {
    case 'int':
      return t.max !== undefined ? `whole number ${t.min}–${t.max}` : `whole number ≥ ${t.min}`;
    case 'number':
      return `number ≥ ${t.min}`;
    case 'bytes':
      return 'size (`B KB MB GB TB KiB MiB GiB TiB`)';
    case 'duration':
      return 'duration (`us ms s`)';
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

export function keyReference(): string {
  const parts: string[] = [];
  for (const kind of Object.keys(KEYS) as BlockKind[]) {
    parts.push(`### ${TITLES[kind]}\n`);
    parts.push('| key | type | default | modes | meaning |');
    parts.push('|---|---|---|---|---|');
    for (const [key, spec] of Object.entries(KEYS[kind])) {
      const def = spec.required ? '**required**' : (spec.default ?? '—');
      parts.push(`| \`${key}\` | ${typeText(spec.type)} | ${def} | ${spec.modes?.join(', ') ?? 'all'} | ${spec.doc} |`);
    }
    parts.push('');
  }
  return parts.join('\n');
}
