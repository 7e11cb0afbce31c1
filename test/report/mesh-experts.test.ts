/** The report's mesh view marks expert groups (hand-built rank lists, as test/mesh/expert.test.ts). */
import { describe, expect, it } from 'vitest';
import { parse } from '../../grammar/index.js';
import { checkProgram } from '../../src/check/index.js';
import type { DeviceMemory } from '../../src/memory/types.js';
import { coordsOf } from '../../src/mesh.js';
import type { CheckedPlan } from '../../src/plan.js';
import { renderMesh } from '../../src/report/mesh.js';

const TEXT = `
model mix {
  arch = llama  layers = 4  hidden = 1024  heads = 16  kv_heads = 4  vocab = 32000  max_seq = 4096  dtype = bf16
  experts = 8  experts_per_token = 2  expert_ffn = 2048
}
cluster node8 { gpu = H100_SXM_80GB  gpus = 8 }
`;

function checked(body: string): CheckedPlan {
  const { ast } = parse(`${TEXT}\nplan p {\n${body}\n}\n`, 'p.plan');
  const r = checkProgram([ast], ast);
  if (r.plans.length !== 1) throw new Error(r.diagnostics.map((d) => `${d.code} ${d.message}`).join('; '));
  return r.plans[0]!;
}

function devices(plan: CheckedPlan): DeviceMemory[] {
  return Array.from({ length: 8 }, (_, rank) => {
    const c = coordsOf(plan.mesh, rank);
    return { rank, stage: c.pipeline, tensorRank: c.tensor, dataRank: c.data, node: 0, totalBytes: 0, usableBytes: 1 } as DeviceMemory;
  });
}

describe('mesh view with expert parallelism', () => {
  it('tensor 2 × data 4, expert 4: cells carry their expert group and rank; the note lists the groups', () => {
    const plan = checked(`model = mix  cluster = node8  mode = train  tensor = 2  data = 4  expert = 4  expert_tensor = 1
      sequence_parallel = true  batch { global = 16  seq = 256 }`);
    const html = renderMesh(plan, devices(plan));
    expect(html).toContain('data-rank="5" data-stage="0" data-tensor="1" data-data="2" data-expert-group="1" data-expert="1"');
    expect(html).toContain('[0 1 2 3], [4 5 6 7]');
    expect(html).toContain(
      'Expert-data groups (2 replicas of each expert shard, whose gradients are all-reduced): [0 4], [1 5], [2 6], [3 7]',
    );
  });

  it('expert = 1: no expert marks', () => {
    const plan = checked(`model = mix  cluster = node8  mode = train  data = 8  batch { global = 16  seq = 256 }`);
    expect(renderMesh(plan, devices(plan))).not.toContain('data-expert');
  });
});
