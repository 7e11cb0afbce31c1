/**
 * A token-level mutator for TypeScript that embeds plans, for fuzzing the static reader:
 * deletes, duplicates and swaps tokens, replaces literals and names with other
 * expressions (literals, identifiers, calls, templates, builder calls), breaks template
 * strings, wraps values (`as const`, `satisfies`, `!`, `await`, spreads, arrow
 * functions, optional chaining), and appends whole statements (circular constants,
 * self-imports, self-referencing plans). The `.plan` mutator (mutate.ts) also runs on the
 * text now and then, which mostly lands inside plan templates.
 */
import { ts } from 'ts-morph';
import { mutate } from './mutate.js';

/** Expressions a literal or a name may become. */
export const EXPRESSIONS = [
  '0',
  '-1',
  '1e309',
  'NaN',
  'Infinity',
  '2 ** 53',
  '0.5',
  '1n',
  '0x10',
  '1_000',
  '1 / 0',
  '0 / 0',
  '10 % 0',
  "'bf16'",
  "'H100_SXM_80GB'",
  "''",
  "'5 ms'",
  '"\\u0000"',
  "'\\n'",
  '`x`',
  '`${1}`',
  '`${SEQ} tokens`',
  '`${undefined}`',
  '`${{}}`',
  '`${[1]}`',
  'true',
  'null',
  'undefined',
  'void 0',
  '[]',
  '{}',
  '[1, 2]',
  '{ a: 1 }',
  '{ ...{} }',
  '[...[1, 2]]',
  '[1, 2][5]',
  "'ab'.length",
  '[, 1]',
  'SEQ',
  'LLAMA3_8B',
  'LLAMA',
  'llama3_8b',
  'llama',
  'node',
  'chat',
  'plan',
  'model',
  'cluster',
  'pp',
  'x',
  'this',
  'globalThis',
  'Math.max(1, 2)',
  'f()',
  'new Date()',
  'x?.y',
  'a ?? b',
  'c ? 1 : 2',
  '(1, 2)',
  'typeof x',
  '-"3"',
  '+"4"',
  '"5" + 1',
  '1 + {}',
  'null + 1',
  "plan('p', {})",
  'plan()',
  "plan('p')",
  'plan``',
  'plan`${1}`',
  "cluster('c', { gpu: 'L4', gpus: 1 })",
  'model`m { }`',
  'planFile`import "m.plan"`',
  'planFile`import "models.plan"`',
  'pp.plan`q { }`',
  'Symbol()',
  'async () => 1',
  'function () {}',
  'class {}',
  'import.meta',
  'await 1',
  '<T,>(x: T) => x',
  'delete x.y',
  '{ [SEQ]: 1 }',
  '{ [{}]: 1 }',
  '{ get a() { return 1; } }',
  '{ a() {} }',
  '{ "a b": 1, 2: 3 }',
  "'m 2'",
  "'x { } plan y'",
  "'é'",
  '{ __key0: 1, "a b": 2 }',
  '{ constructor: 1 }',
  '{ __proto__: null }',
  "{ ['toString']: 'x' }",
  '{ valueOf: {} }',
  "'constructor'",
  "'__proto__'",
];

/** Text inserted between tokens. */
export const INSERTS = [
  ' as const',
  ' satisfies ModelOptions',
  ' as any',
  ' as unknown as number',
  '!',
  '?.',
  ' await ',
  '...',
  '() => ',
  'async ',
  '(',
  ')',
  ',',
  ';',
  '{',
  '}',
  '[',
  ']',
  '`',
  '${',
  ' + ',
  ' * ',
  ' - ',
  '\n',
  '/*',
  '*/',
  '//',
  ':',
  '?',
  '=',
  '.',
  'export ',
  'const ',
  'let ',
  'declare ',
  '@dec ',
  '<',
  '>',
  '#',
  '\\',
  '\u2028',
  'plan`',
  'planFile`',
  'typeof ',
  'new ',
];

/** Text put into a template: breaks it, nests it, or adds substitutions. */
export const TEMPLATE_BREAKS = [
  '${',
  '`',
  '}',
  '${x}',
  '\\',
  '${${1}}',
  '${`${1}`}',
  '${plan`a { }`}',
  '${() => 1}',
  '\\${1}',
  '${',
  '\n',
  '$',
];

interface Token {
  start: number;
  end: number;
  kind: ts.SyntaxKind;
}

/** The tokens of a TypeScript text (JSDoc aside), in order, with their places. */
export function tokens(text: string): Token[] {
  const sf = ts.createSourceFile('x.ts', text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: Token[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isJSDoc(node)) return;
    const kids = node.getChildren(sf);
    if (kids.length === 0) {
      if (node.kind !== ts.SyntaxKind.EndOfFileToken) out.push({ start: node.getStart(sf), end: node.end, kind: node.kind });
    } else kids.forEach(visit);
  };
  visit(sf);
  return out;
}

const isLiteral = (k: ts.SyntaxKind) =>
  k === ts.SyntaxKind.NumericLiteral ||
  k === ts.SyntaxKind.StringLiteral ||
  k === ts.SyntaxKind.NoSubstitutionTemplateLiteral ||
  k === ts.SyntaxKind.Identifier ||
  k === ts.SyntaxKind.TrueKeyword ||
  k === ts.SyntaxKind.FalseKeyword;
