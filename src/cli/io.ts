/** What a command may touch: output streams, environment, working directory (injectable for tests). */
export interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface Io {
  stdout: Output;
  stderr: Output;
  env: Record<string, string | undefined>;
  cwd: string;
}

/** Collects output in memory (tests). */
export function memoryIo(env: Record<string, string | undefined> = {}, cwd = process.cwd()): Io & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env,
    cwd,
    out: () => out,
    err: () => err,
  };
}
