/**
 * Pipeline parallelism: the stage layout (explicit layer ranges or balanced) and
 * the schedule's needs (interleaved: virtual chunks, layer and microbatch divisibility).
 */
import type { StringValue } from '../ast.js';
import { diag, type Diagnostic } from '../diagnostics/diagnostic.js';
import { deadlockDiagnostic, tableDeadlock } from '../schedules/deadlock.js';
import { parseActionTable } from '../schedules/table.js';
import type { ScheduleTable } from '../schedules/types.js';
import { rankOf } from '../mesh.js';
import type { Stage, TrainPlan } from '../plan.js';
import type { LayoutFacts } from './layout.js';
import { spanOf, type PlanContext } from './context.js';
import type { Field, Range } from './values.js';

/**
 * Virtual stages split the layers evenly: pipeline × virtual must divide them (PP3014,
 * `noDivisor` the help when no small virtual does) and explicit `stages` cannot be given
 * (PP2014 against `other`). Shared by the interleaved schedule and action tables; false
 * when either was reported.
 */
function checkVirtualSplit(
  ctx: PlanContext,
  virtualField: Field<number>,
  texts: { other: string; noDivisor: string; stages: string },
): boolean {
  const { out, fields } = ctx;
  const p = ctx.mesh.pipeline;
  const v = virtualField.value;
  let ok = true;
  if (ctx.model.layers % (p * v) !== 0) {
    const vs = [2, 3, 4, 5, 6, 8].filter((x) => ctx.model.layers % (p * x) === 0);
    out.push(
      diag(
        'PP3014',
        virtualField.span,
        { layers: ctx.model.layers, pipeline: p, virtual: v, product: p * v },
        { help: vs.length > 0 ? `virtual = ${vs[0]} divides the layers evenly` : texts.noDivisor },
      ),
    );
    ok = false;
  }
  if (fields.has('stages')) {
    out.push(diag('PP2014', fields.get('stages')!.entry.keySpan, { key: 'stages', other: texts.other }, { help: texts.stages }));
    ok = false;
  }
  return ok;
}

/** Where the microbatch count stands: `microbatches`, else the global batch it is derived from. */
function microbatchesSpan(ctx: PlanContext) {
  return spanOf(ctx, ctx.fields.has('microbatches') ? 'microbatches' : 'batch.global');
}

/** PP3018: an interleaved schedule wants microbatches a multiple of the pipeline. */
function microbatchesNotMultiple(ctx: PlanContext, microbatches: number): Diagnostic {
  const p = ctx.mesh.pipeline;
  const m = Math.ceil(microbatches / p) * p;
  return diag(
    'PP3018',
    microbatchesSpan(ctx),
    { microbatches, pipeline: p },
    { help: `make global / (micro × data) a multiple of ${p}, e.g. ${m} microbatches` },
  );
}

/** PP3019: fewer microbatches than stages; `help` by default the bubble it costs. */
function fewMicrobatches(ctx: PlanContext, microbatches: number, help?: string): Diagnostic {
  const p = ctx.mesh.pipeline;
  const bubble = Math.round(((p - 1) / (microbatches + p - 1)) * 100);
  return diag(
    'PP3019',
    microbatchesSpan(ctx),
    { microbatches, pipeline: p },
    { help: help ?? `the bubble is (p − 1)/(m + p − 1) = ${bubble}% of the step; use at least ${p * 4} microbatches` },
  );
}

/**
 * Balanced stages: layers / pipeline each; the remainder goes one each to the
 * stages after the first (the first stage already holds the embedding and, under
 * 1F1B, the most in-flight activations).
 */
export function balancedStages(layers: number, pipeline: number): Stage[] {
  const base = Math.floor(layers / pipeline);
  const extra = layers % pipeline;
  const stages: Stage[] = [];
  let first = 0;
  for (let i = 0; i < pipeline; i++) {
    const n = base + (i >= 1 && i <= extra ? 1 : 0);
    stages.push(stageOf(i, first, first + n - 1, pipeline));
    first += n;
  }
  return stages;
}

function stageOf(index: number, firstLayer: number, lastLayer: number, pipeline: number): Stage {
  return { index, firstLayer, lastLayer, layers: lastLayer - firstLayer + 1, hasEmbedding: index === 0, hasOutput: index === pipeline - 1 };
}

