/**
 * Validation by simulation: run every simulated rank's program step by step, as the
 * devices would. Point-to-point messages match by (sender, receiver, tensor,
 * microbatch); collectives wait for every member of their group and must be entered
 * in the same order with the same tensor; a read of a tensor that no earlier step
 * produced is reported. When no rank can move, that is a deadlock, reported with the
 * rank × action grid and the stuck actions marked.
 *
 * The simulation also gives each rank's timeline (for the Gantt chart) and memory
 * timeline: the static bytes of the memory plan plus the activations the steps
 * allocate and free. Times use a simple rate model (FLOP/s and link bandwidth).
 *
 * By default one pipeline column is simulated (tensor rank 0 of replica 0, every
 * stage): the other tensor ranks and replicas run the very same program templates,
 * so their steps and collectives mirror the column's. `checkGroups` verifies that
 * symmetry (every member of a group along a mesh axis but pipeline runs the same program); pass
 * `ranks` to simulate others too.
 */
import { MESH_AXIS_NAMES, meshOf, rankOf } from '../mesh.js';
import { deadlockGrid, type Stuck } from '../schedules/deadlock.js';
import { isCollective, type Collective, type Graph, type GraphDevice, type Step } from './types.js';

export interface Rates {
  /** Sustained FLOP/s of one device. */
  flops: number;
  /** Bytes/s between devices of one node, and across nodes. */
  intraNode: number;
  interNode: number;
}

export interface SimEvent {
  start: number;
  end: number;
  kind: 'compute' | 'comm' | 'wait';
  label: string;
  /** The schedule action the event belongs to (`0F3`), if any. */
  action?: string;
}

export interface RankTrace {
  rank: number;
  events: SimEvent[];
  /** Live bytes after each step (static memory + live activations). */
  memory: number[];
  peakBytes: number;
  /** The memory plan's total for this device, for comparison. */
  planBytes: number;
  /** Actions in order (training), for the deadlock grid. */
  actions: string[];
}

export type { Stuck } from '../schedules/deadlock.js';

export interface SimResult {
  ok: boolean;
  ranks: RankTrace[];
  makespan: number;
  deadlock?: { stuck: Stuck[]; grid: string };
  problems: string[];
}

type Instr =
  | { k: 'compute'; label: string; dur: number; reads: string[]; writes: string[]; alloc: [string, number][]; free: string[]; transient?: number }
  | { k: 'send'; to: number; tag: string; dur: number; bytes: number }
  | { k: 'recv'; from: number; tag: string }
  | { k: 'coll'; group: string; members: number[]; sig: () => string; dur: number; solo: boolean }
  | { k: 'action'; label: string };

const defaultRates: Rates = { flops: 400e12, intraNode: 300e9, interNode: 40e9 };

