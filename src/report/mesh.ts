/**
 * The device mesh: nodes as boxes of GPU cells, each cell coloured by its pipeline
 * stage and labelled with its tensor and data rank; tensor-parallel groups outlined;
 * devices over their usable memory with a red border. Meshes of more than
 * `MAX_CELLS` devices show one data replica (they are all alike) and say so.
 *
 * Every cell is a `<rect data-rank="…" data-stage="…" data-tensor="…" data-data="…">`. A MoE
 * model split over experts (expert > 1) also marks each cell with its expert group and its rank
 * in it (`data-expert-group`, `data-expert`, the label `e<k>`), and the note lists the expert
 * groups (the all-to-all of dispatch and combine) and expert-data groups (src/mesh.ts).
 */
import type { DeviceMemory } from '../memory/types.js';
import { expertGroupsAlong, groupsAlong, meshText } from '../mesh.js';
import { layerRuns } from '../model.js';
import type { CheckedPlan, Stage, VirtualStage } from '../plan.js';
import { esc, grouped, inkOn, n, ramp, rect, stageColor, svg, text } from './svg.js';

export const MAX_CELLS = 512;
const MAX_W = 1100;

interface CellSize {
  w: number;
  h: number;
  gap: number;
  /** Label lines: `t1 d0` and `r5`, only the rank, or nothing. */
  labels: 'both' | 'rank' | 'none';
}

function cellSize(count: number): CellSize {
  if (count <= 64) return { w: 54, h: 40, gap: 5, labels: 'both' };
  if (count <= 256) return { w: 40, h: 30, gap: 4, labels: 'both' };
  return { w: 28, h: 20, gap: 3, labels: 'rank' };
}