const isTemplatePart = (k: ts.SyntaxKind) =>
  k === ts.SyntaxKind.TemplateHead ||
  k === ts.SyntaxKind.TemplateMiddle ||
  k === ts.SyntaxKind.TemplateTail ||
  k === ts.SyntaxKind.NoSubstitutionTemplateLiteral;

/** Whole statements appended to `file`: cycles, self-references, odd imports. */
export function appendices(file: string): string[] {
  const self = `./${file.slice(file.lastIndexOf('/') + 1).replace(/\.ts$/, '.js')}`;
  return [
    `\nconst CYC_A = CYC_B;\nconst CYC_B = CYC_A;\nexport const cyc = plan('cyc', { model: CYC_A, cluster: CYC_B, mode: 'serve', tensor: CYC_A });\n`,
    `\nconst O = { a: O.a, b: O };\nexport const o = plan('o', O);\n`,
    `\nimport { chat as again } from '${self}';\nexport const twice = plan('twice', { ...again });\n`,
    `\nimport * as me from '${self}';\nexport const viaSelf = plan('v', { model: me.llama3_8b, cluster: me.node, mode: 'serve', tensor: me.TP });\n`,
    `\nexport * from '${self}';\n`,
    `\nexport const loop = plan\`loop { model = \${loop}  cluster = \${loop}  mode = serve }\`;\n`,
    `\nexport const m2 = model('m2', m2);\n`,
    `\nconst { a, ...rest } = { a: 1, b: 2 };\nexport const r = plan('r', { ...rest, tensor: a });\n`,
    `\nimport { plan as model, model as plan } from 'parplan';\n`,
    `\nimport parplanDefault from 'parplan';\nexport const d = parplanDefault.plan('d', {});\n`,
    `\nexport const late = plan('late', { tensor: LATER });\nconst LATER = 2;\n`,
    `\nexport const fn = (n: number) => plan('fn', { tensor: n });\n`,
    `\nlet mutable = 1;\nmutable++;\nexport const mut = plan('mut', { tensor: mutable });\n`,
    `\nexport const nested = plan('nested', { model: model('inner', { arch: 'llama' }), cluster: cluster('c', {}), mode: 'serve' });\n`,
    `\nexport const f2 = planFile\`import "${self}"\`;\nexport const f3 = planFile\`import "/"\`;\nexport const f4 = planFile\`import "models.plan" import "models.plan"\`;\n`,
    `\nimport { missing } from './missing.js';\nexport const miss = plan('miss', { tensor: missing });\n`,
    `\nexport const big = plan('big', { ${'a: 1, '.repeat(200)} });\n`,
  ];
}

/** `text` with 1–4 token-level edits. */
export function mutateTs(text: string, file: string, random: () => number, edits = 1 + Math.floor(random() * 4)): string {
  let s = text;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  for (let i = 0; i < edits; i++) {
    const toks = tokens(s);
    if (toks.length === 0) return s + pick(appendices(file));
    const t = pick(toks);
    switch (Math.floor(random() * 9)) {
      case 0: // delete a token
        s = s.slice(0, t.start) + s.slice(t.end);
        break;
      case 1: // duplicate a token
        s = s.slice(0, t.end) + ' ' + s.slice(t.start, t.end) + s.slice(t.end);
        break;
      case 2: {
        // swap a token with its neighbour
        const j = toks.indexOf(t);
        const u = toks[j + 1];
        if (u) s = s.slice(0, t.start) + s.slice(u.start, u.end) + s.slice(t.end, u.start) + s.slice(t.start, t.end) + s.slice(u.end);
        break;
      }
      case 3: {
        // replace a literal or a name with another expression
        const lit = toks.filter((k) => isLiteral(k.kind));
        const u = lit.length > 0 ? pick(lit) : t;
        s = s.slice(0, u.start) + pick(EXPRESSIONS) + s.slice(u.end);
        break;
      }
      case 4: // insert something between tokens
        s = s.slice(0, t.start) + pick(INSERTS) + s.slice(t.start);
        break;
      case 5: {
        // break or nest a template
        const parts = toks.filter((k) => isTemplatePart(k.kind));
        const u = parts.length > 0 ? pick(parts) : t;
        const at = u.start + Math.floor(random() * (u.end - u.start + 1));
        s = s.slice(0, at) + pick(TEMPLATE_BREAKS) + s.slice(at);
        break;
      }
      case 6: {
        // wrap a literal
        const lit = toks.filter((k) => isLiteral(k.kind));
        const u = lit.length > 0 ? pick(lit) : t;
        const v = s.slice(u.start, u.end);
        const wraps = [
          `(${v} as const)`,
          `${v}!`,
          `(${v} satisfies number)`,
          `await ${v}`,
          `(() => ${v})()`,
          `...${v}`,
          `${v}?.x`,
          `[${v}][0]`,
          `{ v: ${v} }.v`,
          `\`\${${v}}\``,
        ];
        s = s.slice(0, u.start) + pick(wraps) + s.slice(u.end);
        break;
      }
      case 7: // a whole statement
        s += pick(appendices(file));
        break;
      default: // characters, as the .plan fuzzer edits them (mostly inside plan templates)
        s = mutate(s, random, 1);
    }
  }
  return s;
}