export function simulate(graph: Graph, opts: { rates?: Partial<Rates>; ranks?: number[]; phases?: string[] } = {}): SimResult {
  const rates = { ...defaultRates, ...opts.rates };
  const byRank = new Map(graph.devices.map((d) => [d.rank, d]));
  const ranks = opts.ranks ?? column(graph);
  const simulated = new Set(ranks);
  const bytesOf = tensorBytes(graph);
  const phases = opts.phases ?? (graph.plan.mode === 'train' ? ['step'] : ['prefill', 'decode']);

  const programs = new Map<number, Instr[]>();
  const tracked = trackedNames(graph);
  for (const r of ranks) programs.set(r, expand(graph, byRank.get(r)!, phases, byRank, simulated, rates, bytesOf, tracked));

  // Static memory: the plan's total without the activations the steps track themselves.
  const traces = new Map<number, RankTrace>();
  const pc = new Map<number, number>();
  const clock = new Map<number, number>();
  const live = new Map<number, Map<string, number>>();
  const produced = new Map<number, Set<string>>();
  const producible = new Map<number, Set<string>>();
  const lastAction = new Map<number, number>();
  for (const r of ranks) {
    const dev = byRank.get(r)!;
    const list = programs.get(r)!;
    traces.set(r, { rank: r, events: [], memory: [], peakBytes: 0, planBytes: dev.memory.total, actions: list.flatMap((i) => (i.k === 'action' ? [i.label] : [])) });
    pc.set(r, 0);
    clock.set(r, 0);
    live.set(r, new Map());
    produced.set(r, new Set(graph.plan.mode === 'serve' ? ['tokens'] : []));
    const names = new Set<string>();
    for (const i of list) if (i.k === 'compute') for (const w of [...i.writes, ...i.alloc.map((a) => a[0])]) names.add(w);
    for (const i of list) if (i.k === 'recv') names.add(baseName(i.tag));
    producible.set(r, names);
    lastAction.set(r, -1);
  }
  const staticBytes = (r: number) => {
    const m = byRank.get(r)!.memory;
    return m.total - m.activations;
  };

  const mailbox = new Map<string, number>(); // "from>to:tag" → ready time
  const collectives = new Map<string, { arrived: Map<number, { at: number; sig: string }>; end?: number }>();
  const collSeq = new Map<string, number>(); // "rank:group" → how many entered
  const problems: string[] = [];
  // Consecutive work of one schedule action is one event (the Gantt chart's bar).
  const record = (r: number, start: number, end: number, kind: SimEvent['kind'], label: string | (() => string), action: string | undefined) => {
    const events = traces.get(r)!.events;
    const last = events[events.length - 1];
    if (last && action !== undefined && last.action === action && last.kind !== 'wait' && kind !== 'wait' && last.end === start) {
      last.end = end;
      if (kind === 'compute') last.kind = 'compute';
      last.label = action;
      return;
    }
    const e: SimEvent = { start, end, kind, label: typeof label === 'string' ? label : label() };
    if (action !== undefined) e.action = action;
    events.push(e);
  };
  const currentAction = (r: number) => {
    const t = traces.get(r)!;
    const i = lastAction.get(r)!;
    return i >= 0 ? t.actions[i] : undefined;
  };

  let progress = true;
  while (progress) {
    progress = false;
    for (const r of ranks) {
      const list = programs.get(r)!;
      for (;;) {
        const i = pc.get(r)!;
        if (i >= list.length) break;
        const ins = list[i]!;
        const now = clock.get(r)!;
        const act = currentAction(r);
        if (ins.k === 'action') {
          lastAction.set(r, lastAction.get(r)! + 1);
        } else if (ins.k === 'compute') {
          const mem = live.get(r)!;
          const have = produced.get(r)!;
          for (const [name, bytes] of ins.alloc) {
            mem.set(name, bytes);
            have.add(name);
          }
          for (const read of ins.reads) {
            if (producible.get(r)!.has(read) && !have.has(read)) problems.push(`rank ${r}: ${ins.label} reads '${read}' before any step produces it`);
          }
          for (const w of ins.writes) have.add(w);
          record(r, now, now + ins.dur, 'compute', ins.label, act);
          clock.set(r, now + ins.dur);
          if (ins.alloc.length > 0 || ins.free.length > 0 || ins.transient || traces.get(r)!.memory.length === 0) {
            const t = traces.get(r)!;
            const bytes = staticBytes(r) + sum(mem) + (ins.transient ?? 0);
            t.memory.push(bytes);
            if (bytes > t.peakBytes) t.peakBytes = bytes;
            for (const f of ins.free) mem.delete(f);
            if (ins.free.length > 0) t.memory.push(staticBytes(r) + sum(mem));
          }
          // A freed activation can no longer be read (a later read is a use after free).
          for (const f of ins.free) have.delete(f);
        } else if (ins.k === 'send') {
          const key = `${r}>${ins.to}:${ins.tag}`;
          if (mailbox.has(key)) problems.push(`rank ${r} sends '${ins.tag}' to rank ${ins.to} twice before it is received`);
          mailbox.set(key, now + ins.dur);
          record(r, now, now + ins.dur, 'comm', () => `send ${ins.tag} → ${ins.to}`, act);
        } else if (ins.k === 'recv') {
          const key = `${ins.from}>${r}:${ins.tag}`;
          const ready = mailbox.get(key);
          if (ready === undefined) break; // blocked
          mailbox.delete(key);
          produced.get(r)!.add(baseName(ins.tag));
          if (ready > now) record(r, now, ready, 'wait', () => `recv ${ins.tag} ← ${ins.from}`, act);
          clock.set(r, Math.max(now, ready));
        } else if (ins.solo) {
          record(r, now, now + ins.dur, 'comm', ins.sig, act);
          clock.set(r, now + ins.dur);
        } else {
          const seqKey = `${r}:${ins.group}`;
          const n = collSeq.get(seqKey) ?? 0;
          const id = `${ins.group}#${n}`;
          let c = collectives.get(id);
          if (!c) collectives.set(id, (c = { arrived: new Map() }));
          if (!c.arrived.has(r)) c.arrived.set(r, { at: now, sig: ins.sig() });
          const members = ins.members.filter((m) => simulated.has(m));
          if (c.end === undefined) {
            if (!members.every((m) => c!.arrived.has(m))) break; // blocked until all members arrive
            const sigs = new Set([...c.arrived.values()].map((a) => a.sig));
            if (sigs.size > 1) problems.push(`collective ${n} of group [${ins.members.join(', ')}] entered with different operations: ${[...sigs].join(' vs ')}`);
            c.end = Math.max(...[...c.arrived.values()].map((a) => a.at)) + ins.dur;
          }
          collSeq.set(seqKey, n + 1);
          record(r, now, c.end, 'comm', ins.sig, act);
          clock.set(r, c.end);
        }
        pc.set(r, i + 1);
        progress = true;
      }
    }
  }

  const stuck: Stuck[] = [];
  for (const r of ranks) {
    const list = programs.get(r)!;
    const i = pc.get(r)!;
    if (i >= list.length) continue;
    const ins = list[i]!;
    const waitingFor =
      ins.k === 'recv' ? `'${ins.tag.replace('@', "' of microbatch ")} from rank ${ins.from}` : ins.k === 'coll' ? `${ins.sig()} with ranks ${ins.members.filter((m) => m !== r).join(', ')}` : 'nothing';
    const ai = lastAction.get(r)!;
    const a = currentAction(r);
    stuck.push({ rank: r, actionIndex: ai, ...(a ? { action: a } : {}), waitingFor });
  }
  // After a deadlock, undelivered messages are its consequence, not a separate problem.
  for (const key of stuck.length > 0 ? [] : mailbox.keys()) {
    // The sampled tokens the last stage sends to the first are consumed by the next decode step.
    if (graph.plan.mode === 'serve' && key.endsWith(':tokens')) continue;
    problems.push(`message ${key.replace('>', ' → ')} is sent but never received`);
  }
  const traceList = ranks.map((r) => traces.get(r)!);
  const makespan = Math.max(0, ...ranks.map((r) => clock.get(r)!));
  const result: SimResult = { ok: stuck.length === 0 && problems.length === 0, ranks: traceList, makespan, problems };
  if (stuck.length > 0) result.deadlock = { stuck, grid: deadlockGrid(traceList, stuck) };
  return result;
}