export function renderMesh(plan: CheckedPlan, devices: readonly DeviceMemory[]): string {
  const { tensor, pipeline, data } = plan.mesh;
  const gpn = Math.max(1, plan.cluster.gpusPerNode);
  const oneReplica = devices.length > MAX_CELLS;
  const shown = oneReplica ? devices.filter((d) => d.dataRank === 0) : [...devices];
  const byRank = new Map(shown.map((d) => [d.rank, d]));
  const usedRanks = new Set(devices.map((d) => d.rank));
  const nodes = [...new Set(shown.map((d) => d.node))].sort((a, b) => a - b);
  const size = cellSize(shown.length);
  const cols = Math.min(gpn, 8);
  const nodeRows = Math.ceil(gpn / cols);
  const pad = 6;
  const head = 16;
  const nodeW = cols * (size.w + size.gap) - size.gap + 2 * pad;
  const nodeH = head + nodeRows * (size.h + size.gap) - size.gap + pad;
  const nodeGap = 10;
  const perRow = Math.max(1, Math.min(nodes.length, Math.floor((MAX_W + nodeGap) / (nodeW + nodeGap))));
  const W = perRow * (nodeW + nodeGap) - nodeGap + 4;
  const H = Math.ceil(nodes.length / perRow) * (nodeH + nodeGap) - nodeGap + 4;

  const experts = expertPlaces(plan);
  const pos = new Map<number, { x: number; y: number; node: number; row: number }>();
  const out: string[] = [];
  nodes.forEach((node, k) => {
    const nx = 2 + (k % perRow) * (nodeW + nodeGap);
    const ny = 2 + Math.floor(k / perRow) * (nodeH + nodeGap);
    out.push(rect({ x: nx, y: ny, width: nodeW, height: nodeH, rx: 6, class: 'node' }));
    out.push(text(nx + pad, ny + 12, `node ${node}`, { class: 'node-label' }));
    for (let slot = 0; slot < gpn; slot++) {
      const rank = node * gpn + slot;
      const row = Math.floor(slot / cols);
      const x = nx + pad + (slot % cols) * (size.w + size.gap);
      const y = ny + head + row * (size.h + size.gap);
      const d = byRank.get(rank);
      if (!d) {
        // A GPU of this node the plan does not use (or, in one-replica view, another replica's).
        if (!usedRanks.has(rank))
          out.push(
            rect({ x, y, width: size.w, height: size.h, rx: 3, class: 'cell unused' }, `GPU ${slot} of node ${node}: unused by the plan`),
          );
        continue;
      }
      pos.set(rank, { x, y, node, row });
      const fill = stageColor(d.stage, pipeline);
      const over = d.totalBytes > d.usableBytes;
      const ex = experts?.place.get(d.rank);
      const exText = ex ? `, expert group ${ex.group} (expert rank ${ex.rank})` : '';
      const title = `rank ${d.rank}: stage ${d.stage}, tensor rank ${d.tensorRank}${d.contextRank !== undefined ? `, context rank ${d.contextRank}` : ''}, data rank ${d.dataRank}${exText}, node ${d.node} GPU ${slot}${over ? ' — over usable memory' : ''}`;
      out.push(
        rect(
          {
            x,
            y,
            width: size.w,
            height: size.h,
            rx: 3,
            fill,
            class: over ? 'cell over' : 'cell',
            'data-rank': String(d.rank),
            'data-stage': String(d.stage),
            'data-tensor': String(d.tensorRank),
            'data-data': String(d.dataRank),
            ...(ex ? { 'data-expert-group': String(ex.group), 'data-expert': String(ex.rank) } : {}),
          },
          title,
        ),
      );
      const ink = inkOn(fill);
      if (ex && size.labels !== 'none')
        out.push(text(x + 2, y + 7, `e${ex.rank}`, { class: 'cell-label tiny', fill: ink, 'text-anchor': 'start' }));
      if (size.labels === 'both') {
        const big = size.w >= 50;
        out.push(
          text(x + size.w / 2, y + size.h / 2 - (big ? 2 : 1), `t${d.tensorRank} d${d.dataRank}`, {
            class: big ? 'cell-label' : 'cell-label small',
            fill: ink,
            'text-anchor': 'middle',
          }),
        );
        out.push(
          text(x + size.w / 2, y + size.h / 2 + (big ? 11 : 9), `r${d.rank}`, {
            class: 'cell-label dim small',
            fill: ink,
            'text-anchor': 'middle',
          }),
        );
      } else if (size.labels === 'rank') {
        out.push(
          text(x + size.w / 2, y + size.h / 2 + 3, String(d.rank), { class: 'cell-label tiny', fill: ink, 'text-anchor': 'middle' }),
        );
      }
    }
  });

  // Tensor-parallel groups: the ranks of one (replica, stage), outlined per node row (those shown).
  if (tensor > 1) {
    for (const ranks of groupsAlong(plan.mesh, 'tensor')) {
      const segs = new Map<string, { x0: number; y0: number; x1: number; y1: number }>();
      for (const r of ranks) {
        const p = pos.get(r);
        if (!p) continue;
        const key = `${p.node}/${p.row}`;
        const s = segs.get(key);
        if (s) {
          s.x0 = Math.min(s.x0, p.x);
          s.x1 = Math.max(s.x1, p.x + size.w);
        } else segs.set(key, { x0: p.x, y0: p.y, x1: p.x + size.w, y1: p.y + size.h });
      }
      for (const s of segs.values())
        out.push(rect({ x: s.x0 - 2, y: s.y0 - 2, width: s.x1 - s.x0 + 4, height: s.y1 - s.y0 + 4, rx: 4, class: 'tgroup' }));
    }
  }

  const notes: string[] = [];
  notes.push(`${grouped(devices.length)} GPU${devices.length === 1 ? '' : 's'}: ${meshText(plan.mesh)}, ${gpn} per node.`);
  if (oneReplica)
    notes.push(
      `<b data-one-replica="true">Showing data replica 0 only</b> (${grouped(shown.length)} of ${grouped(devices.length)} GPUs); the other ${data - 1} replicas are laid out the same way on the following nodes.`,
    );
  if (experts) notes.push(experts.note);
  const unused = plan.cluster.gpus - devices.length;
  if (unused > 0) notes.push(`${grouped(unused)} GPU${unused === 1 ? '' : 's'} of the cluster unused (dashed).`);
  const chart = svg(W, H, out.join(''), { class: 'chart mesh', role: 'img', 'aria-label': 'device mesh' });
  return `${stageLegend(plan, tensor, experts !== undefined)}<div class="scroll">${chart}</div><p class="note">${notes.join(' ')}</p>`;
}

