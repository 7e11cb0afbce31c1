/** Shared by the embedded-plan tests: temporary TypeScript projects and JSON without places. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Analysis } from '../../src/analyze.js';
import { cluster, model } from '../../src/index.js';
import { toJson } from '../../src/render/json.js';
import { SourceFile } from '../../src/source.js';

/** Writes `files` (path → text) under a new temporary directory; `cleanup` removes it. */
export function project(files: Record<string, string>): { dir: string; path: (p: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'parplan-embedded-'));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  return { dir, path: (p) => join(dir, p), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The JSON report without file names and positions: what must agree between `.plan` text and TypeScript. */
export function placeless(a: Analysis): unknown {
  const j = toJson(a);
  return {
    ok: j.ok,
    plans: j.plans.map(({ file: _file, ...rest }) => rest),
    diagnostics: j.diagnostics.map(({ severity, code, message, help }) => ({ severity, code, message, help })),
  };
}

/** `line:column` (1-based) of the `occurrence`-th `needle` in `text`, plus `shift` characters. */
export function at(text: string, needle: string, shift = 0, occurrence = 1): string {
  let i = -1;
  for (let n = 0; n < occurrence; n++) {
    i = text.indexOf(needle, i + 1);
    if (i < 0) throw new Error(`'${needle}' not in the text`);
  }
  const p = new SourceFile('x', text).position(i + shift);
  return `${p.line}:${p.column}`;
}

/** `code file:line:column` of each diagnostic. */
export function where(a: Analysis): string[] {
  return a.diagnostics.map((d) => `${d.code} ${d.span ? `${d.span.file}:${d.span.line}:${d.span.column}` : (d.file ?? '')}`);
}

/** Llama 3 8B and one node of 8 H100s, made with the builders: the embedded tests' usual model and cluster. */
export const llama3_8b = model('llama3_8b', {
  arch: 'llama',
  layers: 32,
  hidden: 4096,
  heads: 32,
  kv_heads: 8,
  ffn: 14336,
  vocab: 128256,
  max_seq: 8192,
});
export const h100Node = cluster('node', { gpu: 'H100_SXM_80GB', gpus: 8 });
