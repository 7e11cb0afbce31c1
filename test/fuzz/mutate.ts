/**
 * A mutator for `.plan` text, shared by the bounded fuzz test and `bench/fuzz.ts`:
 * deletes, duplicates, swaps and inserts characters and tokens that matter to the
 * grammar (braces, `=`, `..`, units, quotes, comment openers, huge numbers).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Analysis } from '../../src/analyze.js';
import { analyze } from '../../src/analyze.js';
import type { Host } from '../../src/load.js';

export const SNIPPETS = [
  '{', '}', '[', ']', '=', ';', ',', '..', '"', '/*', '//', '\n', ' ', '%', '-', '.',
  '0', '1e309', '99999999999999999999', '1_000', '0..0', '5 ms', '24 GiB', '1f1b', 'x',
  'tensor = 0', 'pipeline = 1000', 'data = 3', 'zero = 3', 'stages = [0..1]', 'batch { }',
  'model', 'plan', 'cluster', 'import "x.plan"', 'gpu { }', 'schedule = interleaved', 'virtual = 2',
  'mode = train', 'mode = serve', 'recompute = full', '\u00e9', '\u0000', '\t', '\r',
];

/** A small deterministic PRNG (mulberry32), so failures can be replayed from a seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function mutate(text: string, random: () => number, edits = 1 + Math.floor(random() * 4)): string {
  let s = text;
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (s.length + 1));
    const len = Math.floor(random() * 12);
    switch (Math.floor(random() * 5)) {
      case 0: // delete a run
        s = s.slice(0, at) + s.slice(at + len);
        break;
      case 1: // insert a snippet
        s = s.slice(0, at) + SNIPPETS[Math.floor(random() * SNIPPETS.length)]! + s.slice(at);
        break;
      case 2: // duplicate a run
        s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at);
        break;
      case 3: { // replace a number with another
        s = s.replace(/\d+/g, (m) => (random() < 0.05 ? String(Math.floor(random() * 100000)) : m));
        break;
      }
      default: { // swap two lines
        const lines = s.split('\n');
        const a = Math.floor(random() * lines.length);
        const b = Math.floor(random() * lines.length);
        [lines[a], lines[b]] = [lines[b]!, lines[a]!];
        s = lines.join('\n');
      }
    }
  }
  return s;
}

/** Every example plan's text, with imports inlined by the in-memory host below. */
export function corpus(root = join(import.meta.dirname, '..', '..', 'examples')): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name), `${rel}${e.name}/`);
      else if (e.name.endsWith('.plan')) out.set(`/ex/${rel}${e.name}`, readFileSync(join(dir, e.name), 'utf8'));
    }
  };
  walk(root, '');
  return out;
}

export function memoryHost(files: Map<string, string>): Host {
  return {
    readFile: (p) => {
      const t = files.get(p);
      if (t === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return t;
    },
    kind: (p) => (files.has(p) ? 'file' : undefined),
    listDir: () => [],
  };
}

/** Problems with one analysis that a fuzz run must never see. */
export function violations(a: Analysis): string[] {
  const out: string[] = [];
  for (const d of a.diagnostics) {
    if (d.code === 'PP9001') out.push(`internal error: ${d.message}`);
    if (!d.span && !d.code.startsWith('PP6')) out.push(`${d.code} without a position: ${d.message}`);
    if (d.span && (d.span.line < 1 || d.span.column < 1 || d.span.start > d.span.end)) out.push(`${d.code} with a bad span`);
    if (!/^[a-z'"0-9]/.test(d.message) && !d.message.startsWith('`')) out.push(`${d.code} message style: ${d.message}`);
  }
  for (const r of a.results) {
    for (const dev of r.memory.devices) {
      if (!Number.isSafeInteger(dev.totalBytes) || dev.totalBytes < 0) out.push(`plan ${r.plan.name}: total ${dev.totalBytes} is not a byte count`);
    }
  }
  return out;
}

/** Mutate one corpus file and analyse it; returns what went wrong (empty when fine). */
export function fuzzOnce(files: Map<string, string>, seed: number): { path: string; text: string; problems: string[] } {
  const random = rng(seed);
  const paths = [...files.keys()];
  const path = paths[Math.floor(random() * paths.length)]!;
  const text = mutate(files.get(path)!, random);
  const mutated = new Map(files);
  mutated.set(path, text);
  try {
    return { path, text, problems: violations(analyze([path], { host: memoryHost(mutated) })) };
  } catch (e) {
    return { path, text, problems: [`threw: ${e instanceof Error ? e.stack : String(e)}`] };
  }
}
