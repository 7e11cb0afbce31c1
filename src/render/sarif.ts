/**
 * SARIF 2.1.0 (`--format sarif`), for GitHub code scanning and other SARIF viewers.
 *
 * One run; the driver is `parplan` with the package version; `rules` are the entries of
 * the code table for the codes that occur (sorted by code), and each result points at its
 * rule by `ruleId` and `ruleIndex`. Regions use parplan's spans as they are: 1-based lines
 * and columns, `endColumn` exclusive, columns in UTF-16 code units (SARIF's default
 * `columnKind`, stated explicitly). A diagnostic without a span gets a location with the
 * file only, or none when it names no file. Artifact URIs are relative to `cwd` (forward
 * slashes, percent-encoded); files outside it get `file://` URIs.
 *
 * Per SARIF §3.11.5, literal `{` and `}` in message strings are written `{{` and `}}`.
 * A plan that does not fit is a PP4001 diagnostic, so it needs no special case here.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Analysis } from '../analyze.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import { CODES, type Code, type Severity } from '../diagnostics/codes.js';
import type { Span } from '../source.js';
import { diagnosticFile } from './common.js';
import { jsonSafe } from '../format.js';

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';

export interface SarifOptions {
  /** parplan's version (package.json). */
  toolVersion: string;
  /** The directory relative URIs are relative to; default `process.cwd()`. */
  cwd?: string;
}

interface SarifRegion {
  startLine: number;
  startColumn: number;
  endLine: number;
  endColumn: number;
}

interface SarifLocation {
  id?: number;
  physicalLocation: { artifactLocation: { uri: string }; region?: SarifRegion };
  message?: { text: string };
}

interface SarifRule {
  id: string;
  name: string;
  shortDescription: { text: string };
  fullDescription: { text: string };
  defaultConfiguration: { level: SarifLevel };
  help: { text: string };
}

interface SarifResult {
  ruleId: string;
  ruleIndex: number;
  level: SarifLevel;
  message: { text: string };
  locations: SarifLocation[];
  relatedLocations?: SarifLocation[];
}

type SarifLevel = 'error' | 'warning' | 'note';

export interface SarifLog {
  $schema: string;
  version: '2.1.0';
  runs: [
    {
      tool: { driver: { name: 'parplan'; version: string; informationUri?: string; rules: SarifRule[] } };
      columnKind: 'utf16CodeUnits';
      results: SarifResult[];
    },
  ];
}

const LEVEL: Record<Severity, SarifLevel> = { error: 'error', warning: 'warning', note: 'note' };

export function toSarif(a: Analysis, opts: SarifOptions): SarifLog {
  const cwd = opts.cwd ?? process.cwd();
  const codes = [...new Set(a.diagnostics.map((d) => d.code))].sort();
  const ruleIndex = new Map(codes.map((c, i) => [c, i]));
  return {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'parplan', version: opts.toolVersion, rules: codes.map(rule) } },
        columnKind: 'utf16CodeUnits',
        results: a.diagnostics.map((d) => result(d, ruleIndex.get(d.code)!, cwd)),
      },
    ],
  };
}

export function renderSarif(a: Analysis, opts: SarifOptions): string {
  return jsonSafe(JSON.stringify(toSarif(a, opts), null, 2)) + '\n';
}

function rule(code: Code): SarifRule {
  const info = CODES[code];
  const words = info.title.replace(/-/g, ' ');
  const short = words.charAt(0).toUpperCase() + words.slice(1);
  // `{name}` placeholders of the table would read as SARIF placeholders: show them as <name>.
  // A template that is only a placeholder (`{detail}`) says nothing: use the title.
  const full = /^\{\w+\}$/.test(info.message) ? short : info.message.replace(/\{(\w+)\}/g, '<$1>');
  return {
    id: code,
    name: info.title,
    shortDescription: { text: short },
    fullDescription: { text: full },
    defaultConfiguration: { level: LEVEL[info.severity] },
    help: { text: `Run \`parplan explain ${code}\` for an explanation and examples.` },
  };
}

function result(d: Diagnostic, index: number, cwd: string): SarifResult {
  const text = d.help === undefined ? d.message : `${d.message}\nhelp: ${d.help}`;
  const r: SarifResult = {
    ruleId: d.code,
    ruleIndex: index,
    level: LEVEL[d.severity],
    message: { text: escapeBraces(text) },
    locations: [],
  };
  if (d.span) r.locations.push(spanLocation(d.span, cwd));
  else {
    const file = diagnosticFile(d);
    if (file !== undefined) r.locations.push({ physicalLocation: { artifactLocation: { uri: artifactUri(file, cwd) } } });
  }
  if (d.related && d.related.length > 0) {
    r.relatedLocations = d.related.map((rel, i) => ({
      id: i + 1,
      ...spanLocation(rel.span, cwd),
      message: { text: escapeBraces(rel.message) },
    }));
  }
  return r;
}

function spanLocation(span: Span, cwd: string): SarifLocation {
  return {
    physicalLocation: {
      artifactLocation: { uri: artifactUri(span.file, cwd) },
      region: { startLine: span.line, startColumn: span.column, endLine: span.endLine, endColumn: span.endColumn },
    },
  };
}

/** `examples/a b.plan` → `examples/a%20b.plan`; absolute paths outside `cwd` → `file:///…`. */
export function artifactUri(file: string, cwd: string): string {
  const abs = path.resolve(cwd, file);
  const rel = path.relative(cwd, abs);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return pathToFileURL(abs).href;
  return rel.split(path.sep).map(encodeURIComponent).join('/');
}

function escapeBraces(s: string): string {
  return s.replace(/[{}]/g, (c) => c + c);
}