/** Explicit `stages = [...]`, or balanced ones; undefined when the layout is wrong. */
export function checkStages(ctx: PlanContext): Stage[] | undefined {
  const { model, out } = ctx;
  const p = ctx.mesh.pipeline;
  const L = model.layers;
  if (p > L) {
    out.push(
      diag(
        'PP3008',
        spanOf(ctx, 'pipeline'),
        { pipeline: p, layers: L },
        { help: `every stage needs at least one layer: pipeline ≤ ${L}` },
      ),
    );
    return undefined;
  }
  const field = ctx.fields.get<Range[]>('stages');
  if (!field) return balancedStages(L, p);
  const ranges = field.value;
  if (ranges.length !== p) {
    out.push(
      diag(
        'PP3007',
        field.span,
        { count: ranges.length, pipeline: p },
        { help: `give one range per stage, e.g. stages = ${formatRanges(balancedStages(L, p))}` },
      ),
    );
    return undefined;
  }
  let ok = true;
  let next = 0;
  let prev: Range | undefined;
  for (const r of ranges) {
    if (r.from > r.to) {
      out.push(diag('PP3006', r.span, { detail: `layer range ${r.from}..${r.to} is reversed` }, { help: `write ${r.to}..${r.from}` }));
      ok = false;
      break;
    }
    if (r.to >= L) {
      out.push(
        diag(
          'PP3006',
          r.span,
          { detail: `layer ${r.to} does not exist: model '${model.name}' has layers 0..${L - 1}` },
          { help: `the last stage should end at layer ${L - 1}` },
        ),
      );
      ok = false;
      break;
    }
    if (r.from > next) {
      const detail = next === r.from - 1 ? `layer ${next} is in no stage` : `layers ${next}..${r.from - 1} are in no stage`;
      out.push(
        diag(
          'PP3006',
          r.span,
          { detail },
          {
            help: `start this stage at layer ${next}: ${next}..${r.to}`,
            related: prev ? [{ span: prev.span, message: 'the previous stage ends here' }] : [],
          },
        ),
      );
      ok = false;
      break;
    }
    if (r.from < next) {
      const detail = `layer range ${r.from}..${r.to} overlaps the previous stage (layers up to ${next - 1})`;
      out.push(
        diag(
          'PP3006',
          r.span,
          { detail },
          {
            help: next <= r.to ? `start this stage at layer ${next}: ${next}..${r.to}` : 'each layer belongs to exactly one stage',
            related: prev ? [{ span: prev.span, message: 'previous stage' }] : [],
          },
        ),
      );
      ok = false;
      break;
    }
    next = r.to + 1;
    prev = r;
  }
  if (ok && next < L) {
    const detail = next === L - 1 ? `layer ${next} is in no stage` : `layers ${next}..${L - 1} are in no stage`;
    out.push(diag('PP3006', prev?.span ?? field.span, { detail }, { help: `end the last stage at layer ${L - 1}` }));
    ok = false;
  }
  if (!ok) return undefined;
  return ranges.map((r, i) => stageOf(i, r.from, r.to, p));
}

export function formatRanges(stages: Stage[]): string {
  return `[${stages.map((s) => `${s.firstLayer}..${s.lastLayer}`).join(', ')}]`;
}

export interface ScheduleFacts {
  schedule: TrainPlan['schedule'];
  virtual: number;
  /** The parsed `actions` (schedule = table). */
  actions?: ScheduleTable;
}

/** Training schedule checks; `microbatches` is already derived from the batch. */
export function checkSchedule(ctx: PlanContext, microbatches: number | undefined, layout?: LayoutFacts): ScheduleFacts | undefined {
  const { out, fields } = ctx;
  const p = ctx.mesh.pipeline;
  const actionsField = fields.get<{ strings: StringValue[] }>('actions');
  if (actionsField && fields.has('layout')) {
    out.push(
      diag(
        'PP2044',
        fields.get('layout')!.entry.keySpan,
        { what: 'a layout with an actions table' },
        { help: "remove `layout` (the table's virtual stages are equal), or use schedule = 1f1b or interleaved" },
      ),
    );
    return undefined;
  }
  if (actionsField) return checkActionTable(ctx, actionsField, microbatches);
  const schedule = fields.valueOrDefault<Exclude<ScheduleFacts['schedule'], 'table'>>('schedule');
  if (layout) return checkLayoutSchedule(ctx, schedule, microbatches, layout);
  if (fields.has('layout')) return undefined; // a wrong layout: reported already
  const virtualField = fields.get<number>('virtual');
  let ok = true;
  if (schedule !== 'interleaved') {
    if (virtualField) {
      out.push(diag('PP3022', virtualField.entry.keySpan, {}, { help: 'add `schedule = interleaved`, or remove `virtual`' }));
      ok = false;
    }
  } else {
    if (!virtualField) {
      out.push(diag('PP3013', spanOf(ctx, 'schedule'), {}, { help: `add \`virtual = 2\`` }));
      return undefined;
    }
    if (
      !checkVirtualSplit(ctx, virtualField, {
        other: 'schedule = interleaved',
        noDivisor: 'use schedule = 1f1b',
        stages: 'interleaved chunks are balanced; remove `stages`',
      })
    )
      ok = false;
    if (microbatches !== undefined && p > 1 && microbatches % p !== 0) {
      out.push(microbatchesNotMultiple(ctx, microbatches));
      ok = false;
    }
  }
  if (p === 1 && fields.has('schedule')) {
    out.push(
      diag(
        'PP3020',
        fields.get('schedule')!.entry.keySpan,
        { key: 'schedule', why: 'with pipeline = 1' },
        { help: 'remove it, or set pipeline > 1' },
      ),
    );
  }
  if (ok && p > 1 && microbatches !== undefined && microbatches < p) {
    out.push(fewMicrobatches(ctx, microbatches));
  }
  return ok ? { schedule, virtual: schedule === 'interleaved' ? virtualField!.value : 1 } : undefined;
}

