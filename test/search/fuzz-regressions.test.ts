/** Inputs found by `bench/fuzz.ts --target suggest` that once ended in an internal error. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';

const TINY = `model gpt2_tiny { arch = gpt2  layers = 2  hidden = 64  heads = 4  vocab = 97  max_seq = 64  dtype = fp32 }
model llama_tiny { arch = llama  layers = 2  hidden = 64  heads = 4  kv_heads = 2  ffn = 160  vocab = x97  max_seq = 64 }
cluster one { gpu = L4  gpus = 1 }
`;

describe('parplan suggest on a file with an error in a declaration it was not asked about', () => {
  it('reports that error (PP2006 at its place) and exits 1, instead of a PP9001 when the pinned plan, which imports the file, is checked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parplan-suggest-fuzz-'));
    const file = join(dir, 'tiny.plan');
    writeFileSync(file, TINY);
    const io = memoryIo({ NO_COLOR: '1' });
    const code = await runCli(
      ['suggest', file, '--model', 'gpt2_tiny', '--cluster', 'one', '--mode', 'serve', '-o', join(dir, 'out.plan')],
      io,
    );
    expect(io.err()).not.toContain('PP9001');
    expect(io.err()).toContain("error[PP2006]: 'vocab' expects a positive whole number, found 'x97'");
    expect(io.err()).toContain(`${file}:2:`);
    expect(code).toBe(1);
  });
});
