/**
 * bench/latency-validate.ts --short, as CI runs it: profile, predict, serve, load at 30/60/90%
 * of the predicted saturation and past it, and print the predicted-vs-measured table. Timings
 * on shared CPUs are noisy, so this asserts only that the pipeline completes and the table has
 * its rows; the figures are the full bench's (docs/latency.md, "Validation").
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT, TSX } from '../cli/spawn.js';

describe('bench/latency-validate.ts --short', () => {
  it('profiles, predicts, serves, loads and prints every row of the table', () => {
    const r = spawnSync(process.execPath, ['--import', TSX, `${ROOT}bench/latency-validate.ts`, '--short'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 280_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    for (const row of ['30%', '60%', '90%', 'overload']) {
      const line = lines.find((l) => l.startsWith(row));
      expect(line, `row ${row} in:\n${r.stdout}`).toBeDefined();
      // Five predicted / measured pairs, each with its error against the tolerance.
      expect(line!.match(/ (ok|MISS)/g)).toHaveLength(5);
    }
    expect(r.stdout).toMatch(/^saturation rate: predicted [\d.]+\/s, measured [\d.]+\/s +[+-]\d+% (ok|MISS)$/m);
  }, 300_000);
});
