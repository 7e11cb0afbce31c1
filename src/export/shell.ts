/**
 * Writing bash scripts: words quoted only when they must be, long commands one option per line,
 * placeholders the script checks before it launches anything, and one command per node.
 * Every script starts `#!/usr/bin/env bash` and `set -euo pipefail` (script()); test/export/shell.test.ts
 * runs `bash -n` and shellcheck over every exported script.
 */

/** A word the shell passes through unchanged: no quoting needed (a comma is quoted: in an array, shellcheck reads it as a separator typo). */
const PLAIN = /^[A-Za-z0-9_./:=@+%-]+$/;

/**
 * A literal word: as is when plain, else single-quoted, each `'` written as `'\''` (close the
 * quotes, an escaped quote, reopen), so no apostrophe ever stands inside single quotes.
 */
export function word(s: string): string {
  return PLAIN.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * Characters a message may hold inside `"${NAME:?message}"` or `echo "message"`: bash reads `'`
 * there as a quote (in a `${…}` inside double quotes), and `"`, `$`, `` ` ``, `\`, `}` and `!`
 * end or expand the word. Messages are written by parplan, with user names passed through plain().
 */
const MESSAGE = /^[A-Za-z0-9 ,.;:()/_=+*<>#%@[\]-]*$/;

/** Text safe in a message: any other character becomes `_` (names are identifiers; this is a guard). */
export function plain(s: string): string {
  return [...s].map((c) => (MESSAGE.test(c) ? c : '_')).join('');
}

function checkMessage(message: string): string {
  if (!MESSAGE.test(message))
    throw new Error(
      `internal error: shell message ${JSON.stringify(message)} has a character bash would interpret (this is a bug in parplan)`,
    );
  return message;
}

/** A variable name the user sets. */
const NAME = /^[A-Z][A-Z0-9_]*$/;

/** `"${NAME:?message}"`: a value the user must provide; the shell stops with the message when it is unset or empty. */
export function required(name: string, message: string): string {
  if (!NAME.test(name)) throw new Error(`internal error: '${name}' is not a shell variable name (this is a bug in parplan)`);
  return `"\${${name}:?${checkMessage(message)}}"`;
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

/**
 * The shebang, the header comment and strict mode (an unset variable, a failed command or a failed
 * pipe stops the script), then a check of every placeholder the body reads (`"${NAME:?message}"`),
 * so that the script stops before it launches anything, even a command run in the background.
 */
export function script(header: string, ...body: string[]): string {
  const text = body.join('\n');
  const seen = new Map<string, string>();
  for (const m of text.matchAll(/"\$\{([A-Z][A-Z0-9_]*):\?([^}]*)\}"/g))
    if (m[1] !== 'NODE_RANK' && !seen.has(m[1]!)) seen.set(m[1]!, m[0]);
  const checks = [...seen.values()].map((r) => `: ${r}`);
  const all = ['#!/usr/bin/env bash', header, 'set -euo pipefail', '', ...(checks.length > 0 ? [...checks, ''] : []), text].join('\n');
  return all.endsWith('\n') ? all : all + '\n';
}

/** Commands run in the background; the script waits for each and fails when one does. */
export function background(commands: readonly string[]): string {
  return [
    'pids=()',
    ...commands.map((c) => `${c.trimEnd()} &\npids+=("$!")`),
    'for pid in "${pids[@]}"; do',
    '  wait "$pid"',
    'done',
    '',
  ].join('\n');
}

/** The directory of the script itself, so that the files exported beside it are found from any working directory. */
export const HERE = 'HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"';

/** A file exported beside the script, as a shell word (HERE must be set). */
export function beside(file: string): string {
  const w = word(file);
  return w.startsWith("'") ? `"$HERE"/${w}` : `"$HERE/${w}"`;
}

/**
 * Reads and checks NODE_RANK for a script run on each of `nodes` nodes: it must be set and be an
 * integer 0 … nodes − 1, else the script stops before launching, saying so.
 */
export function nodeRank(nodes: number): string {
  const range = `0 to ${nodes - 1}`;
  return [
    `NODE_RANK=${required('NODE_RANK', `set NODE_RANK to the index of this node, ${range}`)}`,
    'if ! [[ "$NODE_RANK" =~ ^[0-9]+$ ]] || (( NODE_RANK >= ' + String(nodes) + ' )); then',
    `  echo "NODE_RANK must be ${checkMessage(range)}, not $NODE_RANK" >&2`,
    '  exit 1',
    'fi',
    '',
  ].join('\n');
}

/**
 * One branch per node of `case "$NODE_RANK"`, so that a script run on one node runs that node's
 * commands only (never another's). `bodies[n]` is node n's commands; an empty one says so.
 */
export function perNode(bodies: readonly string[]): string {
  const lines = [nodeRank(bodies.length), 'case "$NODE_RANK" in'];
  bodies.forEach((body, n) => {
    lines.push(`  ${n})`);
    const text = body.trim() === '' ? `echo "node ${n} has nothing to launch"` : body.trimEnd();
    lines.push(...text.split('\n').map((l) => (l === '' ? '' : `    ${l}`)));
    lines.push('    ;;');
  });
  lines.push('esac', '');
  return lines.join('\n');
}
