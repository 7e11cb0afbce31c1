/**
 * `parplan import CONFIG.json [--name N]`: the block on stdout (formatted: `fmt` leaves it as it
 * is), diagnostics on stderr pointing into the config, and the exit statuses of the command line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';
import { modelName } from '../../src/cli/commands/import.js';
import { formatPlanText } from '../../src/fmt/index.js';

const CONFIGS = join(import.meta.dirname, '..', '..', 'examples', 'configs');
const dir = mkdtempSync(join(tmpdir(), 'parplan-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function importCli(...argv: string[]) {
  const io = memoryIo({ NO_COLOR: '1' });
  const code = await runCli(['import', ...argv], io);
  return { code, out: io.out(), err: io.err() };
}

describe('parplan import', () => {
  it('prints the model block, as fmt lays it out, named after the file', async () => {
    const r = await importCli(join(CONFIGS, 'Mixtral-8x7B-v0.1.json'));
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out.startsWith('model mixtral_8x7b_v0_1 {\n  arch')).toBe(true);
    expect(r.out).toMatch(/^ {2}experts +?= 8$/m);
    expect(r.out).toMatch(/^ {2}experts_per_token += 2$/m);
    expect(formatPlanText(r.out, 'x.plan').text).toBe(r.out);
  });

  it('--name names it; a name that is not one is a usage error', async () => {
    expect((await importCli('--name', 'llama', join(CONFIGS, 'Llama-3.1-8B.json'))).out.startsWith('model llama {')).toBe(true);
    expect((await importCli('--name', '8b', join(CONFIGS, 'Llama-3.1-8B.json'))).code).toBe(2);
  });

  it('a config parplan cannot express prints nothing, its diagnostics point into it, exit 1', async () => {
    const p = join(dir, 'bad.json');
    writeFileSync(p, '{\n  "model_type": "qwen3_moe",\n  "decoder_sparse_step": 2\n}\n');
    const r = await importCli(p);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain(`--> ${p}:3:26`);
    expect(r.err).toContain("config field 'decoder_sparse_step' = 2 cannot be expressed");
  });

  it('a missing file is PP6001, exit 2; invalid JSON exit 1', async () => {
    expect((await importCli(join(dir, 'none.json'))).code).toBe(2);
    const p = join(dir, 'trailing.json');
    writeFileSync(p, '{"model_type": "llama",}');
    const r = await importCli(p);
    expect(r.code).toBe(1);
    expect(r.err).toContain('PP2019');
  });

  it('names from file names: config.json takes its directory', () => {
    expect(modelName('/m/Qwen2.5-7B.json')).toBe('qwen2_5_7b');
    expect(modelName('/models/Llama-3-8B/config.json')).toBe('llama_3_8b');
    expect(modelName('/x/3b.json')).toBe('m_3b');
  });
});
