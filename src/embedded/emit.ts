/**
 * A Decl (src/embedded/tree.ts) → `.plan` text with a map to where each part is written.
 *
 * Builder options become `key = value` entries: numbers as numbers, strings as the word
 * or sized number they spell (`'bf16'` → `bf16`, `'24 GiB'` → `24 GiB`) or as a quoted
 * string where the key wants one (`name`) or the text is no single value, objects as
 * blocks, builder values as their names. Templates are copied verbatim around their
 * interpolations. What cannot be written is collected as a problem (PP7001/PP7002/PP7004),
 * and the declaration is then not checked.
 */
import { keySpec, type BlockKind, type KeySpec } from '../facts/keys.js';
import type { Origin } from './mapped-text.js';
import { MappedText } from './mapped-text.js';
import type { Decl, Item, Prop } from './tree.js';

export interface Problem {
  code: 'PP7001' | 'PP7002' | 'PP7004';
  origin: Origin | undefined;
  args: Record<string, string>;
  /** Instead of the code's usual help. */
  help?: string;
}

export interface Emitted {
  text: MappedText;
  /** Declarations referenced by value (`model: llama`, `${llama}`). */
  refs: Decl[];
  problems: Problem[];
  /** Keys that are not `.plan` names, written as placeholders and renamed back after parsing. */
  renames: Map<string, string>;
}

/** The name a referenced declaration is known by (templates are parsed to learn it). */
export type NameOf = (decl: Decl) => string | undefined;

const WORD = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The placeholders of keys that are not names; a key the user spells so is renamed too, or two keys would share one. */
const PLACEHOLDER = /^__key[0-9]+$/;
/** One `.plan` value token: a word, `1f1b`, a number with an optional unit, a range. */
const VALUE_TOKEN =
  /^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9][A-Za-z0-9_]*|[0-9][0-9_]*(?:\.[0-9_]+)?(?:[eE][+-]?[0-9]+)?\s?(?:[A-Za-z]+|%)|[0-9]+\s*\.\.\s*[0-9]+)$/;
