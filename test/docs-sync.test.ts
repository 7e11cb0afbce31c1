/** Generated parts of the docs must match the fact tables they come from. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generatedLanguageDoc } from '../scripts/gen-docs.js';

describe('docs/language.md', () => {
  it('key and GPU tables are up to date (regenerate: npm run gen-docs)', () => {
    const text = readFileSync('docs/language.md', 'utf8');
    expect(generatedLanguageDoc(text)).toBe(text);
  });
});