/** At most this many groups are listed by their ranks in the note. */
const LISTED_GROUPS = 8;

/** MoE with expert > 1: each rank's expert group and place in it, and the note that lists the groups. */
function expertPlaces(plan: CheckedPlan): { place: Map<number, { group: number; rank: number }>; note: string } | undefined {
  if (plan.experts.expert === 1 || !layerRuns(plan.model).some((r) => r.layer.mlp.kind === 'moe')) return undefined;
  const groups = expertGroupsAlong(plan.mesh, plan.experts, 'expert');
  const place = new Map<number, { group: number; rank: number }>();
  groups.forEach((g, i) => g.forEach((r, k) => place.set(r, { group: i, rank: k })));
  const list = (gs: number[][]) =>
    gs
      .slice(0, LISTED_GROUPS)
      .map((g) => `[${g.join(' ')}]`)
      .join(', ') + (gs.length > LISTED_GROUPS ? `, … (${grouped(gs.length)} in all)` : '');
  const { tensor, expert, data } = plan.experts;
  let note = `<span data-expert-groups="${groups.length}">Expert groups (expert ${expert}, expert_tensor ${tensor}: each holds every routed expert once and exchanges tokens in the all-to-all of dispatch and combine; e0, e1, … is a GPU's rank in its group): ${esc(list(groups))}.</span>`;
  if (data > 1)
    note += ` Expert-data groups (${data} replicas of each expert shard, whose gradients are all-reduced): ${esc(list(expertGroupsAlong(plan.mesh, plan.experts, 'data')))}.`;
  return { place, note };
}

function stageLegend(plan: CheckedPlan, tensor: number, experts = false): string {
  const p = plan.mesh.pipeline;
  const items: string[] = [];
  if (p <= 16) {
    for (let s = 0; s < p; s++) {
      const st = plan.stages.length === p ? plan.stages[s] : undefined;
      const layers = st ? ` (${stageLayers(st)})` : '';
      items.push(`<span><i style="background:${stageColor(s, p)}"></i>stage ${s}${esc(layers)}</span>`);
    }
  } else {
    const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => `${ramp(t)} ${n(t * 100)}%`).join(', ');
    items.push(`<span>stage 0 <i class="ramp" style="background:linear-gradient(90deg, ${stops})"></i> stage ${p - 1}</span>`);
  }
  if (tensor > 1) items.push(`<span><i class="swatch-tgroup"></i>tensor-parallel group (${tensor} GPUs)</span>`);
  if (experts) items.push(`<span>e0, e1, …: rank in its expert group (${plan.experts.expert} GPUs)</span>`);
  items.push('<span><i class="swatch-over"></i>over usable memory</span>');
  return `<div class="legend">${items.join('')}</div>`;
}

/** A stage's layers for the legend: its range, or with a layout each virtual stage's (E, L where they sit; "empty"). */
function stageLayers(st: Stage): string {
  if (!st.chunks) return `layers ${st.firstLayer}–${st.lastLayer}`;
  const chunk = (c: VirtualStage): string => {
    const range = c.layers === 0 ? '' : c.layers === 1 ? `${c.firstLayer}` : `${c.firstLayer}–${c.firstLayer + c.layers - 1}`;
    const text = [c.hasEmbedding ? 'E' : '', range, c.hasOutput ? 'L' : ''].filter(Boolean).join(' ');
    return `v${c.index}: ${text || 'empty'}`;
  };
  return `layers ${st.chunks.map(chunk).join(', ')}`;
}
