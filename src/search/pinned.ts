/**
 * The winner as a pinned `.plan`: every knob the checker resolved, written out, so the
 * plan means the same thing if a default ever changes. Read back from the CheckedPlan,
 * never from the search's own knobs, so the file says exactly what was checked.
 */
import { shardOver } from '../memory/zero.js';
import { normalize, resolve } from 'node:path';
import { analyze } from '../analyze.js';
import { formatLayout } from '../check/layout.js';
import { InternalError } from '../diagnostics/codes.js';
import { hasErrors } from '../diagnostics/diagnostic.js';
import { formatPlanText } from '../fmt/index.js';
import { BYTE_UNITS } from '../facts/keys.js';
import type { Host } from '../load.js';
import { layerRuns } from '../model.js';
import type { CheckedPlan, Lengths, ServeSlo, ServeTraffic } from '../plan.js';
import { int, renderPlan, withUnit, word, type Setting } from './settings.js';

/** An exact byte count in the largest binary unit that divides it (268435456 → 256 MiB). */
function bytesSetting(key: string, bytes: number): Setting {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    const size = BYTE_UNITS[unit]!;
    if (bytes >= size && bytes % size === 0) return withUnit(key, bytes / size, unit);
  }
  return withUnit(key, bytes, 'B');
}

/** A fraction as a percentage when that reads back exactly (0.1 → 10%). */
function fractionSetting(key: string, f: number): Setting {
  const pct = Number((f * 100).toPrecision(12));
  return pct / 100 === f ? withUnit(key, pct, '%') : { key, value: { kind: 'number', value: f } };
}

function block(key: string, settings: Setting[]): Setting {
  return { key, value: { kind: 'block', value: settings } };
}

/** Every setting of the plan, in the order docs/language.md lists them. */
export function pinnedSettings(plan: CheckedPlan): Setting[] {
  const { mesh } = plan;
  const out: Setting[] = [word('model', plan.model.name), word('cluster', plan.cluster.name), word('mode', plan.mode)];
  out.push(int('tensor', mesh.tensor), int('pipeline', mesh.pipeline), int('data', mesh.data));
  // Context parallelism only where the plan has it (most have none, and pinned files stay as they were).
  if (mesh.context > 1) out.push(int('context', mesh.context));
  // The expert grid of a MoE model (a dense model has none: expert is 1 and not written).
  if (layerRuns(plan.model).some((r) => r.layer.mlp.kind === 'moe'))
    out.push(int('expert', plan.experts.expert), int('expert_tensor', plan.experts.tensor));
  const chunks = plan.stages.flatMap((s) => s.chunks ?? []).sort((a, b) => a.index - b.index);
  // A layout places every layer (and sets the virtual stages): written back as it was checked.
  if (chunks.length > 0) out.push({ key: 'layout', value: { kind: 'string', value: formatLayout(chunks) } });
  const interleaved = plan.mode === 'train' && plan.schedule === 'interleaved' && chunks.length === 0;
  // Interleaved chunks are balanced by the schedule itself: `stages` would conflict (PP2014).
  if (mesh.pipeline > 1 && !interleaved && chunks.length === 0)
    out.push({ key: 'stages', value: { kind: 'ranges', value: plan.stages.map((s) => [s.firstLayer, s.lastLayer] as const) } });
  if (plan.mode === 'serve') {
    const b = plan.batch;
    out.push(
      block('batch', [
        int('max_batch', b.maxBatch),
        int('seq', b.seq),
        withUnit('max_wait', b.maxWaitMs, 'ms'),
        int('queue', b.queue),
        int('max_prefill_tokens', b.maxPrefillTokens),
      ]),
      word('kv_dtype', plan.kvDtype),
      int('kv_block', plan.kvBlock),
      word('engine', plan.engine),
    );
    if (plan.traffic) out.push(trafficBlock(plan.traffic));
    if (plan.slo) out.push(sloBlock(plan.slo));
  } else {
    if (plan.schedule === 'table') throw new InternalError('a plan with an action table is not pinned');
    // A schedule with one stage has no effect (PP3020), so it is written only with stages to schedule.
    if (mesh.pipeline > 1) out.push(word('schedule', plan.schedule));
    if (interleaved) out.push(int('virtual', plan.virtual));
    out.push(
      int('microbatches', plan.microbatches),
      block('batch', [int('global', plan.batch.global), int('micro', plan.batch.micro), int('seq', plan.batch.seq)]),
      int('zero', plan.zero),
      // Sharding keys only where they act (a shard group below data; resharding under ZeRO-3; offload).
      ...(shardOver(plan) < mesh.data ? [int('shard_group', shardOver(plan))] : []),
      ...(plan.zero === 3 ? [word('reshard_after_forward', plan.reshardAfterForward)] : []),
      ...(plan.offload !== 'none' ? [word('offload', plan.offload)] : []),
      word('recompute', plan.recompute),
      ...(plan.recompute === 'full' && (plan.recomputeMethod !== 'uniform' || plan.recomputeLayers !== 1)
        ? [word('recompute_method', plan.recomputeMethod), int('recompute_layers', plan.recomputeLayers)]
        : []),
      word('sequence_parallel', plan.sequenceParallel),
      // amp_bf16 / amp_fp16: the recipe over the compute dtype the checked plan keeps.
      word('precision', plan.amp ? `amp_${plan.precision}` : plan.precision),
      word('optimizer', plan.optimizer),
      word('grad_dtype', plan.gradDtype),
    );
    if (plan.fp8 !== 'none') out.push(word('fp8', plan.fp8));
    if (plan.gradClip !== undefined) out.push({ key: 'grad_clip', value: { kind: 'number', value: plan.gradClip } });
    if (plan.engine === 'webgpu') out.push(word('engine', plan.engine));
    if (mesh.context > 1) out.push(word('context_comm', plan.contextComm));
    if (plan.capacityFactor !== undefined) out.push({ key: 'capacity_factor', value: { kind: 'number', value: plan.capacityFactor } });
    const a = plan.adapter;
    if (a)
      out.push(
        block('adapter', [
          int('rank', a.rank),
          { key: 'alpha', value: { kind: 'number', value: a.alpha } },
          { key: 'targets', value: { kind: 'strings', value: a.targets } },
          { key: 'dropout', value: { kind: 'number', value: a.dropout } },
        ]),
      );
  }
  out.push(word('attention', plan.attention), fractionSetting('reserve', plan.reserve));
  // The webgpu engine counts its own scratch unless the plan sets one: keep that choice.
  const webgpu = plan.engine === 'webgpu';
  const given = plan.mode === 'serve' ? plan.workspaceGiven : plan.spans['workspace'] !== undefined;
  if (!webgpu || given) out.push(bytesSetting('workspace', plan.workspaceBytes));
  return out;
}

