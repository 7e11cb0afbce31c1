/** Runs the CLI as a process, from the sources: `node --import tsx src/cli/main.ts …`. */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** tsx by absolute URL, so that the CLI can run in any working directory. */
export const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Colour off (NO_COLOR), no debug, unless `env` says otherwise. */
export function parplan(args: string[], env: Record<string, string> = {}, cwd = ROOT): Run {
  const base: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1' };
  delete base['FORCE_COLOR'];
  delete base['PARPLAN_DEBUG'];
  const r = spawnSync(process.execPath, ['--import', TSX, `${ROOT}src/cli/main.ts`, ...args], {
    cwd,
    env: { ...base, ...env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
