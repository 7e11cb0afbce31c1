/**
 * A request trace in CSV (`traffic { trace = "file.csv" }`): the Azure LLM inference trace
 * format (Azure/AzurePublicDataset, AzureLLMInferenceDataset2023: a header
 * `TIMESTAMP,ContextTokens,GeneratedTokens`, one request per line, TIMESTAMP a date and time
 * such as `2023-11-16 18:15:46.6805900`), or the same columns with TIMESTAMP in seconds.
 * Arrival times are made relative to the first request. Errors point at the line and column.
 */
import type { SourceFile, Span } from '../source.js';

export interface TraceRow {
  /** Seconds from the first request. */
  at: number;
  prompt: number;
  output: number;
}

export type ParsedTrace = { ok: true; rows: TraceRow[] } | { ok: false; span: Span; detail: string };

const COLUMNS = ['timestamp', 'contexttokens', 'generatedtokens'] as const;

/** Seconds since the epoch of `2023-11-16 18:15:46.6805900` (UTC; any number of fraction digits), or a plain number of seconds. */
function seconds(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z?$/.exec(text);
  if (!m) return undefined;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  if (!Number.isFinite(ms)) return undefined;
  return ms / 1000 + (m[7] ? Number(`0.${m[7]}`) : 0);
}

export function parseTrace(source: SourceFile, maxRows: number): ParsedTrace {
  const text = source.text;
  const lines: { start: number; text: string }[] = [];
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i === text.length || text[i] === '\n') {
      const line = text.slice(start, i).replace(/\r$/, '');
      if (line.trim() !== '') lines.push({ start, text: line });
      start = i + 1;
    }
  }
  const at = (offset: number, length: number): Span => source.span(offset, Math.min(text.length, offset + Math.max(1, length)));
  if (lines.length === 0)
    return { ok: false, span: at(0, 0), detail: 'the file is empty: a header TIMESTAMP,ContextTokens,GeneratedTokens is needed' };
  const header = lines[0]!.text.split(',').map((c) => c.trim().toLowerCase());
  const index = COLUMNS.map((c) => header.indexOf(c));
  const missing = COLUMNS.filter((_, i) => index[i] === -1);
  if (missing.length > 0) {
    return {
      ok: false,
      span: at(lines[0]!.start, lines[0]!.text.length),
      detail: `the header lacks ${missing.join(', ')} (the Azure LLM inference trace columns TIMESTAMP,ContextTokens,GeneratedTokens)`,
    };
  }
  const rows: TraceRow[] = [];
  let first: number | undefined;
  let last = -Infinity;
  for (const line of lines.slice(1, maxRows + 1)) {
    const cells = line.text.split(',');
    const cellSpan = (k: number) => {
      let offset = line.start;
      for (let j = 0; j < k; j++) offset += cells[j]!.length + 1;
      return at(offset, cells[k]?.length ?? 0);
    };
    const get = (k: number) => cells[index[k]!]?.trim() ?? '';
    const t = seconds(get(0));
    if (t === undefined)
      return { ok: false, span: cellSpan(index[0]!), detail: `'${get(0).slice(0, 40)}' is not a time (2023-11-16 18:15:46.68 or seconds)` };
    if (t < last) return { ok: false, span: cellSpan(index[0]!), detail: 'the requests are not in time order' };
    last = t;
    first ??= t;
    const tokens = (k: number, what: string, min: number): number | string => {
      const v = get(k);
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > 2 ** 30)
        return `'${v.slice(0, 40)}' is not a token count for ${what} (a whole number ≥ ${min})`;
      return Number(v);
    };
    const prompt = tokens(1, 'ContextTokens', 1);
    if (typeof prompt === 'string') return { ok: false, span: cellSpan(index[1]!), detail: prompt };
    const output = tokens(2, 'GeneratedTokens', 0);
    if (typeof output === 'string') return { ok: false, span: cellSpan(index[2]!), detail: output };
    // A request that generates nothing still gets its first token from the prefill.
    rows.push({ at: t - first, prompt, output: Math.max(1, output) });
  }
  if (rows.length === 0)
    return { ok: false, span: at(lines[0]!.start, lines[0]!.text.length), detail: 'the trace has a header and no requests' };
  return { ok: true, rows };
}
