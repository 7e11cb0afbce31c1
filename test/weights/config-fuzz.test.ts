/**
 * The checkpoint config check on mutated Hugging Face configs (examples/configs/*.json through
 * test/fuzz/hfconfig.ts's mutations: deleted fields, swapped types, extreme numbers,
 * another family's model_type, truncation …): it never throws anything but a
 * CheckpointConfigError whose every line is placed in config.json; and a config that
 * `hf_config` compiles to a model always matches that model (the check and the compiler
 * read a config the same way).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parse } from '../../grammar/index.js';
import { analyze } from '../../src/analyze.js';
import { checkModel } from '../../src/check/model.js';
import { parseJson } from '../../src/hf/json.js';
import { SourceFile } from '../../src/source.js';
import type { Graph } from '../../src/graph/types.js';
import { CheckpointConfigError, compareConfig, diffModels, readConfigModel } from '../../runtime/weights/config.js';
import { configCorpus, mutateConfig } from '../fuzz/hfconfig.js';
import { memoryHost, rng } from '../fuzz/mutate.js';

const dir = mkdtempSync(join(tmpdir(), 'parplan-ckpt-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const path = join(dir, 'config.json');
const corpus = [...configCorpus().values()];

const PLAN = 'model m {\n  hf_config = "config.json"\n}\n';

/** The model `hf_config` compiles from `text` (the loader, then the checker), or undefined when it has errors. */
function compiled(text: string) {
  const a = analyze(['/r/m.plan'], {
    host: memoryHost(
      new Map([
        ['/r/m.plan', PLAN],
        ['/r/config.json', text],
      ]),
    ),
  });
  if (a.diagnostics.some((d) => d.severity === 'error')) return undefined;
  const parsed = parseJson(new SourceFile('/r/config.json', text));
  if (!parsed.ok) return undefined;
  const decl = parse(PLAN, '/r/m.plan').ast.declarations[0]!;
  const configs = new Map([
    [decl.body.entries[0]!.value, { ok: true as const, source: new SourceFile('/r/config.json', text), json: parsed.value }],
  ]);
  return checkModel(decl, [], configs);
}

it('300 mutated configs: only placed CheckpointConfigErrors, and a config matches the model hf_config compiles from it', () => {
  const random = rng(12);
  let matched = 0;
  for (let i = 0; i < 300; i++) {
    const text = mutateConfig(corpus[i % corpus.length]!, random);
    writeFileSync(path, text);
    const model = compiled(text);
    const read = readConfigModel(path, 'm');
    // Both read the config the same way: the compiler accepts it exactly when the check can read it.
    expect(read.ok, text).toBe(model !== undefined);
    if (model && read.ok) {
      expect(diffModels(read.model, model), text).toEqual([]);
      matched++;
    }
    // Against another model's graph: a placed refusal, or a match, never another exception.
    const other = { model: { ...(read.ok ? read.model : {}), layers: 1 }, plan: { name: 'p' } } as unknown as Graph;
    try {
      if (read.ok) compareConfig({ ...other, model: { ...read.model, layers: read.model.layers + 1 } } as Graph, path);
      else compareConfig(other, path);
      expect.unreachable('a refusal');
    } catch (e) {
      expect(e, text).toBeInstanceOf(CheckpointConfigError);
      for (const line of (e as CheckpointConfigError).lines) expect(line.startsWith(path), line).toBe(true);
    }
  }
  expect(matched).toBeGreaterThan(50);
});
