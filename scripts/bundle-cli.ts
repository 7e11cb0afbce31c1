/**
 * Bundles the CLI for a fast cold start (`npm run build`, after tsc): `dist/src/cli/main.js`
 * is replaced by esbuild's bundle of src/cli/main.ts, its lazily loaded parts (each command,
 * the analysis, the renderers, the runtime) split into `dist/src/cli/chunks/`.
 *
 * Why: Node 20 has no compile cache, and each ES module costs a resolve, a package scope
 * look-up, a file open and a compile. tsc's output of the check path is ~100 modules and
 * ~1 MB with comments; the bundle is a handful of files without comments, which saves ~15%
 * of the CPU time of a cold `parplan check` (bench/check.ts --cpu). The rest of dist/ (the
 * library, `parplan/runtime`, the .d.ts files) stays tsc's output. npm packages stay
 * external imports (chevrotain's own fast path, grammar/chevrotain.ts, still applies).
 *
 * Usage: node --import tsx scripts/bundle-cli.ts [OUTDIR]  (default dist/src/cli)
 */
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The CLI bundle's options, for a given output directory (the test bundles into a temporary one). */
export function bundleOptions(outdir: string): BuildOptions {
  return {
    absWorkingDir: ROOT,
    entryPoints: ['src/cli/main.ts'],
    outdir,
    // Chunks apart from tsc's files, so a stale set is removed whole.
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    // Keeps each command's import() lazy: `check` loads neither the compiler back end nor the runtime.
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    tsconfig: join(ROOT, 'tsconfig.json'),
    legalComments: 'none',
    logLevel: 'warning',
  };
}

export async function bundleCli(outdir: string): Promise<void> {
  rmSync(join(outdir, 'chunks'), { recursive: true, force: true });
  await build(bundleOptions(outdir));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundleCli(resolve(process.argv[2] ?? join(ROOT, 'dist', 'src', 'cli')));
}