/**
 * The schedule of a plan with a `layout`: the layout's virtual stages per rank decide
 * between one chunk per rank (gpipe, 1f1b) and interleaved; `virtual` was checked against
 * the layout already (checkLayout). Megatron's interleaved schedule still needs the
 * microbatches to be a multiple of the pipeline (PP3018).
 */
function checkLayoutSchedule(
  ctx: PlanContext,
  schedule: Exclude<ScheduleFacts['schedule'], 'table'>,
  microbatches: number | undefined,
  layout: LayoutFacts,
): ScheduleFacts | undefined {
  const { out, fields } = ctx;
  const p = ctx.mesh.pipeline;
  const v = layout.virtual;
  const layoutSpan = fields.get('layout')!.span;
  if (schedule === 'interleaved' && v === 1) {
    out.push(
      diag(
        'PP3068',
        spanOf(ctx, 'schedule'),
        { detail: `schedule = interleaved, but the layout has one stage per rank (${p} stages for pipeline = ${p})` },
        {
          help: `give ${2 * p} stages for two chunks per rank, or use schedule = 1f1b`,
          related: [{ span: layoutSpan, message: 'the layout' }],
        },
      ),
    );
    return undefined;
  }
  if (schedule !== 'interleaved' && v > 1) {
    out.push(
      diag(
        'PP3068',
        fields.has('schedule') ? spanOf(ctx, 'schedule') : layoutSpan,
        { detail: `the layout has ${v} stages per rank, and schedule = ${schedule} runs one` },
        { help: 'set schedule = interleaved', related: fields.has('schedule') ? [{ span: layoutSpan, message: 'the layout' }] : [] },
      ),
    );
    return undefined;
  }
  if (schedule === 'interleaved' && microbatches !== undefined && microbatches % p !== 0) {
    out.push(microbatchesNotMultiple(ctx, microbatches));
    return undefined;
  }
  if (p > 1 && microbatches !== undefined && microbatches < p) {
    out.push(fewMicrobatches(ctx, microbatches));
  }
  return { schedule, virtual: v };
}

/**
 * `actions = [...]`: the plan's own schedule. It replaces `schedule`; `virtual`
 * (model chunks per rank, stages = pipeline × virtual) is allowed and then needs the
 * layers to split evenly over the virtual stages, as for interleaved. The table is
 * checked per rank (PP5003, PP5004) against the derived microbatches; whether the
 * ranks' orders fit together is `checkTableDeadlock`'s question (PP5001), once the
 * whole plan has checked.
 */
function checkActionTable(
  ctx: PlanContext,
  field: Field<{ strings: StringValue[] }>,
  microbatches: number | undefined,
): ScheduleFacts | undefined {
  const { out, fields } = ctx;
  const p = ctx.mesh.pipeline;
  let ok = true;
  if (fields.has('schedule')) {
    out.push(
      diag(
        'PP2014',
        fields.get('schedule')!.entry.keySpan,
        { key: 'schedule', other: 'actions' },
        {
          help: 'an action table is the schedule: remove `schedule`',
          related: [{ span: field.entry.keySpan, message: 'the action table' }],
        },
      ),
    );
    ok = false;
  }
  const virtualField = fields.get<number>('virtual');
  const v = virtualField?.value ?? 1;
  if (
    virtualField &&
    !checkVirtualSplit(ctx, virtualField, {
      other: `virtual = ${v}`,
      noDivisor: 'remove `virtual`: one stage per rank',
      stages: 'virtual stages are balanced; remove `stages`',
    })
  )
    ok = false;
  if (microbatches === undefined) return undefined;
  const parsed = parseActionTable(field.value.strings, p, v, microbatches, { span: field.span });
  out.push(...parsed.diagnostics);
  if (p > 1 && microbatches < p) {
    out.push(
      fewMicrobatches(ctx, microbatches, `with fewer microbatches than stages some stage always waits; use at least ${p * 4} microbatches`),
    );
  }
  if (!ok || !parsed.table) return undefined;
  return { schedule: 'table', virtual: v, actions: parsed.table };
}

/**
 * PP5001: a hand-written table whose ranks wait on each other, found by simulating the
 * table alone (src/schedules/deadlock.ts), in the graph's words: ranks as the graph
 * numbers them (tensor rank 0 of replica 0 of each stage) and its message names.
 */
export function checkTableDeadlock(plan: TrainPlan): Diagnostic[] {
  if (!plan.actions) return [];
  const ranks = plan.actions.map((_, stage) => rankOf(plan.mesh, { tensor: 0, context: 0, pipeline: stage, data: 0 }));
  const found = tableDeadlock(plan.actions, plan.mesh.pipeline * plan.virtual, ranks);
  if (!found) return [];
  return [deadlockDiagnostic(found.stuck, found.grid, found.span ?? plan.spans['actions'] ?? plan.span)];
}
