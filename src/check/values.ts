/**
 * Reading a block's entries against the key table (`src/facts/keys.ts`): unknown
 * keys, duplicates, keys that do not apply to the plan's mode, and each value's
 * type, unit and range. The result is a map of typed fields with their spans.
 */
import type { BlockValue, Entry, NumberValue, StringValue, Value } from '../ast.js';
import { diag, type Diagnostic } from '../diagnostics/diagnostic.js';
import { didYouMean, suggest } from '../diagnostics/suggest.js';
import { formatNumber } from '../diagnostics/codes.js';
import {
  ALL_UNITS,
  BYTE_UNITS,
  defaultValue,
  KEYS,
  keySpec,
  TIME_UNITS,
  type Arch,
  type BlockKind,
  type KeySpec,
  type KeyType,
  type KeyValue,
  type Mode,
} from '../facts/keys.js';
import { valueText } from '../facts/keys-doc.js';
import type { Span } from '../source.js';

export interface Range {
  from: number;
  to: number;
  span: Span;
}

export type FieldValue =
  | number
  | boolean
  | string
  | Range[]
  | BlockValue
  | { strings: StringValue[] }
  | { block: BlockValue }
  | { ident: string }
  | { text: string };

export interface Field<T = unknown> {
  value: T;
  /** The value's span. */
  span: Span;
  entry: Entry;
}

/** Typed fields of one block; `get` returns undefined for absent or invalid keys. */
export class Fields {
  constructor(
    readonly kind: BlockKind,
    readonly map: Map<string, Field>,
    /** Keys the block sets, valid or not: an invalid value was reported already, so it is not also "missing". */
    readonly written: ReadonlySet<string> = new Set(map.keys()),
  ) {}
  get<T>(key: string): Field<T> | undefined {
    return this.map.get(key) as Field<T> | undefined;
  }
  value<T>(key: string): T | undefined {
    return this.get<T>(key)?.value;
  }
  /** The value, or the key table's default (with `arch`, the arch preset). */
  valueOrDefault<T extends KeyValue>(key: string, arch?: Arch): T {
    return this.value<T>(key) ?? (defaultValue(this.kind, key, arch) as T);
  }
  has(key: string): boolean {
    return this.map.has(key);
  }
  /** The block sets `key` (its value may have been invalid). */
  sets(key: string): boolean {
    return this.written.has(key);
  }
}

export interface BlockContext {
  /** How the block is named in messages: `plan 'serve_8b'`, `the batch block of plan 'x'`. */
  where: string;
  /** The plan's mode, for mode-specific keys (undefined outside plans or when the mode is unknown). */
  mode?: Mode;
  /** Where "missing key" diagnostics point (the declaration's name, or the block's key). */
  anchor: Span;
  out: Diagnostic[];
  /** Keys already reported as missing or invalid elsewhere (a Hugging Face config's field): not also "missing" here. */
  quiet?: ReadonlySet<string>;
}

/** Check every entry of `block` against KEYS[kind]; report missing required keys. */
export function readBlock(block: BlockValue, kind: BlockKind, ctx: BlockContext): Fields {
  const map = new Map<string, Field>();
  const seen = new Map<string, Entry>();
  for (const entry of block.entries) {
    const spec = keySpec(kind, entry.key);
    if (!spec) {
      ctx.out.push(
        diag('PP2002', entry.keySpan, { key: entry.key, where: ctx.where }, { help: unknownKeyHelp(entry.key, kind, ctx.mode) }),
      );
      continue;
    }
    const first = seen.get(entry.key);
    if (first) {
      ctx.out.push(
        diag(
          'PP2004',
          entry.keySpan,
          { key: entry.key, where: ctx.where },
          {
            help: 'remove one of them',
            related: [{ span: first.keySpan, message: 'first set here' }],
          },
        ),
      );
      continue;
    }
    seen.set(entry.key, entry);
    if (spec.modes && ctx.mode && !spec.modes.includes(ctx.mode)) {
      ctx.out.push(
        diag(
          'PP2013',
          entry.keySpan,
          { key: entry.key, mode: ctx.mode },
          { help: `'${entry.key}' is for ${spec.modes.join('/')} plans; remove it` },
        ),
      );
      continue;
    }
    const v = convert(entry, spec, ctx.out);
    if (v !== undefined) map.set(entry.key, { value: v, span: entry.value.span, entry });
  }
  for (const [key, spec] of requiredKeys(kind)) {
    if (seen.has(key) || ctx.quiet?.has(key)) continue;
    if (spec.modes && (!ctx.mode || !spec.modes.includes(ctx.mode))) continue;
    const example = spec.type.kind === 'block' ? `${key} ${spec.example ?? '{ }'}` : `${key} = ${spec.example ?? '…'}`;
    ctx.out.push(diag('PP2003', ctx.anchor, { where: ctx.where, key }, { help: `add \`${example}\` (${lowerFirst(spec.doc)})` }));
  }
  return new Fields(kind, map, new Set([...seen.keys(), ...(ctx.quiet ?? [])]));
}

