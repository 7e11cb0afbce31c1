/**
 * Where the package is installed: the nearest directory above this module with parplan's
 * package.json. Works from the sources (`src/`, run with tsx), from the build (`dist/src/`),
 * from the bundled CLI (`dist/src/cli/chunks/`, scripts/bundle-cli.ts), and through the npm
 * bin symlink (module URLs are real paths).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: { root: string; version: string } | undefined;

function find(): { root: string; version: string } {
  if (cached) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      const json = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string; version?: string };
      if (json.name === 'parplan') return (cached = { root: dir, version: json.version ?? '0.0.0' });
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find parplan's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export function packageRoot(): string {
  return find().root;
}

export function packageVersion(): string {
  return find().version;
}
