/** `parplan export`: files to stdout or -o DIR, diagnostics to stderr, errors write nothing. */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';

const dir = () => mkdtempSync(join(tmpdir(), 'parplan-export-cli-'));

describe('parplan export', () => {
  it('prints each file after a # ==> NAME <== line, and the notes and warnings on stderr', async () => {
    const io = memoryIo({ NO_COLOR: '1' });
    expect(await runCli(['export', '--to', 'vllm', 'examples/llama2-70b-mi300x-serve.plan'], io)).toBe(0);
    expect(io.out()).toMatch(/^# ==> llama2_70b_one_gpu\.vllm\.sh <==\n#!\/usr\/bin\/env bash\n/);
    expect(io.out()).toContain('--gpu-memory-utilization 0.92');
    expect(io.err()).toContain("note[PP8004]: the plan does not name the Hugging Face model of 'llama2_70b'");
    expect(io.err()).toContain('examples/llama2-70b-mi300x-serve.plan:11:13');
  });

  it('-o DIR writes the files and says so', async () => {
    const out = dir();
    const io = memoryIo({ NO_COLOR: '1' });
    expect(await runCli(['export', '--to', 'deepspeed', '--plan', 'train_8b', '-o', out, 'examples/tinyllama-4090-train.plan'], io)).toBe(
      2,
    );
    expect(
      await runCli(
        [
          'export',
          '--to',
          'megatron',
          '--model',
          'meta-llama/Meta-Llama-3-8B',
          '--plan',
          'train_8b',
          '-o',
          out,
          'examples/llama3-8b-h100.plan',
        ],
        io,
      ),
    ).toBe(0);
    expect(readdirSync(out)).toEqual(['train_8b.megatron.sh']);
    expect(readFileSync(join(out, 'train_8b.megatron.sh'), 'utf8')).toContain('--tokenizer-model meta-llama/Meta-Llama-3-8B');
    expect(io.out()).toContain(`wrote ${join(out, 'train_8b.megatron.sh')}`);
  });

  it('an error (a serve plan among those exported to a training engine) writes nothing and exits 1', async () => {
    const out = dir();
    const io = memoryIo({ NO_COLOR: '1' });
    expect(await runCli(['export', '--to', 'torchtitan', '-o', out, 'examples/llama3-8b-h100.plan'], io)).toBe(1);
    expect(io.err()).toContain("error[PP8001]: torchtitan runs train plans, and plan 'serve_8b' is a serve plan");
    expect(io.err()).toContain('= help: export a serve plan with --to vllm, or pick a training plan with --plan NAME');
    expect(readdirSync(out)).toEqual([]);
    expect(io.out()).toBe('');
  });

  it('a plan that does not check is not exported', async () => {
    const io = memoryIo({ NO_COLOR: '1' });
    expect(await runCli(['export', '--to', 'vllm', 'examples/misfit/llama3-8b-l4-kv-cache.plan'], io)).toBe(1);
    expect(io.err()).toContain('error[PP4001]');
    expect(io.out()).toBe('');
  });

  it('usage errors exit 2: no --to, an unknown engine, --model with deepspeed', async () => {
    const io = memoryIo({ NO_COLOR: '1' });
    expect(await runCli(['export', 'examples/gpt2-t4-serve.plan'], io)).toBe(2);
    expect(io.err()).toContain("missing '--to ENGINE'");
    expect(await runCli(['export', '--to', 'vlm', 'examples/gpt2-t4-serve.plan'], io)).toBe(2);
    expect(io.err()).toContain("did you mean 'vllm'?");
    expect(await runCli(['export', '--to', 'deepspeed', '--model', 'x', 'examples/tinyllama-4090-train.plan'], io)).toBe(2);
    expect(io.err()).toContain("'--model' does not apply to --to deepspeed");
  });
});