/**
 * The symmetry the column simulation relies on: all members of each group along a mesh
 * axis but pipeline (tensor, data) run the same program (so they enter the same collectives in the same order).
 */
export function checkGroups(graph: Graph): string[] {
  const program = new Map(graph.devices.map((d) => [d.rank, d.program]));
  const problems: string[] = [];
  // Every mesh axis but pipeline (whose members are the stages, each its own program).
  for (const axis of MESH_AXIS_NAMES.filter((a) => a !== 'pipeline')) {
    for (const members of graph.groups[axis]) {
      const programs = new Set(members.map((r) => program.get(r)));
      if (programs.size > 1) problems.push(`${axis} group [${members.join(', ')}] runs different programs (${[...programs].join(', ')}): their collectives may not match`);
    }
  }
  return problems;
}

/** Every stage's device at coordinate 0 on every other axis (tensor rank 0 of replica 0). */
function column(graph: Graph): number[] {
  return graph.devices.filter((d) => MESH_AXIS_NAMES.every((a) => a === 'pipeline' || d.coords[a] === 0)).map((d) => d.rank);
}

function sum(m: Map<string, number>): number {
  let s = 0;
  for (const v of m.values()) s += v;
  return s;
}

/** Bytes of one instance of each tensor name template. */
function tensorBytes(graph: Graph): Map<string, number> {
  return new Map(graph.tensors.map((t) => [t.name, t.bytes]));
}

function peerRank(graph: Graph, dev: GraphDevice, peer: 'next' | 'prev', byRank: Map<number, GraphDevice>): number {
  const mesh = meshOf(graph.mesh.axes);
  const p = mesh.pipeline;
  const rank = rankOf(mesh, { ...dev.coords, pipeline: (dev.coords.pipeline + (peer === 'next' ? 1 : p - 1)) % p });
  if (!byRank.has(rank)) throw new Error(`no rank ${rank}`);
  return rank;
}

/** Names that some step reads and some step (or a receive) produces: only these are checked and substituted. */
function trackedNames(graph: Graph): Set<string> {
  const read = new Set<string>();
  const made = new Set<string>();
  const visit = (steps: Step[]) => {
    for (const s of steps) {
      if (s.op === 'compute') {
        for (const r of s.reads) read.add(r);
        for (const w of [...s.writes, ...(s.alloc ?? [])]) made.add(w);
      } else if (s.op === 'recv') made.add(baseName(s.tensor));
    }
  };
  for (const b of Object.values(graph.blocks)) visit(b);
  for (const p of Object.values(graph.programs)) for (const steps of Object.values(p.phases)) visit(steps);
  return new Set([...read].filter((r) => made.has(r) && !r.includes('*')));
}

