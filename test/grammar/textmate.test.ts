/**
 * grammar/plan.tmLanguage.json, run by the engine VS Code uses (vscode-textmate +
 * vscode-oniguruma): every example tokenizes with no `invalid` scope; a few tokens
 * have the scopes an editor theme needs; the declaration keywords are those of
 * src/facts/keys.ts; and over every example and diagnostic case, each key, keyword,
 * name, number, unit, string, word and comment that the real parser sees gets the
 * matching scope, so the highlighting cannot drift from grammar/.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import textmate from 'vscode-textmate';
import oniguruma from 'vscode-oniguruma';
import { parse } from '../../grammar/index.js';
import { lex } from '../../grammar/lexer.js';
import type { BlockValue, PlanFile, Value } from '../../src/ast.js';
import { DECLARATIONS } from '../../src/facts/keys.js';
import { collectTrivia } from '../../src/fmt/trivia.js';
import { SourceFile, type Span } from '../../src/source.js';
import { planFilesUnder } from '../fmt/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const GRAMMAR_PATH = join(ROOT, 'grammar', 'plan.tmLanguage.json');
const RAW = readFileSync(GRAMMAR_PATH, 'utf8');

let grammar: textmate.IGrammar;

beforeAll(async () => {
  const wasm = readFileSync(createRequire(import.meta.url).resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns: string[]) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s: string) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scope) => (scope === 'source.plan' ? textmate.parseRawGrammar(RAW, GRAMMAR_PATH) : null),
  });
  const g = await registry.loadGrammar('source.plan');
  if (!g) throw new Error('the grammar did not load');
  grammar = g;
});

interface Tok {
  line: number; // 1-based
  start: number; // 0-based column
  end: number;
  text: string;
  scopes: string[];
}

function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let state = textmate.INITIAL;
  text.split('\n').forEach((lineText, i) => {
    const r = grammar.tokenizeLine(lineText, state);
    expect(r.stoppedEarly, `line ${i + 1} stopped early`).toBe(false);
    for (const t of r.tokens) {
      out.push({ line: i + 1, start: t.startIndex, end: t.endIndex, text: lineText.slice(t.startIndex, t.endIndex), scopes: t.scopes });
    }
    state = r.ruleStack;
  });
  return out;
}

/** The innermost scopes of the token at 1-based line, 0-based column. */
function scopesAt(toks: readonly Tok[], line: number, column: number): string[] {
  const t = toks.find((x) => x.line === line && x.start <= column && column < x.end);
  return t ? t.scopes : [];
}

const has = (scopes: readonly string[], prefix: string) => scopes.some((s) => s === prefix || s.startsWith(`${prefix}.`));

const EXAMPLES = planFilesUnder(join(ROOT, 'examples'));
const CASES = planFilesUnder(join(ROOT, 'test', 'cases'));
const read = (p: string) => readFileSync(p, 'utf8');

