/**
 * chevrotain, loaded fast. The package's entry point (`lib/src/api.js`) pulls in
 * lodash-es as ~600 separate ES modules, which costs ~0.5 s of CLI cold start.
 * chevrotain also ships the same build as one bundled ES module,
 * `lib/chevrotain.mjs` (~45 ms to load), but its `exports` map hides that path, so
 * it is located next to the resolved entry point. If that ever fails (another
 * layout, a bundler), the regular entry point is used: same API, just slower.
 *
 * Every grammar module must take chevrotain's *values* from here (token types and
 * parsers from two copies of chevrotain would not match); types may be imported
 * from 'chevrotain' directly.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

type Chevrotain = typeof import('chevrotain');

/** Which copy was loaded: 'bundle' (fast) or 'package' (fallback). */
export let chevrotainSource: 'bundle' | 'package' = 'bundle';

async function load(): Promise<Chevrotain> {
  try {
    const entry = createRequire(import.meta.url).resolve('chevrotain'); // …/chevrotain/lib/src/api.js
    const bundle = join(dirname(entry), '..', 'chevrotain.mjs');
    const mod = (await import(pathToFileURL(bundle).href)) as Chevrotain;
    if (typeof mod.CstParser === 'function' && typeof mod.createToken === 'function') return mod;
  } catch {
    // fall through to the package entry point
  }
  chevrotainSource = 'package';
  return import('chevrotain');
}

const chevrotain: Chevrotain = await load();

export const { createToken, Lexer, CstParser, EOF, tokenMatcher, generateCstDts } = chevrotain;
