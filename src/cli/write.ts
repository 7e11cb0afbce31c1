/**
 * Writing the files a command produces. A path that cannot be written (a missing parent
 * that is a file, no permission, a full disk) is the user's problem, not a bug: it becomes
 * a CannotWriteError, which `runCli` reports as PP6004 with exit status 2.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

export class CannotWriteError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
    /** What to do instead, shown as `= help:`. */
    readonly hint?: string,
  ) {
    super(`cannot write '${path}': ${reason}`);
    this.name = 'CannotWriteError';
  }
}

/**
 * Refuses, before anything is written, an output that is one of the command's inputs
 * (`compile x.plan -o x.plan` would replace the plan with its graph). Compared by device
 * and inode, so a symbolic or hard link to an input is caught as well as its own path.
 * `outputs` are resolved against `cwd`; `inputs`, the files read (the checked file and its
 * imports), against the process's directory, as the loader read them.
 */
export function refuseInputs(outputs: readonly string[], inputs: Iterable<string>, cwd: string): void {
  const ids = new Map<string, string>();
  for (const input of inputs) {
    const id = fileId(resolve(input));
    if (id !== undefined && !ids.has(id)) ids.set(id, resolve(input));
  }
  for (const output of outputs) {
    const target = resolve(cwd, output);
    const input = ids.get(fileId(target) ?? '');
    if (input === undefined) continue;
    throw new CannotWriteError(
      shownPath(target, cwd),
      `it is the input file '${shownPath(input, cwd)}', which would be overwritten`,
      'write the output elsewhere: give -o another path',
    );
  }
}

/** Relative to `cwd` when below it, else absolute. */
function shownPath(path: string, cwd: string): string {
  const r = relative(cwd, path);
  return r === '' || r.startsWith('..') ? path : r;
}

/** `dev:ino` of an existing file (links followed); undefined when there is none. */
function fileId(path: string): string | undefined {
  try {
    const s = statSync(path);
    return s.isFile() ? `${s.dev}:${s.ino}` : undefined;
  } catch {
    return undefined;
  }
}

/** The operating system's reason in words, without Node's prefix (`EACCES: permission denied, open 'x'` → `permission denied`). */
export function osReason(e: unknown): string {
  const code = (e as { code?: string } | undefined)?.code;
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'ENOENT') return 'no such file or directory';
  // mkdir of an output directory over a file (`compile` of several plans with `-o x.plan`).
  if (code === 'EEXIST') return 'it exists and is not a directory, and the output is several files';
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/^E[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
}

export function writeOutput(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new CannotWriteError(path, osReason(e));
  }
}

export function makeOutputDir(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (e) {
    throw new CannotWriteError(path, osReason(e));
  }
}
