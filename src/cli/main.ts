#!/usr/bin/env node
/**
 * The `parplan` executable. Everything is in run.ts; this file binds it to the process.
 * Exit statuses: see exit-codes.ts.
 */
import { runCli } from './run.js';

// `parplan check … | head`: a closed pipe is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
});
