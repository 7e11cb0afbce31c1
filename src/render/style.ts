/**
 * Terminal colour for the text renderer: ANSI SGR codes, or nothing.
 *
 * Whether to colour is decided once, by the CLI, with `shouldColor`:
 *   1. `NO_COLOR` set to a non-empty value (https://no-color.org) → never;
 *   2. `FORCE_COLOR` set → colour, unless it is `0` or `false`;
 *   3. otherwise colour only when the stream is a TTY and `TERM` is not `dumb`.
 * `NO_COLOR` wins over `FORCE_COLOR`: a user who opted out is never overridden by a
 * CI default.
 */
export interface Style {
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  blue(s: string): string;
  green(s: string): string;
  bold(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => (s === '' ? s : `\u001b[${open}m${s}\u001b[${close}m`);

const COLOR: Style = {
  red: sgr(31, 39),
  yellow: sgr(33, 39),
  cyan: sgr(36, 39),
  blue: sgr(34, 39),
  green: sgr(32, 39),
  bold: sgr(1, 22),
};

const id = (s: string) => s;
const PLAIN: Style = { red: id, yellow: id, cyan: id, blue: id, green: id, bold: id };

export function makeStyle(color: boolean): Style {
  return color ? COLOR : PLAIN;
}

export function shouldColor(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  const noColor = env['NO_COLOR'];
  if (noColor !== undefined && noColor !== '') return false;
  const force = env['FORCE_COLOR'];
  if (force !== undefined) return !(force === '0' || force.toLowerCase() === 'false');
  if (env['TERM'] === 'dumb') return false;
  return stream.isTTY === true;
}

/** Removes ANSI SGR sequences (for width computations and tests). */
export function stripAnsi(s: string): string {
  return s.replace(/\u001b\[[0-9;]*m/g, '');
}
