/** Outputs that cannot be written are the job's mistake: PP6004, exit 2, never an internal error. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';

/** A path under a regular file: no directory can be made there, whoever runs the test (root included). */
function blocked(): string {
  const d = mkdtempSync(join(tmpdir(), 'parplan-write-'));
  writeFileSync(join(d, 'file'), '');
  return join(d, 'file', 'out');
}

describe('PP6004 cannot-write', () => {
  it.each([
    ['compile', ['compile', 'examples/llama3-8b-h100.plan', '-o']],
    ['report', ['report', 'examples/gpt2-t4-serve.plan', '-o']],
    ['export', ['export', '--to', 'vllm', 'examples/gpt2-t4-serve.plan', '-o']],
  ])('%s -o into a path that cannot exist: exit 2 with the path and the reason', async (_name, argv) => {
    const target = blocked();
    const io = memoryIo({ NO_COLOR: '1' });
    expect(await runCli([...argv, target], io)).toBe(2);
    expect(io.err()).toMatch(
      new RegExp(
        `^error\\[PP6004\\]: cannot write '${target.replace(/[/\\]/g, '.')}[^']*': (not a directory|no such file or directory)`,
        'm',
      ),
    );
    expect(io.err()).not.toContain('PP9001');
  });
});
