/** Regenerates the generated parts of docs/ from the fact tables: `npx tsx scripts/gen-docs.ts`. */
import { readFileSync, writeFileSync } from 'node:fs';
import { keyReference } from '../src/facts/keys-doc.js';
import { gpuReference } from '../src/facts/gpus-doc.js';

const BEGIN = (name: string) => `<!-- BEGIN GENERATED: ${name} -->`;
const END = (name: string) => `<!-- END GENERATED: ${name} -->`;

export function fill(text: string, name: string, body: string): string {
  const a = text.indexOf(BEGIN(name));
  const b = text.indexOf(END(name));
  if (a < 0 || b < 0) throw new Error(`markers for ${name} missing`);
  return text.slice(0, a + BEGIN(name).length) + '\n' + body + '\n' + text.slice(b);
}

export function generatedLanguageDoc(text: string): string {
  return fill(fill(text, 'keys', keyReference()), 'gpus', gpuReference());
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = 'docs/language.md';
  writeFileSync(path, generatedLanguageDoc(readFileSync(path, 'utf8')));
  console.log(`wrote ${path}`);
}