/** `hidden.s3` (the input of virtual stage 3) is the tensor `hidden`. */
function baseName(tag: string): string {
  return tag.split('@')[0]!.replace(/\.s\d+$/, '');
}

type Segment =
  | { k: 'compute'; label: string; dur: number; reads: string[]; writes: string[]; alloc: string[]; free: string[] }
  | { k: 'coll'; step: Collective };

/** A block's steps as runs of compute (merged) between collectives, with only tracked names kept. */
function segments(steps: Step[], tracked: Set<string>, rates: Rates, label: string): Segment[] {
  const out: Segment[] = [];
  let cur: Extract<Segment, { k: 'compute' }> | undefined;
  for (const s of steps) {
    if (s.op === 'compute') {
      if (!cur || (s.alloc && s.alloc.length > 0)) {
        // A new run starts at each allocation, so the memory timeline sees it before the run's work.
        cur = { k: 'compute', label, dur: 0, reads: [], writes: [], alloc: [], free: [] };
        out.push(cur);
      }
      const written = new Set(cur.writes);
      for (const r of s.reads) if (tracked.has(r) && !written.has(r) && !cur.alloc.includes(r)) cur.reads.push(r);
      for (const w of s.writes) if (tracked.has(w)) cur.writes.push(w);
      cur.alloc.push(...(s.alloc ?? []));
      cur.free.push(...(s.free ?? []));
      cur.dur += s.flops / rates.flops;
      if (s.free && s.free.length > 0) cur = undefined;
    } else if (isCollective(s)) {
      out.push({ k: 'coll', step: s });
      cur = undefined;
    } else {
      throw new Error(`step '${s.op}' cannot appear inside a block`);
    }
  }
  return out;
}

