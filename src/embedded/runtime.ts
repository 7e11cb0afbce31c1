/**
 * Run-time builder values → Decls (src/embedded/tree.ts). A builder call records its
 * arguments and call site; the Decl is made when the value is checked. Options carry no
 * positions at run time, so their diagnostics point at the call (`plan` of `plan(…)`);
 * template text does, once the template is found in the calling file.
 */
import type { CallSite } from './callsite.js';
import { SiteSources, locateTemplate } from './callsite.js';
import type { Origin } from './mapped-text.js';
import type { Decl, Item, Keyword, Prop } from './tree.js';

/** What a builder call recorded. */
export type Recorded =
  | { keyword: Keyword; site?: CallSite; name: unknown; options: unknown }
  | { keyword: Keyword | 'file'; site?: CallSite; raw: readonly string[]; values: readonly unknown[] };

/** The record behind a builder value, or undefined for any other value. */
export type RecordOf = (v: unknown) => Recorded | undefined;

export class RuntimeReader {
  private decls = new Map<Recorded, Decl>();
  readonly sites = new SiteSources();

  constructor(private readonly recordOf: RecordOf) {}

  decl(r: Recorded): Decl {
    const cached = this.decls.get(r);
    if (cached) return cached;
    const origin = r.site && this.sites.origin(r.site);
    const decl: Decl = { keyword: r.keyword, ...(origin ? { origin } : {}) };
    this.decls.set(r, decl);
    if ('raw' in r) {
      const located = origin && locateTemplate(origin, r.raw);
      decl.template = {
        parts: r.raw.map((raw, i) => ({ raw, ...(located ? { origin: located.parts[i]! } : {}) })),
        values: r.values.map((v, i) => this.item(v, located?.values[i])),
      };
    } else {
      decl.name = this.item(r.name);
      decl.options = this.item(r.options);
    }
    return decl;
  }

  item(v: unknown, origin?: Origin): Item {
    const at = origin ? { origin } : {};
    if (typeof v === 'number') return { kind: 'number', value: v, ...at };
    if (typeof v === 'string') return { kind: 'string', value: v, ...at };
    if (typeof v === 'boolean') return { kind: 'bool', value: v, ...at };
    if (Array.isArray(v)) return { kind: 'list', items: v.map((x) => this.item(x)), ...at };
    const record = this.recordOf(v);
    if (record) return { kind: 'ref', decl: this.decl(record), ...at };
    if (isPlainObject(v)) {
      const props: Prop[] = [];
      for (const [key, value] of Object.entries(v)) if (value !== undefined) props.push({ key, value: this.item(value) });
      return { kind: 'object', props, ...at };
    }
    return { kind: 'invalid', found: describe(v), ...at };
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'object') return `a ${(v as object).constructor?.name ?? 'object'}`;
  return `a ${typeof v}`;
}
