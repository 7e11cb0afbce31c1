/**
 * Issue 11: "a plan from hf_config and the same plan typed by hand give identical
 * `check --format json`". For every config in examples/configs/, the block `parplan import`
 * prints is pasted in place of `hf_config = "…"`, and both plans are checked.
 *
 * The checked model (what memory, cost and lowering read) must be equal for every config. The
 * whole `check --format json` must be byte-identical for every config too; for the dense
 * configs it must also be a real result (no internal error). Until per-rank checks learn MoE,
 * MLA and sliding windows, those plans end in the same internal error both ways, which the
 * equality still covers (and covers fully once they check).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from '../../grammar/index.js';
import { analyze } from '../../src/analyze.js';
import { checkModel } from '../../src/check/model.js';
import { importBlock } from '../../src/cli/commands/import.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { nodeHost, readConfigFile, type Host } from '../../src/load.js';
import { renderJson } from '../../src/render/json.js';
import { modelFromConfig } from './params.test.js';

const REPO = join(import.meta.dirname, '..', '..');
const CONFIGS = join(REPO, 'examples', 'configs');
const PLAN = join(CONFIGS, 'virtual.plan');
const rest = `cluster node {
  gpu = H200_141GB  gpus = 1
}
plan serve {
  model = m  cluster = node  mode = serve
  batch { max_batch = 4  seq = 1024 }
}
`;

/** The files on disk, with PLAN's text given. */
function overlay(text: string): Host {
  return {
    ...nodeHost,
    readFile: (p) => (p === PLAN ? text : nodeHost.readFile(p)),
    kind: (p) => (p === PLAN ? 'file' : nodeHost.kind(p)),
    size: (p) => (p === PLAN ? Buffer.byteLength(text) : nodeHost.size!(p)),
    stat: (p) => (p === PLAN ? { kind: 'file', size: Buffer.byteLength(text) } : nodeHost.stat!(p)),
  };
}

/** `check --format json` of PLAN with `text`, or the internal error the CLI would turn into PP9001. */
function checkJson(text: string): { json?: string; internal?: string } {
  try {
    return { json: renderJson(analyze([PLAN], { host: overlay(text) })) };
  } catch (e) {
    return { internal: String(e) };
  }
}

async function imported(config: string): Promise<string> {
  const out: Diagnostic[] = [];
  const loaded = readConfigFile(join(CONFIGS, config), nodeHost, out);
  if (!loaded.ok) throw new Error(out.map((d) => d.message).join('\n'));
  const block = await importBlock(loaded.source, loaded.json, 'm', out);
  expect(out.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([]);
  return block!;
}

const configs = readdirSync(CONFIGS)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('hf_config and the block parplan import prints are the same model', () => {
  for (const config of configs) {
    it(`${config}: the checked model`, async () => {
      const block = await imported(config);
      const fromConfig = modelFromConfig(config);
      const ast = parse(block, join(CONFIGS, 'virtual.plan')).ast;
      const out: Diagnostic[] = [];
      const byHand = checkModel(ast.declarations[0]!, out);
      expect(out).toEqual([]);
      // The same model, spans aside (one points into the plan, the other at the same name in another text).
      expect({ ...byHand!, span: undefined }).toEqual({ ...fromConfig.spec!, span: undefined });
    });
    it(`${config}: check --format json`, async () => {
      const block = await imported(config);
      // The plan first, so that its diagnostics (PP4001 for DeepSeek-V3 on one GPU) have the same position in both texts.
      const a = checkJson(`${rest}model m {\n  hf_config = "${config}"\n}\n`);
      const b = checkJson(`${rest}${block}`);
      expect(b).toEqual(a);
      expect(a.internal).toBeUndefined();
      expect(JSON.parse(a.json!).plans).toHaveLength(1);
    });
  }
});