function expand(graph: Graph, dev: GraphDevice, phases: string[], byRank: Map<number, GraphDevice>, simulated: Set<number>, rates: Rates, bytesOf: Map<string, number>, tracked: Set<string>): Instr[] {
  const program = graph.programs[dev.program];
  if (!program) throw new Error(`device ${dev.rank} has no program '${dev.program}'`);
  const out: Instr[] = [];
  const bw = (ranks: number[]) => (new Set(ranks.map((r) => byRank.get(r)!.node)).size > 1 ? rates.interNode : rates.intraNode);
  const blockSegments = new Map<string, Segment[]>();
  const sub = (name: string, l: number | undefined, m: number | undefined) => {
    if (!name.includes('{')) return name;
    let n = name;
    if (l !== undefined) n = n.replaceAll('{l}', `${l}`);
    if (m !== undefined) n = n.replaceAll('{m}', `${m}`);
    return n;
  };
  const collective = (s: Collective, l?: number, m?: number) => {
    const idx = dev.groups[s.axis];
    const members = idx === undefined ? [dev.rank] : graph.groups[s.axis][idx]!;
    const n = members.length;
    // Ring all-reduce: 2(n − 1)/n; the others (all-to-all too) send (n − 1)/n.
    const factor = s.op === 'all-reduce' ? (2 * (n - 1)) / n : (n - 1) / n;
    // With one simulated member (the others run the same program) it completes at once.
    const solo = members.every((x) => x === dev.rank || !simulated.has(x));
    out.push({ k: 'coll', group: `${s.axis}:${idx ?? dev.rank}`, members, sig: () => `${s.op} ${sub(s.tensor, l, m)} (${s.axis})`, dur: (s.bytes * factor) / bw(members), solo });
  };
  const fixed = new Map<Segment, Instr>();
  const computeInstr = (seg: Extract<Segment, { k: 'compute' }>, l?: number, m?: number): Instr => {
    const templated = [...seg.reads, ...seg.writes, ...seg.alloc, ...seg.free].some((n) => n.includes('{'));
    if (!templated) {
      // Shared by every instance: no per-layer names to fill in.
      let ins = fixed.get(seg);
      if (!ins) fixed.set(seg, (ins = { k: 'compute', label: seg.label, dur: seg.dur, reads: seg.reads, writes: seg.writes, alloc: seg.alloc.map((a) => [a, bytesOf.get(a) ?? 0]), free: seg.free }));
      return ins;
    }
    return {
      k: 'compute',
      label: seg.label,
      dur: seg.dur,
      reads: seg.reads.map((r) => sub(r, l, m)),
      writes: seg.writes.map((w) => sub(w, l, m)),
      alloc: seg.alloc.map((a) => [sub(a, l, m), bytesOf.get(a) ?? 0]),
      free: seg.free.map((f) => sub(f, l, m)),
    };
  };
  const soloFor = (st: Collective) => {
    const idx = dev.groups[st.axis];
    const members = idx === undefined ? [dev.rank] : graph.groups[st.axis][idx]!;
    return members.every((x) => x === dev.rank || !simulated.has(x));
  };
  const collDur = (st: Collective) => {
    const idx = dev.groups[st.axis];
    const members = idx === undefined ? [dev.rank] : graph.groups[st.axis][idx]!;
    const n = members.length;
    return (st.bytes * (st.op === 'all-reduce' ? (2 * (n - 1)) / n : (n - 1) / n)) / bw(members);
  };
  /**
   * A block instance over a layer range as one instruction, when none of its collectives
   * waits for another simulated rank: reads and writes that cross the block boundary,
   * activations it keeps (alloc) or releases (free), and the largest transient one.
   */
  const wholeBlock = (segs: Segment[], a: number, b: number, reverse: boolean, m: number | undefined, label: string): Instr => {
    let dur = 0;
    const reads: string[] = [];
    const writes = new Set<string>();
    const alloc = new Map<string, number>();
    const free: string[] = [];
    let transient = 0;
    for (let i = 0; i <= Math.abs(b - a); i++) {
      const l = reverse ? b - i : a + i;
      const live = new Map<string, number>();
      for (const g of segs) {
        if (g.k === 'coll') {
          dur += collDur(g.step);
          continue;
        }
        dur += g.dur;
        for (const r of g.reads) {
          const n = sub(r, l, m);
          if (!writes.has(n) && !alloc.has(n) && !live.has(n)) reads.push(n);
        }
        for (const w of g.writes) writes.add(sub(w, l, m));
        for (const x of g.alloc) live.set(sub(x, l, m), bytesOf.get(x) ?? 0);
        let now = 0;
        for (const v of live.values()) now += v;
        for (const f of g.free) {
          const n = sub(f, l, m);
          if (live.has(n)) live.delete(n);
          else free.push(n);
        }
        if (now > transient && g.free.length > 0) transient = now;
      }
      for (const [n, v] of live) alloc.set(n, v);
    }
    return { k: 'compute', label, dur, reads: [...new Set(reads)], writes: [...writes], alloc: [...alloc], free, transient };
  };
  const emit = (s: Step) => {
    switch (s.op) {
      case 'action':
        out.push({ k: 'action', label: s.action });
        break;
      case 'compute': {
        const [seg] = segments([s], tracked, rates, `${s.kind}${s.pass === 'forward' ? '' : ` (${s.pass})`}`) as [Extract<Segment, { k: 'compute' }>];
        out.push(computeInstr(seg, undefined, s.microbatch));
        break;
      }
      case 'send':
      case 'recv': {
        const peer = peerRank(graph, dev, s.peer, byRank);
        const tag = s.microbatch === undefined ? s.tensor : `${s.tensor}@${s.microbatch}`;
        if (s.op === 'send') {
          if (simulated.has(peer)) out.push({ k: 'send', to: peer, tag, bytes: s.bytes, dur: s.bytes / bw([dev.rank, peer]) });
        } else if (simulated.has(peer)) out.push({ k: 'recv', from: peer, tag });
        break;
      }
      case 'block': {
        const steps = graph.blocks[s.block];
        if (!steps) throw new Error(`no block '${s.block}'`);
        let segs = blockSegments.get(s.block);
        if (!segs) blockSegments.set(s.block, (segs = segments(steps, tracked, rates, s.block)));
        const [a, b] = s.layers;
        const soloOnly = segs.every((g) => g.k === 'compute' || soloFor(g.step));
        if (soloOnly) {
          out.push(wholeBlock(segs, a, b, s.reverse ?? false, s.microbatch, s.block));
          break;
        }
        for (let i = 0; i <= Math.abs(b - a); i++) {
          const layer = s.reverse ? b - i : a + i;
          for (const seg of segs) {
            if (seg.k === 'coll') collective(seg.step, layer, s.microbatch);
            else out.push(computeInstr(seg, layer, s.microbatch));
          }
        }
        break;
      }
      default:
        collective(s, undefined, s.microbatch);
    }
  };
  for (const phase of phases) for (const s of program.phases[phase] ?? []) emit(s);
  return out;
}