const REQUIRED = new Map<BlockKind, [string, KeySpec][]>();

/** The required keys of a block kind, in table order: listed once, not on every block read. */
function requiredKeys(kind: BlockKind): [string, KeySpec][] {
  let keys = REQUIRED.get(kind);
  if (!keys) {
    keys = Object.entries(KEYS[kind]).filter(([, spec]) => spec.required);
    REQUIRED.set(kind, keys);
  }
  return keys;
}

/** Another tool's name for a key, a near spelling among the keys of this mode, or the list of keys. */
function unknownKeyHelp(key: string, kind: BlockKind, mode: Mode | undefined): string {
  const applicable = Object.entries(KEYS[kind]).filter(([, spec]) => !spec.modes || !mode || spec.modes.includes(mode));
  const alias = applicable.find(([, spec]) => spec.aliases?.includes(key.toLowerCase()));
  if (alias) return `did you mean '${alias[0]}'? (parplan's name for ${key})`;
  const names = applicable.map(([name]) => name);
  const near = didYouMean(key, names, 0);
  if (near) return near;
  // A block with dozens of keys (model) lists its required ones: the whole list per unknown key would swamp the output.
  const listed = names.length <= 16 ? names : applicable.filter(([, spec]) => spec.required).map(([name]) => name);
  const rest = names.length - listed.length;
  return `valid keys${mode ? ` for a ${mode} plan` : ''}: ${listed.join(', ')}${rest > 0 ? `, and ${rest} optional keys (docs/language.md lists them)` : ''}`;
}

function lowerFirst(s: string): string {
  return (s[0]?.toLowerCase() ?? '') + s.slice(1).replace(/\.$/, '');
}

/** How a value looks, for "found …" in messages. */
export function describe(v: Value): string {
  switch (v.kind) {
    case 'number':
      return v.unit ? `${v.raw} ${v.unit.text}` : `the number ${v.raw}`;
    case 'range':
      return `the range ${v.from.raw}..${v.to.raw}`;
    case 'ident':
      return `'${v.name}'`;
    case 'string':
      return `the string "${v.value}"`;
    case 'list':
      return 'a list';
    case 'block':
      return 'a block';
  }
}

function expectedText(t: KeyType): string {
  switch (t.kind) {
    case 'int':
      return t.min === 0 ? 'a whole number ≥ 0' : t.min === 1 ? 'a positive whole number' : `a whole number ≥ ${t.min}`;
    case 'number':
      return 'a number';
    case 'bytes':
      return 'a size with a unit (e.g. 24 GiB)';
    case 'duration':
      return 'a duration with a unit (e.g. 5 ms)';
    case 'fraction':
      return 'a percentage (e.g. 10%)';
    case 'bool':
      return 'true or false';
    case 'enum':
      return `one of ${t.values.join(', ')}`;
    case 'ref':
      return `the name of a ${t.to}`;
    case 'gpu':
      return 'a GPU catalog name or a gpu { … } block';
    case 'string':
      return 'a string in double quotes';
    case 'ranges':
      return 'a list of layer ranges (e.g. [0..15, 16..31])';
    case 'strings':
      return 'a list of strings';
    case 'block':
      return 'a block { … }';
  }
}

function wrongType(entry: Entry, spec: KeySpec, out: Diagnostic[], help?: string): undefined {
  const opts = help ? { help } : spec.example ? { help: `for example: ${entry.key} = ${spec.example}` } : {};
  out.push(diag('PP2006', entry.value.span, { key: entry.key, expected: expectedText(spec.type), found: describe(entry.value) }, opts));
  return undefined;
}

function rangeText(min: number, max: number | undefined): string {
  return max === undefined ? `must be at least ${formatNumber(min)}` : `must be between ${formatNumber(min)} and ${formatNumber(max)}`;
}

