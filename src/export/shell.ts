/** Writing POSIX shell: words quoted only when they must be, long commands one option per line. */

/** A word the shell passes through unchanged: no quoting needed. */
const PLAIN = /^[A-Za-z0-9_./:=,@+%-]+$/;

/** A literal word, single-quoted when it has characters the shell would interpret. */
export function word(s: string): string {
  return PLAIN.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** `"${NAME:?message}"`: a value the user must provide; the shell stops with the message when it is unset. */
export function required(name: string, message: string): string {
  return `"\${${name}:?${message.replaceAll('"', "'").replaceAll('}', ')')}}"`;
}

/** An option and its value as shell words (a flag when the value is undefined). */
export type Arg<Flag extends string> = readonly [Flag] | readonly [Flag, string];

/** `prefix \` then one `  --flag value \` per line; `raw` values are already shell words. */
export function command(prefix: string, args: readonly Arg<string>[], suffix = ''): string {
  const lines = [prefix, ...args.map(([flag, value]) => `  ${flag}${value === undefined ? '' : ` ${value}`}`)];
  return lines.join(' \\\n') + suffix + '\n';
}

/** `# text`, wrapped to lines that start with `# `. */
export function comment(text: string): string {
  return text
    .split('\n')
    .map((l) => (l === '' ? '#' : `# ${l}`))
    .join('\n');
}