/** A template that already starts with its declaration keyword: `plan serve { … }`. */
const STARTS_WITH_DECLARATION = /^\s*(model|cluster|plan)\s+[A-Za-z_][A-Za-z0-9_]*\s*\{/;

export function emitDecl(decl: Decl, nameOf: NameOf): Emitted {
  const e = new Emitter(nameOf, decl.origin);
  if (decl.template) e.template(decl);
  else e.builder(decl);
  return { text: e.out, refs: e.refs, problems: e.problems, renames: e.renames };
}

class Emitter {
  readonly out = new MappedText();
  readonly refs: Decl[] = [];
  readonly problems: Problem[] = [];
  readonly renames = new Map<string, string>();

  constructor(
    private readonly nameOf: NameOf,
    /** Where parts without an origin of their own point (the call, for run-time builder values). */
    private readonly fallback: Origin | undefined,
  ) {}

  builder(decl: Decl): void {
    this.out.generated(decl.keyword, decl.origin);
    this.out.plain(' ');
    const name = decl.name;
    if (name?.kind === 'string' && WORD.test(name.value)) this.word(name.value, name.origin);
    else if (name?.kind === 'string' || name?.kind === 'number' || name?.kind === 'bool') this.badName(name);
    else this.value(name ?? { kind: 'unknown', text: 'the name' }, undefined, 'name');
    this.out.plain(' ');
    const options = decl.options;
    if (options?.kind === 'object')
      this.block(options, decl.keyword === 'file' ? undefined : decl.keyword); // 'file' is never a builder call
    else {
      this.value(options ?? { kind: 'unknown', text: 'the options' }, undefined, 'options');
      this.out.plain(' {}');
    }
  }

  template(decl: Decl): void {
    const t = decl.template!;
    const first = t.parts[0]?.raw ?? '';
    if (decl.keyword !== 'file' && !STARTS_WITH_DECLARATION.test(first)) {
      this.out.generated(decl.keyword, decl.origin);
      this.out.plain(' ');
    }
    t.parts.forEach((part, i) => {
      if (part.origin) this.out.verbatim(part.raw, part.origin);
      else this.out.generated(part.raw, this.fallback);
      const v = t.values[i];
      if (v) this.interpolation(v);
    });
  }

  /** Written as it is, `'m 2'` or `7` would be read as other `.plan` tokens (`plan m 2 {`): not a name. */
  private badName(name: Extract<Item, { kind: 'string' | 'number' | 'bool' }>): void {
    const found = name.kind === 'string' ? `'${name.value}', which is not a name` : `a ${name.kind === 'bool' ? 'boolean' : 'number'}`;
    const fixed = String(name.value)
      .replace(/[^A-Za-z0-9_]+/g, '_')
      .replace(/^(?=[0-9_]|$)/, 'p');
    this.problem(
      'PP7004',
      name.origin,
      { key: 'name', found },
      `a name is letters, digits and _, not starting with a digit: e.g. '${fixed}'`,
    );
  }

  private interpolation(v: Item): void {
    // A planFile value declares several things: there is no one name to write.
    if (v.kind === 'ref' && v.decl.keyword === 'file') return this.problem('PP7002', v.origin, { found: 'a planFile value' });
    switch (v.kind) {
      case 'number':
      case 'bool':
      case 'ref':
        return this.value(v, undefined, '');
      case 'string':
        // Inserted as written: `${'24 GiB'}` is a size, `${gpuName}` a word.
        return void this.out.generated(v.value, v.origin ?? this.fallback);
      case 'unknown':
        return this.problem('PP7001', v.origin, { expr: v.text });
      case 'invalid':
        return this.problem('PP7002', v.origin, { found: v.found });
      case 'list':
        return this.problem('PP7002', v.origin, { found: 'a list' });
      case 'object':
        return this.problem('PP7002', v.origin, { found: 'an object' });
    }
  }

  private block(obj: Extract<Item, { kind: 'object' }>, kind: BlockKind | undefined): void {
    const o = obj.origin ?? this.fallback;
    this.out.generated('{', o && { file: o.file, start: o.start, end: Math.min(o.end, o.start + 1) });
    for (const prop of obj.props) {
      this.out.plain('\n');
      this.prop(prop, kind);
    }
    this.out.plain('\n');
    this.out.generated('}', o && { file: o.file, start: Math.max(o.start, o.end - 1), end: o.end });
  }

  private prop(prop: Prop, kind: BlockKind | undefined): void {
    const spec = kind === undefined ? undefined : keySpec(kind, prop.key);
    this.key(prop.key, prop.keyOrigin);
    if (prop.value.kind === 'object') {
      this.out.plain(' ');
      return this.block(prop.value, nestedBlock(spec));
    }
    this.out.plain(' = ');
    this.value(prop.value, spec, prop.key);
  }

  private key(key: string, origin: Origin | undefined): void {
    if (WORD.test(key) && !PLACEHOLDER.test(key)) return this.word(key, origin);
    // Not a `.plan` name (`'max-batch'`): a placeholder the parser accepts, renamed back afterwards.
    const placeholder = `__key${this.renames.size}`; // matches PLACEHOLDER
    this.renames.set(placeholder, key);
    this.out.generated(placeholder, origin ?? this.fallback);
  }

  private value(v: Item, spec: KeySpec | undefined, key: string): void {
    const origin = v.origin ?? this.fallback;
    switch (v.kind) {
      case 'number':
        return this.number(v.value, origin);
      case 'bool':
        return void this.out.generated(String(v.value), origin);
      case 'string':
        return this.string(v.value, origin, spec);
      case 'list': {
        const o = origin;
        this.out.generated('[', o && { file: o.file, start: o.start, end: Math.min(o.end, o.start + 1) });
        v.items.forEach((item, i) => {
          if (i > 0) this.out.plain(', ');
          this.value(item, spec, key);
        });
        return void this.out.generated(']', o && { file: o.file, start: Math.max(o.start, o.end - 1), end: o.end });
      }
      case 'object':
        return this.block(v, undefined);
      case 'ref': {
        if (v.decl.keyword === 'file') return this.problem('PP7004', v.origin, { key, found: 'a planFile value' });
        this.refs.push(v.decl);
        // A declaration that cannot be lowered has its own diagnostics; this one is then not checked either (program.ts).
        return void this.out.generated(this.nameOf(v.decl) ?? 'unnamed', origin);
      }
      case 'unknown':
        return this.problem('PP7001', v.origin, { expr: v.text });
      case 'invalid':
        return this.problem('PP7004', v.origin, { key, found: v.found });
    }
  }

  private number(n: number, origin: Origin | undefined): void {
    const text = String(n);
    const written = origin?.file.text.slice(origin.start, origin.end);
    // `1_000_000` is a `.plan` number as well: keep it, and its exact position.
    if (written !== undefined && VALUE_TOKEN.test(written) && Number(written.replace(/_/g, '')) === n) this.out.verbatim(written, origin!);
    else this.out.generated(text, origin);
  }

  private string(s: string, origin: Origin | undefined, spec: KeySpec | undefined): void {
    const kind = spec?.type.kind;
    const asWord = kind === 'string' || kind === 'strings' ? false : kind === 'gpu' ? WORD.test(s) : VALUE_TOKEN.test(s);
    if (asWord) return this.word(s, origin);
    this.out.generated(quote(s), origin);
  }

  /** A word written as the origin writes it keeps exact positions (a typo underlined letter for letter). */
  private word(s: string, origin: Origin | undefined): void {
    if (origin) this.out.verbatim(s, origin);
    else this.out.generated(s, this.fallback);
  }

  private problem(code: Problem['code'], origin: Origin | undefined, args: Record<string, string>, help?: string): void {
    this.problems.push({ code, origin: origin ?? this.fallback, args, ...(help ? { help } : {}) });
    this.out.generated('0', origin ?? this.fallback);
  }
}

function nestedBlock(spec: KeySpec | undefined): BlockKind | undefined {
  if (spec?.type.kind === 'block') return spec.type.block;
  if (spec?.type.kind === 'gpu') return 'gpu';
  return undefined;
}

function quote(s: string): string {
  return `"${s.replace(/[\\"\n\t]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\${c}`))}"`;
}