describe('TextMate grammar', () => {
  it('is valid JSON with scopeName source.plan', () => {
    const g = JSON.parse(RAW) as { scopeName: string; fileTypes: string[] };
    expect(g.scopeName).toBe('source.plan');
    expect(g.fileTypes).toEqual(['plan']);
    const config = JSON.parse(read(join(ROOT, 'grammar', 'language-configuration.json'))) as { comments: unknown; brackets: unknown };
    expect(config.comments).toEqual({ lineComment: '//', blockComment: ['/*', '*/'] });
    expect(config.brackets).toEqual([
      ['{', '}'],
      ['[', ']'],
    ]);
  });

  it('tokenizes every example with no invalid scope', () => {
    expect(EXAMPLES.length).toBeGreaterThanOrEqual(15);
    for (const file of EXAMPLES) {
      const bad = tokenize(read(file)).filter((t) => has(t.scopes, 'invalid'));
      expect(bad.map((t) => `${file}:${t.line}: ${t.text}`)).toEqual([]);
    }
  });

  it('gives a keyword, a declaration name, a key, a number with its unit, a comment and a string their scopes', () => {
    const text = [
      '// header comment',
      'import "models/llama.plan"',
      'cluster workstation {  /* block */',
      '  gpu { name = "RTX \\"4090\\""  memory = 24 GiB }',
      '  gpus = 1',
      '}',
      'plan p {',
      '  model = m  tensor = 2  pipeline = 2',
      '  stages = [0..15, 16..31]',
      '  max_wait = 5ms  reserve = 10%  schedule = 1f1b  sequence_parallel = true  lr = -1e-4',
      '}',
    ].join('\n');
    const toks = tokenize(text);
    const at = (line: number, needle: string, occurrence = 1) => {
      const lineText = text.split('\n')[line - 1]!;
      let col = -1;
      for (let i = 0; i < occurrence; i++) col = lineText.indexOf(needle, col + 1);
      expect(col, `${needle} on line ${line}`).toBeGreaterThanOrEqual(0);
      return scopesAt(toks, line, col);
    };
    expect(at(1, '//')).toContain('comment.line.double-slash.plan');
    expect(at(1, 'header')).toContain('comment.line.double-slash.plan');
    expect(at(2, 'import')).toContain('keyword.control.import.plan');
    expect(at(2, 'models')).toContain('string.quoted.double.plan');
    expect(at(3, 'cluster')).toContain('keyword.other.declaration.plan');
    expect(at(3, 'workstation')).toContain('entity.name.type.declaration.plan');
    expect(at(3, 'block')).toContain('comment.block.plan');
    expect(at(4, 'gpu')).toContain('support.type.property-name.block.plan');
    expect(at(4, 'name')).toContain('support.type.property-name.plan');
    expect(at(4, '\\"')).toContain('constant.character.escape.plan');
    expect(at(4, '24')).toContain('constant.numeric.plan');
    expect(at(4, 'GiB')).toContain('keyword.other.unit.plan');
    // `model` as a key, and `pipeline` after a number is the next key, not a unit
    expect(at(8, 'model')).toContain('support.type.property-name.plan');
    expect(at(8, 'm ')).toContain('variable.other.constant.plan');
    expect(at(8, 'pipeline')).toContain('support.type.property-name.plan');
    expect(at(9, '0')).toContain('constant.numeric.integer.plan');
    expect(at(9, '..')).toContain('keyword.operator.range.plan');
    expect(at(9, '[')).toContain('punctuation.definition.list.begin.plan');
    expect(at(10, '5ms')).toContain('constant.numeric.plan');
    expect(at(10, 'ms')).toContain('keyword.other.unit.plan');
    expect(at(10, '%')).toContain('keyword.other.unit.plan');
    expect(at(10, '1f1b')).toContain('constant.other.enum.plan');
    expect(at(10, 'true')).toContain('constant.language.boolean.plan');
    expect(at(10, '1e-4')).toContain('constant.numeric.plan');
    expect(at(10, '=')).toContain('keyword.operator.assignment.plan');
  });

  it('a block comment over several lines stays a comment', () => {
    const toks = tokenize('/* one\n   model x { */\nmodel y {}');
    expect(scopesAt(toks, 2, 3)).toContain('comment.block.plan');
    expect(scopesAt(toks, 3, 0)).toContain('keyword.other.declaration.plan');
  });

  it('the declaration keywords are exactly those of src/facts/keys.ts, and import', () => {
    const g = JSON.parse(RAW) as { repository: { declaration: { match: string }; import: { match: string } } };
    const words = /\\b\(([a-z|]+)\)/.exec(g.repository.declaration.match)![1]!.split('|');
    expect(words.sort()).toEqual(Object.keys(DECLARATIONS).sort());
    expect(g.repository.import.match).toContain('(import)');
    for (const kw of Object.keys(DECLARATIONS)) {
      const toks = tokenize(`${kw} x {\n}`);
      expect(scopesAt(toks, 1, 0), kw).toContain('keyword.other.declaration.plan');
    }
  });
});