/** Reports a unit that is not a unit at all (PP2015); returns true if it did. */
function unknownUnit(n: NumberValue, out: Diagnostic[]): boolean {
  if (!n.unit || ALL_UNITS.includes(n.unit.text)) return false;
  const hint = suggest(n.unit.text, ALL_UNITS);
  out.push(
    diag('PP2015', n.unit.span, { unit: n.unit.text }, { help: hint ? `did you mean '${hint}'?` : `units are ${ALL_UNITS.join(' ')}` }),
  );
  return true;
}

function convert(entry: Entry, spec: KeySpec, out: Diagnostic[]): FieldValue | undefined {
  const v = entry.value;
  const t = spec.type;
  const key = entry.key;
  switch (t.kind) {
    case 'int':
    case 'number': {
      if (v.kind !== 'number') return wrongType(entry, spec, out);
      if (unknownUnit(v, out)) return undefined;
      if (v.unit) {
        out.push(diag('PP2007', v.unit.span, { key, expected: expectedText(t), unit: v.unit.text }, { help: `write ${key} = ${v.raw}` }));
        return undefined;
      }
      if (!Number.isFinite(v.value)) {
        out.push(
          diag(
            'PP2008',
            v.span,
            { key, value: v.raw, range: rangeText(t.min, t.max ?? Number.MAX_SAFE_INTEGER) },
            { help: `e.g. ${key} = ${spec.example ?? t.min}` },
          ),
        );
        return undefined;
      }
      if (t.kind === 'int' && !Number.isInteger(v.value))
        return wrongType(entry, spec, out, `${key} must be whole, e.g. ${key} = ${Math.max(t.min, Math.round(v.value))}`);
      if (!Number.isSafeInteger(Math.round(v.value)) && t.max === undefined) {
        out.push(
          diag(
            'PP2008',
            v.span,
            { key, value: v.raw, range: `must be at most ${formatNumber(Number.MAX_SAFE_INTEGER)}` },
            { help: `e.g. ${key} = ${spec.example ?? t.min}` },
          ),
        );
        return undefined;
      }
      if (v.value < t.min || (t.max !== undefined && v.value > t.max)) {
        out.push(
          diag('PP2008', v.span, { key, value: v.raw, range: rangeText(t.min, t.max) }, { help: `e.g. ${key} = ${spec.example ?? t.min}` }),
        );
        return undefined;
      }
      return v.value;
    }
    case 'bytes':
    case 'duration': {
      if (v.kind !== 'number') return wrongType(entry, spec, out);
      if (unknownUnit(v, out)) return undefined;
      const units = t.kind === 'bytes' ? BYTE_UNITS : TIME_UNITS;
      if (!v.unit) {
        const unit = spec.example?.split(' ')[1] ?? (t.kind === 'bytes' ? 'GiB' : 'ms');
        return wrongType(entry, spec, out, `add a unit, e.g. ${key} = ${v.raw} ${unit} (units: ${Object.keys(units).join(' ')})`);
      }
      const scale = units[v.unit.text];
      if (scale === undefined) {
        out.push(
          diag(
            'PP2007',
            v.unit.span,
            { key, expected: expectedText(t), unit: v.unit.text },
            { help: `units for ${key}: ${Object.keys(units).join(' ')}` },
          ),
        );
        return undefined;
      }
      if (v.value < 0) {
        out.push(
          diag(
            'PP2008',
            v.span,
            { key, value: `${v.raw} ${v.unit.text}`, range: 'must not be negative' },
            { help: `e.g. ${key} = ${spec.example}` },
          ),
        );
        return undefined;
      }
      const value = t.kind === 'bytes' ? Math.round(v.value * scale) : v.value * scale;
      if (!(value <= t.max)) {
        const max = t.kind === 'bytes' ? valueText(t, t.max) : `${t.max / 1000} s`;
        out.push(
          diag(
            'PP2008',
            v.span,
            { key, value: `${v.raw} ${v.unit.text}`, range: `must be at most ${max}` },
            { help: `e.g. ${key} = ${spec.example}` },
          ),
        );
        return undefined;
      }
      return value;
    }
    case 'fraction': {
      if (v.kind !== 'number') return wrongType(entry, spec, out);
      if (unknownUnit(v, out)) return undefined;
      let f: number;
      if (v.unit?.text === '%') f = v.value / 100;
      else if (v.unit) {
        out.push(
          diag(
            'PP2007',
            v.unit.span,
            { key, expected: expectedText(t), unit: v.unit.text },
            { help: `${key} is a share of each GPU's memory, e.g. ${key} = ${spec.example}` },
          ),
        );
        return undefined;
      } else if (v.value >= 1) {
        out.push(
          diag(
            'PP2008',
            v.span,
            { key, value: v.raw, range: `a fraction must be below 1` },
            { help: `for ${v.raw} percent write ${key} = ${v.raw}%` },
          ),
        );
        return undefined;
      } else f = v.value;
      if (f < 0 || f > t.max) {
        const shown = v.unit ? `${v.raw}%` : v.raw;
        out.push(
          diag(
            'PP2008',
            v.span,
            { key, value: shown, range: `must be between 0% and ${t.max * 100}%` },
            { help: `e.g. ${key} = ${spec.example}` },
          ),
        );
        return undefined;
      }
      return f;
    }
    case 'bool':
    case 'enum': {
      const values = t.kind === 'bool' ? ['true', 'false'] : t.values;
      const name = v.kind === 'ident' ? v.name : v.kind === 'number' && !v.unit ? v.raw : undefined;
      if (name === undefined) {
        if (v.kind === 'string' && values.includes(v.value)) return wrongType(entry, spec, out, `write ${key} = ${v.value} without quotes`);
        return wrongType(entry, spec, out);
      }
      // Another tool's spelling of a value this field has (torch_dtype = bfloat16): read as that value.
      const same = spec.sameValues && Object.hasOwn(spec.sameValues, name) ? spec.sameValues[name]! : undefined;
      if (same !== undefined && values.includes(same)) return same;
      if (!values.includes(name)) {
        // A value other tools use that parplan does not model yet: say so, with the nearest supported one.
        const why = spec.unsupported && Object.hasOwn(spec.unsupported, name) ? spec.unsupported[name] : undefined;
        if (why !== undefined) {
          out.push(diag('PP2025', v.span, { value: name, key }, { help: why }));
          return undefined;
        }
        const alias = spec.valueAliases && Object.hasOwn(spec.valueAliases, name) ? spec.valueAliases[name] : undefined;
        if (alias !== undefined) {
          out.push(diag('PP2009', v.span, { value: name, key }, { help: `did you mean '${alias[0]}'? ${alias[1]}` }));
          return undefined;
        }
        const hint = didYouMean(name, values, 12);
        out.push(diag('PP2009', v.span, { value: name, key }, hint ? { help: hint } : {}));
        return undefined;
      }
      return t.kind === 'bool' ? name === 'true' : name;
    }
    case 'ref':
      if (v.kind !== 'ident') return wrongType(entry, spec, out);
      return v.name;
    case 'gpu':
      if (v.kind === 'ident') return { ident: v.name };
      if (v.kind === 'string') return { text: v.value };
      if (v.kind === 'block') return { block: v };
      return wrongType(entry, spec, out);
    case 'string':
      if (v.kind !== 'string')
        return wrongType(entry, spec, out, v.kind === 'ident' ? `put it in quotes: ${key} = "${v.name}"` : undefined);
      return v.value;
    case 'ranges': {
      if (v.kind !== 'list') return wrongType(entry, spec, out);
      const ranges: Range[] = [];
      let ok = true;
      for (const item of v.items) {
        if (
          item.kind === 'range' &&
          !item.from.unit &&
          !item.to.unit &&
          Number.isInteger(item.from.value) &&
          Number.isInteger(item.to.value)
        ) {
          ranges.push({ from: item.from.value, to: item.to.value, span: item.span });
        } else if (item.kind === 'number' && !item.unit && Number.isInteger(item.value)) {
          ranges.push({ from: item.value, to: item.value, span: item.span });
        } else {
          out.push(diag('PP2006', item.span, { key, expected: 'a layer range such as 0..15', found: describe(item) }));
          ok = false;
        }
      }
      return ok ? ranges : undefined;
    }
    case 'strings': {
      if (v.kind !== 'list') return wrongType(entry, spec, out);
      const bad = v.items.find((i) => i.kind !== 'string');
      if (bad) {
        out.push(diag('PP2006', bad.span, { key, expected: 'a string in double quotes', found: describe(bad) }));
        return undefined;
      }
      return { strings: v.items as StringValue[] };
    }
    case 'block':
      if (v.kind !== 'block') return wrongType(entry, spec, out, `write ${key} ${spec.example ?? '{ … }'}`);
      return v;
  }
}