export interface PinnedFile {
  /** The plan's name in the file. */
  name: string;
  /** The import that brings the model and cluster in, relative to the written file. */
  importPath: string;
  /** Comment lines (without `//`) written at the top. */
  header: readonly string[];
}

/** The whole file, laid out by `parplan fmt`: header comment, the import, the pinned plan. */
export function pinnedText(plan: CheckedPlan, file: PinnedFile): string {
  const header = file.header.map((l) => `// ${l}`.trimEnd()).join('\n');
  const text = `${header}\nimport ${JSON.stringify(file.importPath)}\n\n${renderPlan(file.name, pinnedSettings(plan))}`;
  const formatted = formatPlanText(text, `${file.name}.plan`);
  if (hasErrors(formatted.diagnostics))
    throw new InternalError(`the pinned plan does not format: ${formatted.diagnostics.map((d) => d.message).join('; ')}`);
  return formatted.text;
}

/**
 * A plan without names and source positions, to compare two checks of the same knobs.
 * Pinning writes `workspace`, which only the webgpu engine reads as "given" (it then adds
 * it to its own buffers); for the generic engine the flag changes nothing.
 */
export function comparable(plan: CheckedPlan): string {
  const flag = plan.mode === 'serve' && plan.engine === 'generic' ? { workspaceGiven: false } : {};
  return JSON.stringify({ ...plan, name: '', ...flag }, (key, value) =>
    key === 'span' || key === 'spans' || key === 'file' ? undefined : value,
  );
}

/**
 * Check `text` as if it were the file `file` (other files read through `host`), as
 * `parplan check` would: undefined when it has no error, fits, and checks to `expected`;
 * otherwise what is wrong.
 */
export function recheck(text: string, file: string, expected: CheckedPlan, host: Host, root?: string): string | undefined {
  const at = normalize(resolve(file));
  const overlay: Host = {
    readFile: (p) => (normalize(resolve(p)) === at ? text : host.readFile(p)),
    kind: (p) => (normalize(resolve(p)) === at ? 'file' : host.kind(p)),
    size: (p) => (normalize(resolve(p)) === at ? Buffer.byteLength(text) : host.size ? host.size(p) : Buffer.byteLength(host.readFile(p))),
    listDir: (p) => host.listDir(p),
    realpath: (p) => (normalize(resolve(p)) === at || !host.realpath ? normalize(resolve(p)) : host.realpath(p)),
  };
  const a = analyze([at], root === undefined ? { host: overlay } : { host: overlay, root });
  const errors = a.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) return errors.map((d) => `${d.code} ${d.message}`).join('; ');
  const got = a.results[0];
  if (a.results.length !== 1 || !got) return `${a.results.length} plans checked`;
  if (!got.fits) return 'it does not fit';
  return comparable(got.plan) === comparable(expected) ? undefined : 'it checks to a different plan';
}

/** Request lengths as the keys that give them: `prompt = 512`, `prompt_min`/`prompt_max`, or `prompt` (mean) and `prompt_p99`. */
function lengthSettings(what: 'prompt' | 'output', l: Lengths): Setting[] {
  if (l.kind === 'fixed') return [int(what, l.value)];
  if (l.kind === 'uniform') return [int(`${what}_min`, l.min), int(`${what}_max`, l.max)];
  return [int(what, l.mean), int(`${what}_p99`, l.p99)];
}

/** The checked traffic: a trace is written by its file (its lengths come from it), otherwise the arrivals and lengths. */
function trafficBlock(t: ServeTraffic): Setting {
  const settings: Setting[] = [];
  if (t.traceFile !== undefined) settings.push({ key: 'trace', value: { kind: 'string', value: t.traceFile } });
  settings.push({ key: 'rate', value: { kind: 'number', value: t.rate } });
  if (t.traceFile === undefined) {
    settings.push(word('process', t.process));
    if (t.process === 'burst') settings.push({ key: 'burst', value: { kind: 'number', value: t.burst } });
    settings.push(...lengthSettings('prompt', t.prompt), ...lengthSettings('output', t.output), int('seed', t.seed));
  }
  settings.push(int('requests', t.requests));
  return block('traffic', settings);
}

function sloBlock(slo: ServeSlo): Setting {
  const settings: Setting[] = slo.latency.map((o) => withUnit(o.key, Number((o.seconds * 1000).toPrecision(12)), 'ms'));
  if (slo.maxRejected !== undefined) settings.push(fractionSetting('max_rejected', slo.maxRejected));
  return block('slo', settings);
}
