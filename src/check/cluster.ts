/** A `cluster` declaration → ClusterSpec: the GPU (catalog or custom) and how many. */
import type { BlockValue, Declaration, Value } from '../ast.js';
import type { StepProfile } from '../facts/profile.js';
import { diag, type Diagnostic } from '../diagnostics/diagnostic.js';
import { suggest } from '../diagnostics/suggest.js';
import { GPU_IDS, findGpu, type GpuSpec } from '../facts/gpus.js';
import { MAX_GPUS } from '../facts/keys.js';
import { formatNumber } from '../diagnostics/codes.js';
import type { ClusterSpec } from '../plan.js';
import type { Span } from '../source.js';
import { readBlock, type Field } from './values.js';

/** Step-time profiles by the `profile` value node that names them (src/load.ts reads them; `ok: false`: it could not, its diagnostic is out). */
export type Profiles = ReadonlyMap<Value, { ok: true; profile: StepProfile } | { ok: false }>;

export function checkCluster(decl: Declaration, out: Diagnostic[], profiles: Profiles = new Map()): ClusterSpec | undefined {
  const where = `cluster '${decl.name}'`;
  const f = readBlock(decl.body, 'cluster', { where, anchor: decl.nameSpan, out });
  const gpuField = f.get<{ ident?: string; text?: string; block?: BlockValue }>('gpu');
  const gpu = gpuField ? resolveGpu(gpuField, decl.name, out) : undefined;

  const gpus = f.get<number>('gpus');
  const nodes = f.get<number>('nodes');
  const perNode = f.get<number>('gpus_per_node');
  let total: number | undefined;
  let nodeCount: number | undefined;
  let gpn: number | undefined;
  if (gpus && nodes) {
    out.push(
      diag(
        'PP2014',
        nodes.entry.keySpan,
        { key: 'nodes', other: 'gpus' },
        {
          help: 'give either `gpus = N` (one node), or `nodes = N  gpus_per_node = M`',
          related: [{ span: gpus.entry.keySpan, message: 'gpus given here' }],
        },
      ),
    );
  } else if (gpus) {
    total = gpus.value;
    gpn = perNode?.value ?? total;
    if (total % gpn !== 0) {
      out.push(
        diag(
          'PP2014',
          perNode!.span,
          { key: 'gpus_per_node', other: 'gpus' },
          { help: `gpus = ${total} is not a whole number of nodes of ${gpn} GPUs` },
        ),
      );
      total = undefined;
    } else nodeCount = total / gpn;
  } else if (nodes) {
    nodeCount = nodes.value;
    gpn = f.valueOrDefault<number>('gpus_per_node');
    total = nodeCount * gpn;
    if (total > MAX_GPUS) {
      out.push(
        diag(
          'PP2008',
          nodes.span,
          { key: 'nodes', value: String(nodeCount), range: `nodes × gpus_per_node must be at most ${formatNumber(MAX_GPUS)} GPUs` },
          { help: `nodes = ${Math.floor(MAX_GPUS / gpn)} or fewer` },
        ),
      );
      total = undefined;
    }
  } else if (!f.sets('gpus') && !f.sets('nodes')) {
    out.push(diag('PP2003', decl.nameSpan, { where, key: 'gpus' }, { help: 'add `gpus = 8`, or `nodes = 4  gpus_per_node = 8`' }));
  }
  if (!gpu || total === undefined || nodeCount === undefined || gpn === undefined) return undefined;
  const networkGBs = f.valueOrDefault<number>('network');
  const host = f.value<number>('host_memory');
  return {
    name: decl.name,
    span: decl.nameSpan,
    gpu,
    gpus: total,
    nodes: nodeCount,
    gpusPerNode: gpn,
    networkGBs,
    ...(host !== undefined ? { hostMemoryBytes: host } : {}),
    ...profileOf(gpuField?.value.block, profiles, out),
  };
}

/** The gpu block's `profile`, when the loader could read and check it (else its diagnostic is out, and predictions use the cost model). */
function profileOf(
  block: BlockValue | undefined,
  profiles: Profiles,
  out: Diagnostic[],
): { profile?: NonNullable<ClusterSpec['profile']> } {
  const entry = block?.entries.find((e) => e.key === 'profile' && e.value.kind === 'string');
  if (!entry || entry.value.kind !== 'string') return {};
  const loaded = profiles.get(entry.value);
  if (!loaded) {
    // Plans embedded in TypeScript are checked without reading files: never ignored silently.
    out.push(diag('PP2055', entry.value.span, { path: entry.value.value, reason: 'profiles are read for .plan files only' }));
    return {};
  }
  if (!loaded.ok) return {};
  return { profile: { profile: loaded.profile, path: entry.value.value, span: entry.value.span } };
}

function resolveGpu(
  field: Field<{ ident?: string; text?: string; block?: BlockValue }>,
  cluster: string,
  out: Diagnostic[],
): GpuSpec | undefined {
  const v = field.value;
  if (v.block) return customGpu(v.block, field.entry.keySpan, cluster, out);
  const name = v.ident ?? v.text ?? '';
  const found = findGpu(name);
  if (found) return found;
  const norm = name.toUpperCase().replace(/[\s-]+/g, '_');
  // `H100` names a family: offer its members before any near spelling.
  const family = GPU_IDS.filter((id) => norm.length >= 2 && (id.startsWith(`${norm}_`) || id.replace(/^RTX_/, '') === norm));
  const hint = family.length > 0 ? family.join("' or '") : suggest(norm, GPU_IDS);
  out.push(
    diag(
      'PP2011',
      field.span,
      { name },
      {
        help: hint
          ? `did you mean '${hint}'?`
          : `catalog: ${GPU_IDS.join(', ')}; or describe it: gpu { name = "${name}"  memory = 24 GiB }`,
      },
    ),
  );
  return undefined;
}

function customGpu(block: BlockValue, anchor: Span, cluster: string, out: Diagnostic[]): GpuSpec | undefined {
  const f = readBlock(block, 'gpu', { where: `the gpu block of cluster '${cluster}'`, anchor, out });
  const name = f.value<string>('name');
  const memory = f.value<number>('memory');
  if (name === undefined || memory === undefined) return undefined;
  if (memory <= 0) {
    out.push(
      diag(
        'PP2008',
        f.get('memory')!.span,
        { key: 'memory', value: String(memory), range: 'must be more than 0 bytes' },
        { help: 'e.g. memory = 24 GiB' },
      ),
    );
    return undefined;
  }
  return {
    id: name,
    name,
    memoryBytes: memory,
    memorySource: `declared in cluster '${cluster}'`,
    tflops16: f.value<number>('tflops') ?? 0,
    tflops32: 0,
    memoryBandwidthGBs: f.value<number>('bandwidth') ?? 0,
    // The kind only labels traffic in reports; without `link` the bandwidth is unknown (0) and
    // the cost model says so for a plan that sends data between GPUs of a node.
    link: { kind: 'pcie', bandwidthGBs: f.value<number>('link') ?? 0 },
    bf16: true,
    // Assumed, as bf16 is: a declared GPU can run fp8 training, with Hopper's operand layouts (a
    // weight's fp8 copy and its transpose), the larger of the two footprints.
    fp8: { blackwell: false },
  };
}
