/**
 * GitHub Actions workflow commands (`--format github`): one annotation per diagnostic,
 * `::error file=F,line=L,col=C,endLine=L2,endColumn=C2,title=PP3001::message`
 * (`::warning` for warnings, `::notice` for notes), then one line per plan and the summary.
 *
 * Escaping follows @actions/core (`toolkit/packages/core/src/command.ts`): in the message,
 * `%` → `%25`, CR → `%0D`, LF → `%0A`; in property values additionally `:` → `%3A` and
 * `,` → `%2C`. The help text follows the message on its own line (an escaped LF).
 * Other control characters (ESC, the bidirectional controls) are shown as `\u{1b}`
 * (src/format.ts `printable`): GitHub's log viewer interprets ANSI sequences.
 */
import type { Analysis } from '../analyze.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import { printable, printableLines } from '../format.js';
import { diagnosticFile, summaryLine, verdict } from './common.js';

const COMMAND = { error: 'error', warning: 'warning', note: 'notice' } as const;

export function renderGithub(a: Analysis): string {
  const out: string[] = a.diagnostics.map(annotation);
  for (const r of a.results) out.push(`parplan: plan ${r.plan.name} (${printable(r.plan.file)}): ${verdict(r)}`);
  out.push(`parplan: ${summaryLine(a)}`);
  return out.join('\n') + '\n';
}

export function annotation(d: Diagnostic): string {
  const props: [string, string | number][] = [];
  const file = diagnosticFile(d);
  if (file !== undefined) props.push(['file', file]);
  if (d.span) {
    props.push(['line', d.span.line], ['col', d.span.column], ['endLine', d.span.endLine], ['endColumn', d.span.endColumn]);
  }
  props.push(['title', d.code]);
  const message = d.help === undefined ? d.message : `${d.message}\nhelp: ${d.help}`;
  const p = props.map(([k, v]) => `${k}=${escapeProperty(String(v))}`).join(',');
  return `::${COMMAND[d.severity]} ${p}::${escapeData(message)}`;
}

export function escapeData(s: string): string {
  return printableLines(s.replace(/%/g, '%25').replace(/\r/g, '%0D')).replace(/\n/g, '%0A');
}

export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}
