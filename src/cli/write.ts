/**
 * Writing the files a command produces. A path that cannot be written (a missing parent
 * that is a file, no permission, a full disk) is the user's problem, not a bug: it becomes
 * a CannotWriteError, which `runCli` reports as PP6004 with exit status 2.
 */
import { mkdirSync, writeFileSync } from 'node:fs';

export class CannotWriteError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`cannot write '${path}': ${reason}`);
    this.name = 'CannotWriteError';
  }
}

/** The operating system's reason in words, without Node's prefix (`EACCES: permission denied, open 'x'` → `permission denied`). */
export function osReason(e: unknown): string {
  const code = (e as { code?: string } | undefined)?.code;
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'ENOENT') return 'no such file or directory';
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