/** Where the parser's view and the highlighting must agree: a span start and the scope it needs. */
function expectations(ast: PlanFile, text: string): { span: Span; scope: string; what: string }[] {
  const out: { span: Span; scope: string; what: string }[] = [];
  const value = (v: Value): void => {
    switch (v.kind) {
      case 'number': {
        // A negative number's span starts at its sign, which is highlighted as an operator: check the digits.
        const skip = /^-\s*/.exec(text.slice(v.span.start))?.[0].length ?? 0;
        const digits = { ...v.span, start: v.span.start + skip, column: v.span.column + skip };
        out.push({ span: digits, scope: 'constant.numeric', what: v.raw });
        if (skip > 0) out.push({ span: v.span, scope: 'keyword.operator.arithmetic.sign.plan', what: '-' });
        if (v.unit) out.push({ span: v.unit.span, scope: 'keyword.other.unit.plan', what: v.unit.text });
        break;
      }
      case 'range':
        out.push(
          { span: v.from.span, scope: 'constant.numeric', what: 'range' },
          { span: v.to.span, scope: 'constant.numeric', what: 'range' },
        );
        break;
      case 'string':
        out.push({ span: v.span, scope: 'string.quoted.double.plan', what: v.value });
        break;
      case 'ident': {
        const scope = /^[0-9]/.test(v.name)
          ? 'constant.other.enum.plan'
          : v.name === 'true' || v.name === 'false'
            ? 'constant.language.boolean.plan'
            : 'variable.other.constant.plan';
        out.push({ span: v.span, scope, what: v.name });
        break;
      }
      case 'list':
        v.items.forEach(value);
        break;
      case 'block':
        block(v);
    }
  };
  const block = (b: BlockValue): void => {
    for (const e of b.entries) {
      // `key {` and `key = {` are block keys only when the `{` follows the key
      const isBlockKey = e.value.kind === 'block' && /^\s*\{/.test(text.slice(e.keySpan.end));
      out.push({
        span: e.keySpan,
        scope: isBlockKey ? 'support.type.property-name.block.plan' : 'support.type.property-name.plan',
        what: e.key,
      });
      value(e.value);
    }
  };
  for (const i of ast.imports) out.push({ span: i.pathSpan, scope: 'string.quoted.double.plan', what: i.path });
  for (const d of ast.declarations) {
    // a misspelt keyword (`modle m {`) is the checker's business, not the highlighter's
    if (!(d.keyword in DECLARATIONS)) continue;
    out.push({ span: d.keywordSpan, scope: 'keyword.other.declaration.plan', what: d.keyword });
    out.push({ span: d.nameSpan, scope: 'entity.name.type.declaration.plan', what: d.name });
    block(d.body);
  }
  return out;
}

describe('TextMate grammar agrees with the parser', () => {
  const files = [...EXAMPLES, ...CASES].filter((f) => !parse(read(f), f).diagnostics.some((d) => d.severity === 'error'));

  it('on every key, keyword, name, value, unit and comment of the examples and cases', () => {
    expect(files.length).toBeGreaterThanOrEqual(60);
    const wrong: string[] = [];
    for (const file of files) {
      const text = read(file);
      const toks = tokenize(text);
      const { ast } = parse(text, file);
      for (const x of expectations(ast, text)) {
        const scopes = scopesAt(toks, x.span.line, x.span.column - 1);
        if (!has(scopes, x.scope))
          wrong.push(`${file}:${x.span.line}:${x.span.column} ${x.what}: wanted ${x.scope}, got ${scopes.join(' ')}`);
      }
      // every comment the lexer skips is a comment to the highlighter
      const source = new SourceFile(file, text);
      const { tokens } = lex(source);
      const trivia = collectTrivia(text, tokens);
      const commentCount = [...tokens.flatMap((t) => [...trivia.of(t).leading, ...trivia.of(t).trailing]), ...trivia.end.leading].length;
      const highlighted = toks.filter(
        (t) => has(t.scopes, 'punctuation.definition.comment') && (t.text === '//' || t.text === '/*'),
      ).length;
      if (highlighted !== commentCount) wrong.push(`${file}: ${commentCount} comments, ${highlighted} highlighted`);
    }
    expect(wrong).toEqual([]);
  });
});
