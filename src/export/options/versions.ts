/**
 * The one version of each engine parplan exports for: the newest stable release whose source
 * was read (with the `fetch` tool). Every exported file names it in its header; docs/export.md
 * lists them. Other versions are not supported: option names, values and limits differ between
 * releases (torchtitan 0.2 removed pipeline_parallel_split_points; vLLM's --kv-cache-dtype
 * values changed). `table` is the option table extracted from that source by a script under
 * scripts/, which test/export/validate.test.ts checks every export against.
 */
import type { Engine } from '../types.js';

export interface EngineVersion {
  repo: string;
  /** The release as the project tags it. */
  version: string;
  /** The commit of that tag (40 hex digits). */
  commit: string;
  /** The committed option table read from that commit, if one was extracted. */
  table?: string;
}

export const ENGINE_VERSIONS: Record<Engine, EngineVersion> = {
  megatron: {
    repo: 'NVIDIA/Megatron-LM',
    version: 'core_v0.19.0',
    commit: '5be9626709af2722333bf54797c954c09edeada3',
    table: 'src/export/options/megatron.core_v0.19.0.json',
  },
  torchtitan: {
    repo: 'pytorch/torchtitan',
    version: 'v0.2.2',
    commit: '73a0e6979dd10b6b1904098eb3c8f62c18ab87ce',
    table: 'src/export/options/torchtitan.v0.2.2.json',
  },
  deepspeed: {
    repo: 'deepspeedai/DeepSpeed',
    version: 'v0.19.5',
    commit: 'cf44300453eb0af79ed84ed8f1cb49d57478bd76',
    table: 'src/export/options/deepspeed.v0.19.5.json',
  },
  vllm: {
    repo: 'vllm-project/vllm',
    // No tagged release could be read: the repository is larger than fetch brings, and the index stores arg_utils.py at this commit only (v0.11 era).
    version: 'main@99d7eb5d6a51',
    commit: '99d7eb5d6a512cfcc5a2b104f24ebf2d6cda772b',
  },
};

/** The header line every exported file carries. */
export function versionLine(engine: Engine, name: string): string {
  const v = ENGINE_VERSIONS[engine];
  return `For ${name} ${v.version} (${v.repo}@${v.commit.slice(0, 12)}), the only version parplan exports for (docs/export.md).`;
}
