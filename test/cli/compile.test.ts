/** `parplan compile`: graphs written where asked, validated first; PP5001 stops it. */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run.js';
import { memoryIo } from '../../src/cli/io.js';
import { DEADLOCK_PLAN } from './fixtures.js';

const dir = () => mkdtempSync(join(tmpdir(), 'parplan-compile-'));

describe('parplan compile', () => {
  it('writes one graph per plan, named after the plan, and says what it simulated', async () => {
    const out = dir();
    const io = memoryIo({ NO_COLOR: '1' }, process.cwd());
    const code = await runCli(['compile', 'examples/llama3-8b-h100.plan', '-o', out], io);
    expect(code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['serve_8b.graph.json', 'train_8b.graph.json']);
    const g = JSON.parse(readFileSync(join(out, 'train_8b.graph.json'), 'utf8'));
    expect(g).toMatchObject({ format: 'parplan-graph', version: 4, plan: { name: 'train_8b', mode: 'train' } });
    expect(io.out()).toContain("plan 'train_8b', 8 devices, 2 programs; simulated 2 ranks, no deadlock");
  });

  it('--plan NAME with -o FILE writes that file; -o - writes JSON to stdout', async () => {
    const file = join(dir(), 'g.json');
    expect(await runCli(['compile', 'examples/llama3-8b-h100.plan', '--plan', 'serve_8b', '-o', file], memoryIo())).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8')).plan.name).toBe('serve_8b');
    const io = memoryIo();
    expect(await runCli(['compile', 'examples/gpt2-t4-serve.plan', '-o', '-'], io)).toBe(0);
    expect(JSON.parse(io.out()).model.params).toBe(124439808);
  });

  it('a deadlocking action table: exit 1, PP5001 with the grid on stderr, nothing written', async () => {
    const d = dir();
    const plan = join(d, 'dl.plan');
    writeFileSync(plan, DEADLOCK_PLAN);
    const io = memoryIo({ NO_COLOR: '1' }, d);
    expect(await runCli(['compile', plan], io)).toBe(1);
    expect(io.err()).toContain('error[PP5001]: the schedule deadlocks');
    expect(io.err()).toContain('rank   1 | [1F1] 1B1  1F0  1B0');
    // The checker (from the table) and the graph simulation find the same deadlock: reported once.
    expect(io.err().split('error[PP5001]').length).toBe(2);
    expect(io.err()).toContain('1 error, 0 warnings');
    expect(readdirSync(d)).toEqual(['dl.plan']);
  });

  it('usage errors: no file, two files', async () => {
    expect(await runCli(['compile'], memoryIo())).toBe(2);
    expect(await runCli(['compile', 'a.plan', 'b.plan'], memoryIo())).toBe(2);
  });
});

describe('commands other than check read TypeScript with embedded plans', () => {
  it('compile, export and report take examples/embedded/service.ts (read statically, as check does)', async () => {
    const out = dir();
    const io = memoryIo({ NO_COLOR: '1' }, process.cwd());
    expect(await runCli(['compile', 'examples/embedded/service.ts', '-o', out], io)).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['chat.graph.json', 'finetune.graph.json']);
    const chat = JSON.parse(readFileSync(join(out, 'chat.graph.json'), 'utf8'));
    expect(chat.plan).toMatchObject({ name: 'chat', mode: 'serve' });
    expect(chat.mesh.axes).toEqual([
      { name: 'tensor', size: 2 },
      { name: 'context', size: 1 },
      { name: 'pipeline', size: 1 },
      { name: 'data', size: 4 },
    ]);

    const ex = memoryIo({ NO_COLOR: '1' }, process.cwd());
    expect(await runCli(['export', '--to', 'megatron', '--plan', 'finetune', 'examples/embedded/service.ts'], ex)).toBe(0);
    expect(ex.out()).toContain('--tensor-model-parallel-size 2');

    const report = join(dir(), 'r.html');
    expect(await runCli(['report', 'examples/embedded/service.ts', '-o', report], memoryIo())).toBe(0);
    expect(readFileSync(report, 'utf8')).toContain('finetune');
  });
});
