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
 * allocate and free. Times are the cost model's (src/cost, docs/cost.md), step by step: a
 * compute step takes max(flops / FLOP/s, bytes read / memory bandwidth) (a roofline, as
 * `stagePass` in src/cost/serve.ts times a stage), a collective or send its bytes on the wire
 * / link bandwidth + the link's latency α (`transferSeconds` in src/cost/rates.ts).
 *
 * By default one pipeline column is simulated (tensor rank 0 of replica 0, every
 * stage): the other tensor ranks and replicas run the very same program templates,
 * so their steps and collectives mirror the column's. `checkGroups` verifies that
 * symmetry (every member of a group along a mesh axis but pipeline, or of an expert group, runs the same program); pass
 * `ranks` to simulate others too.
 */
import { MESH_AXIS_NAMES, meshOf, rankOf } from '../mesh.js';
import { deadlockGrid, type Stuck } from '../schedules/deadlock.js';
import { EXPERT_AXES, HSDP_AXES, isCollective, type Collective, type Graph, type GraphDevice, type Step } from './types.js';

export interface Rates {
  /** Sustained FLOP/s of one device. */
  flops: number;
  /** Sustained bytes/s of one device's memory (a step's `bytes`). */
  memory: number;
  /** Bytes/s between devices of one node, and across nodes. */
  intraNode: number;
  interNode: number;
  /** Fixed seconds per collective or send (α), within a node and across nodes. */
  intraNodeLatency: number;
  interNodeLatency: number;
  /** fp8 training: FLOP/s of the layers' linear GEMMs (FP8_KINDS) on the fp8 tensor cores; absent: `flops`. */
  fp8?: number;
}

/** The compute kinds whose GEMMs fp8 training runs in fp8: the layers' linears (src/cost/flops.ts `fp8`). */
const FP8_KINDS: ReadonlySet<string> = new Set(['qkv', 'out-proj', 'mlp-up', 'mlp-down']);

/** A compute step's time: the slower of its arithmetic and its memory traffic. */
export function computeSeconds(s: { flops: number; bytes?: number; kind?: string }, rates: Rates): number {
  const flops = rates.fp8 !== undefined && s.kind !== undefined && FP8_KINDS.has(s.kind) ? rates.fp8 : rates.flops;
  return Math.max(s.flops / flops, (s.bytes ?? 0) / rates.memory);
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
  | {
      k: 'compute';
      label: string;
      dur: number;
      reads: string[];
      writes: string[];
      alloc: [string, number][];
      free: string[];
      transient?: number;
      /** Seconds of overlapped collectives (a block's) issued on the communication stream as it starts. */
      overlap?: number;
      /** Waits for the communication stream first (it reads what an overlapped collective makes). */
      join?: boolean;
    }
  /** `key`: the mailbox key "from>to:tag"; `base`: the tensor a receive produces. */
  | { k: 'send'; to: number; tag: string; key: string; dur: number; bytes: number }
  | { k: 'recv'; from: number; tag: string; key: string; base: string }
  | { k: 'coll'; group: string; members: number[]; sig: () => string; dur: number; solo: boolean; overlap: boolean }
  | { k: 'action'; label: string };

interface RankState {
  rank: number;
  program: Expander;
  /** The next step to expand; the instructions of the last one expanded, and the current one's index. */
  si: number;
  buf: Instr[];
  bi: number;
  clock: number;
  /** When the rank's communication stream is free: its overlapped collectives run there one after another. */
  commFree: number;
  /** Live activations (name → bytes) and their total. */
  live: Map<string, number>;
  liveBytes: number;
  liveExact: boolean;
  produced: Set<string>;
  producible: Set<string> | undefined;
  lastAction: number;
  action: string | undefined;
  staticBytes: number;
  trace: RankTrace;
}

const defaultRates: Rates = {
  flops: 400e12,
  memory: Infinity,
  intraNode: 300e9,
  interNode: 40e9,
  intraNodeLatency: 0,
  interNodeLatency: 0,
};

export interface SimulateOptions {
  rates?: Partial<Rates>;
  /** The ranks to simulate (default: one column of the mesh, every stage's device at coordinate 0 on the other axes). */
  ranks?: number[];
  phases?: string[];
  /**
   * One memory point after every compute step (and another after its frees), as the runtime's
   * training executor records them, instead of one per merged run of steps or layer block: the
   * timeline a measured run is compared with point for point. Slower on large graphs; the peak is the same.
   */
  perStep?: boolean;
}

export function simulate(graph: Graph, opts: SimulateOptions = {}): SimResult {
  const rates = { ...defaultRates, ...opts.rates };
  const perStep = opts.perStep === true;
  const byRank = new Map(graph.devices.map((d) => [d.rank, d]));
  const ranks = opts.ranks ?? column(graph);
  const simulated = new Set(ranks);
  const bytesOf = tensorBytes(graph);
  const phases = opts.phases ?? (graph.plan.mode === 'train' ? ['step'] : ['prefill', 'decode']);

  // One state per simulated rank, in `ranks` order (no per-instruction map lookups).
  const tracked = trackedNames(graph);
  const overlapped = overlappedTensors(graph);
  const states: RankState[] = ranks.map((r) => {
    const dev = byRank.get(r)!;
    const program = expand(graph, dev, phases, byRank, simulated, rates, bytesOf, tracked, overlapped, perStep);
    const actions: string[] = [];
    for (const step of program.steps) if (step.op === 'action') actions.push(step.action);
    return {
      rank: r,
      program,
      si: 0,
      buf: [],
      bi: 0,
      clock: 0,
      commFree: 0,
      live: new Map(),
      liveBytes: 0,
      liveExact: true,
      produced: new Set(graph.plan.mode === 'serve' ? ['tokens'] : []),
      producible: undefined,
      lastAction: -1,
      action: undefined,
      // Static memory: the plan's total without the activations (and the cast cache) the steps track themselves.
      staticBytes: dev.memory.total - dev.memory.activations - (dev.memory.allocated ?? 0),
      trace: { rank: r, events: [], memory: [], peakBytes: 0, planBytes: dev.memory.total, actions },
    };
  });
  const stateOf = new Map(states.map((s) => [s.rank, s]));
  // Weights, gradients and optimizer states exist before the step (a step that updates them, the optimizer's, writes them too).
  const persistentNames = new Set(
    graph.tensors.filter((t) => t.role === 'weight' || t.role === 'optimizer' || t.role === 'gradient').map((t) => t.name),
  );
  const persistent = (name: string) =>
    persistentNames.size > 0 && persistentNames.has(name.replace(/(^|\.)layers\.\d+\./, '$1layers.{l}.'));

  const mailbox = new Map<string, number>(); // "from>to:tag" → ready time
  const collectives = new Map<string, { arrived: Map<number, { at: number; sig: string }>; end?: number }>();
  const collSeq = new Map<string, number>(); // "rank:group" → how many entered
  const problems: string[] = [];
  // Consecutive work of one schedule action is one event (the Gantt chart's bar).
  const record = (
    events: SimEvent[],
    start: number,
    end: number,
    kind: SimEvent['kind'],
    label: string | (() => string),
    action: string | undefined,
  ) => {
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
  /** The rank's current instruction (expanding its next steps when the last one is done); undefined at the end. */
  const current = (st: RankState): Instr | undefined => {
    const ins = st.buf[st.bi];
    if (ins !== undefined) return ins;
    const steps = st.program.steps;
    while (st.si < steps.length) {
      // The last step's instructions are all done: reuse the list.
      st.buf.length = 0;
      st.bi = 0;
      st.program.emit(steps[st.si++]!, st.buf);
      if (st.buf.length > 0) return st.buf[0];
    }
    return undefined;
  };
  /** Names some step of the rank writes, allocates or receives: expanded only when a read finds its name missing. */
  const producibleOf = (st: RankState): Set<string> => {
    if (st.producible) return st.producible;
    const names = new Set<string>();
    const list: Instr[] = [];
    for (const step of st.program.steps) st.program.emit(step, list);
    for (const i of list) {
      if (i.k === 'compute') {
        for (const w of i.writes) names.add(w);
        for (const a of i.alloc) names.add(a[0]);
      } else if (i.k === 'recv') names.add(i.base);
    }
    return (st.producible = names);
  };
  /** Live activation bytes: a running total while every size is a whole number (exact), else summed as before. */
  const liveSum = (st: RankState) => (st.liveExact ? st.liveBytes : sum(st.live));
  const setLive = (st: RankState, name: string, bytes: number) => {
    const old = st.live.get(name);
    st.live.set(name, bytes);
    if (!Number.isInteger(bytes)) st.liveExact = false;
    st.liveBytes += bytes - (old ?? 0);
    if (!Number.isSafeInteger(st.liveBytes)) st.liveExact = false;
  };
  const deleteLive = (st: RankState, name: string) => {
    const old = st.live.get(name);
    if (old === undefined) return;
    st.live.delete(name);
    st.liveBytes -= old;
  };

  let progress = true;
  while (progress) {
    progress = false;
    for (const st of states) {
      const { rank: r, trace } = st;
      const events = trace.events;
      for (;;) {
        const ins = current(st);
        if (ins === undefined) break;
        const now = st.clock;
        const act = st.action;
        if (ins.k === 'action') {
          st.lastAction++;
          st.action = trace.actions[st.lastAction];
        } else if (ins.k === 'compute') {
          if (ins.join && st.commFree > st.clock) {
            record(events, st.clock, st.commFree, 'wait', 'overlapped collectives', act);
            st.clock = st.commFree;
          }
          const now = st.clock;
          // The block's overlapped collectives queue on the communication stream from its start.
          if (ins.overlap) st.commFree = Math.max(st.commFree, now) + ins.overlap;
          const have = st.produced;
          for (const [name, bytes] of ins.alloc) {
            setLive(st, name, bytes);
            have.add(name);
          }
          for (const read of ins.reads) {
            if (!have.has(read) && producibleOf(st).has(read) && !persistent(read))
              problems.push(`rank ${r}: ${ins.label} reads '${read}' before any step produces it`);
          }
          for (const w of ins.writes) have.add(w);
          record(events, now, now + ins.dur, 'compute', ins.label, act);
          st.clock = now + ins.dur;
          if (perStep || ins.alloc.length > 0 || ins.free.length > 0 || ins.transient || trace.memory.length === 0) {
            const bytes = st.staticBytes + liveSum(st) + (ins.transient ?? 0);
            trace.memory.push(bytes);
            if (bytes > trace.peakBytes) trace.peakBytes = bytes;
            for (const f of ins.free) deleteLive(st, f);
            if (ins.free.length > 0) trace.memory.push(st.staticBytes + liveSum(st));
          }
          // A freed activation can no longer be read (a later read is a use after free).
          for (const f of ins.free) have.delete(f);
        } else if (ins.k === 'send') {
          if (mailbox.has(ins.key)) problems.push(`rank ${r} sends '${ins.tag}' to rank ${ins.to} twice before it is received`);
          mailbox.set(ins.key, now + ins.dur);
          record(events, now, now + ins.dur, 'comm', () => `send ${ins.tag} → ${ins.to}`, act);
        } else if (ins.k === 'recv') {
          const ready = mailbox.get(ins.key);
          if (ready === undefined) break; // blocked
          mailbox.delete(ins.key);
          st.produced.add(ins.base);
          if (ready > now) record(events, now, ready, 'wait', () => `recv ${ins.tag} ← ${ins.from}`, act);
          st.clock = Math.max(now, ready);
        } else if (ins.solo && ins.overlap) {
          st.commFree = Math.max(st.commFree, now) + ins.dur;
        } else if (ins.solo) {
          record(events, now, now + ins.dur, 'comm', ins.sig, act);
          st.clock = now + ins.dur;
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
            if (sigs.size > 1)
              problems.push(
                `collective ${n} of group [${ins.members.join(', ')}] entered with different operations: ${[...sigs].join(' vs ')}`,
              );
            c.end = Math.max(...[...c.arrived.values()].map((a) => a.at)) + ins.dur;
          }
          collSeq.set(seqKey, n + 1);
          record(events, now, c.end, 'comm', ins.sig, act);
          st.clock = c.end;
        }
        st.bi++;
        progress = true;
      }
    }
  }

  const stuck: Stuck[] = [];
  for (const r of ranks) {
    const st = stateOf.get(r)!;
    const ins = current(st);
    if (ins === undefined) continue;
    const waitingFor =
      ins.k === 'recv'
        ? `'${ins.tag.replace('@', "' of microbatch ")} from rank ${ins.from}`
        : ins.k === 'coll'
          ? `${ins.sig()} with ranks ${ins.members.filter((m) => m !== r).join(', ')}`
          : 'nothing';
    const ai = st.lastAction;
    const a = st.action;
    stuck.push({ rank: r, actionIndex: ai, ...(a ? { action: a } : {}), waitingFor });
  }
  // After a deadlock, undelivered messages are its consequence, not a separate problem.
  for (const key of stuck.length > 0 ? [] : mailbox.keys()) {
    // The sampled tokens the last stage sends to the first are consumed by the next decode step.
    if (graph.plan.mode === 'serve' && key.endsWith(':tokens')) continue;
    problems.push(`message ${key.replace('>', ' → ')} is sent but never received`);
  }
  const traceList = ranks.map((r) => stateOf.get(r)!.trace);
  // A rank is done when its communication stream is too (the phase's end waits for its overlapped collectives).
  const makespan = Math.max(0, ...ranks.map((r) => Math.max(stateOf.get(r)!.clock, stateOf.get(r)!.commFree)));
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
  // The expert grid's groups and HSDP's sub-groups of data lie inside one stage too.
  for (const axis of [...MESH_AXIS_NAMES.filter((a) => a !== 'pipeline'), ...EXPERT_AXES, ...HSDP_AXES]) {
    for (const members of graph.groups[axis] ?? []) {
      const programs = new Set(members.map((r) => program.get(r)));
      if (programs.size > 1)
        problems.push(
          `${axis} group [${members.join(', ')}] runs different programs (${[...programs].join(', ')}): their collectives may not match`,
        );
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
  const received = new Set<string>();
  const visit = (steps: Step[]) => {
    for (const s of steps) {
      if (s.op === 'compute') {
        for (const r of s.reads) read.add(r);
        for (const w of s.writes) made.add(w);
        if (s.alloc) for (const w of s.alloc) made.add(w);
      } else if (s.op === 'recv') received.add(s.tensor);
    }
  };
  for (const b of Object.values(graph.blocks)) visit(b);
  for (const p of Object.values(graph.programs)) for (const steps of Object.values(p.phases)) visit(steps);
  for (const t of received) made.add(baseName(t));
  return new Set([...read].filter((r) => made.has(r) && !r.includes('*')));
}

/** The tensors of the graph's overlapped collectives (their names as written, `{l}` and `*` in them). */
function overlappedTensors(graph: Graph): string[] {
  const out = new Set<string>();
  const visit = (steps: Step[]) => {
    for (const s of steps) if (isCollective(s) && s.overlap) out.add(s.tensor);
  };
  for (const b of Object.values(graph.blocks)) visit(b);
  for (const p of Object.values(graph.programs)) for (const steps of Object.values(p.phases)) visit(steps);
  return [...out];
}

/** A tensor name as a pattern: `*` and a `{…}` placeholder match any run of characters. */
function namePattern(x: string): RegExp {
  return new RegExp(
    `^${x
      .replace(/\{[^}]*\}|\*/g, '\u0000')
      .replace(/[.+?^$()|[\]\\]/g, '\\$&')
      .replaceAll('\u0000', '.*')}$`,
  );
}

/**
 * Whether a step reading `reads` waits for the overlapped collectives: a read and an overlapped
 * tensor can name the same tensor (a pattern in either matches the other). Memoized per reads
 * list (the lowering shares one list among a step's microbatch copies) and per pattern: the
 * regular expressions were most of a large graph's simulation time.
 */
function overlapJoin(overlapped: readonly string[]): (reads: readonly string[]) => boolean {
  const patterns = new Map<string, RegExp>();
  const pattern = (x: string) => {
    let re = patterns.get(x);
    if (!re) patterns.set(x, (re = namePattern(x)));
    return re;
  };
  const byRead = new Map<string, boolean>();
  const byList = new Map<readonly string[], boolean>();
  const readJoins = (r: string) => {
    let j = byRead.get(r);
    if (j === undefined) byRead.set(r, (j = overlapped.some((t) => pattern(r).test(t) || pattern(t).test(r))));
    return j;
  };
  return (reads) => {
    if (overlapped.length === 0) return false;
    let j = byList.get(reads);
    if (j === undefined) byList.set(reads, (j = reads.some(readJoins)));
    return j;
  };
}

/** `hidden.s3` (the input of virtual stage 3) is the tensor `hidden`. */
function baseName(tag: string): string {
  return tag.split('@')[0]!.replace(/\.s\d+$/, '');
}

type WholeInstr = Extract<Instr, { k: 'compute' }> & { transient: number };

/**
 * Whether putting one microbatch number m in for `{m}` keeps these names apart, for every m:
 * each `{m}` ends its name after a character that is not a digit, and no name without it
 * is such a prefix followed by digits.
 */
function microbatchInjective(names: Set<string>): boolean {
  const prefixes = new Set<string>();
  for (const n of names) {
    const at = n.indexOf('{m}');
    if (at < 0) continue;
    if (at !== n.length - 3 || at === 0 || /\d/.test(n[at - 1]!)) return false;
    prefixes.add(n.slice(0, at));
  }
  if (prefixes.size === 0) return true;
  for (const n of names) {
    if (n.includes('{m}')) continue;
    const stripped = n.replace(/\d+$/, '');
    if (stripped !== n && prefixes.has(stripped)) return false;
  }
  return true;
}

type Segment =
  | { k: 'compute'; label: string; dur: number; reads: string[]; writes: string[]; alloc: string[]; free: string[] }
  | { k: 'coll'; step: Collective };

/** A block's steps as runs of compute (merged, unless `perStep`) between collectives, with only tracked names kept. */
function segments(steps: Step[], tracked: Set<string>, rates: Rates, label: string, perStep = false): Segment[] {
  const out: Segment[] = [];
  let cur: Extract<Segment, { k: 'compute' }> | undefined;
  for (const s of steps) {
    if (s.op === 'compute') {
      if (!cur || perStep || (s.alloc && s.alloc.length > 0)) {
        // A new run starts at each allocation, so the memory timeline sees it before the run's work.
        cur = { k: 'compute', label, dur: 0, reads: [], writes: [], alloc: [], free: [] };
        out.push(cur);
      }
      const written = new Set(cur.writes);
      for (const r of s.reads) if (tracked.has(r) && !written.has(r) && !cur.alloc.includes(r)) cur.reads.push(r);
      for (const w of s.writes) if (tracked.has(w)) cur.writes.push(w);
      cur.alloc.push(...(s.alloc ?? []));
      cur.free.push(...(s.free ?? []));
      cur.dur += computeSeconds(s, rates);
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

/**
 * Whether a block both releases activations it did not allocate and keeps some it allocates (a
 * zero-bubble I: each layer frees its activations and keeps what W needs): as one instruction it
 * would count every layer's kept allocation before any release, so it runs layer by layer. A
 * backward that allocates its recompute buffer and frees it with the layer's activations keeps
 * nothing: as one instruction its peak (at the block's first layer, every activation still live,
 * plus the buffer as the transient) is the layer-by-layer one.
 */
function swaps(segs: Segment[]): boolean {
  const allocated = new Set<string>();
  const kept = new Set<string>();
  let frees = false;
  for (const g of segs) {
    if (g.k !== 'compute') continue;
    for (const a of g.alloc) {
      allocated.add(a);
      kept.add(a);
    }
    for (const f of g.free) {
      if (!allocated.has(f)) frees = true;
      kept.delete(f);
    }
  }
  return kept.size > 0 && frees;
}

/**
 * A rank's program as steps, and `emit`, which appends one step's instructions to a list:
 * the simulation expands each step when it reaches it, so that the instructions die young
 * (a whole program's instructions, made up front, kept the garbage collector busy).
 */
function expand(
  graph: Graph,
  dev: GraphDevice,
  phases: string[],
  byRank: Map<number, GraphDevice>,
  simulated: Set<number>,
  rates: Rates,
  bytesOf: Map<string, number>,
  tracked: Set<string>,
  overlapped: string[],
  perStep: boolean,
): Expander {
  const program = graph.programs[dev.program];
  if (!program) throw new Error(`device ${dev.rank} has no program '${dev.program}'`);
  let out: Instr[] = [];
  const joins = overlapJoin(overlapped);
  const crosses = (ranks: number[]) => new Set(ranks.map((r) => byRank.get(r)!.node)).size > 1;
  const bw = (ranks: number[]) => (crosses(ranks) ? rates.interNode : rates.intraNode);
  /** α–β: bytes on the wire / bandwidth + the link's latency (a group of one sends nothing). */
  const wire = (ranks: number[], bytes: number) =>
    ranks.length < 2 ? 0 : bytes / bw(ranks) + (crosses(ranks) ? rates.interNodeLatency : rates.intraNodeLatency);
  const blockSegments = new Map<string, Segment[]>();
  const subst = (name: string, l: number | undefined, m: number | undefined) => {
    if (!name.includes('{')) return name;
    let n = name;
    if (l !== undefined) n = n.replaceAll('{l}', `${l}`);
    if (m !== undefined) n = n.replaceAll('{m}', `${m}`);
    return n;
  };
  const collective = (s: Collective, l?: number, m?: number) => {
    const idx = dev.groups[s.axis];
    const members = idx === undefined ? [dev.rank] : graph.groups[s.axis]![idx]!;
    const n = members.length;
    // Ring all-reduce: 2(n − 1)/n; the others (all-to-all too) send (n − 1)/n.
    const factor = s.op === 'all-reduce' ? (2 * (n - 1)) / n : (n - 1) / n;
    // With one simulated member (the others run the same program) it completes at once.
    const solo = members.every((x) => x === dev.rank || !simulated.has(x));
    out.push({
      k: 'coll',
      group: `${s.axis}:${idx ?? dev.rank}`,
      members,
      sig: () => `${s.op} ${sub(s.tensor, l, m)} (${s.axis})`,
      dur: wire(members, s.bytes * factor),
      solo,
      // Overlapped only where no other simulated rank waits in it (a group of simulated ranks meets in order).
      overlap: solo && s.overlap === true,
    });
  };
  const sub = subst;
  const peers: { next?: number; prev?: number } = {};
  const bases = new Map<string, string>();
  /** Per block: whether none of its collectives waits for another simulated rank. */
  const blockSolo = new Map<string, boolean>();
  /** Latency to each pipeline peer. */
  const peerBw = new Map<number, number>();
  const computeSegments = new Map<
    readonly string[],
    { step: Extract<Step, { op: 'compute' }>; seg: Extract<Segment, { k: 'compute' }> }[]
  >();
  const fixed = new Map<Segment, Instr>();
  const computeInstr = (seg: Extract<Segment, { k: 'compute' }>, l?: number, m?: number): Instr => {
    const templated = [...seg.reads, ...seg.writes, ...seg.alloc, ...seg.free].some((n) => n.includes('{'));
    if (!templated) {
      // Shared by every instance: no per-layer names to fill in.
      let ins = fixed.get(seg);
      if (!ins)
        fixed.set(
          seg,
          (ins = {
            k: 'compute',
            label: seg.label,
            dur: seg.dur,
            reads: seg.reads,
            writes: seg.writes,
            alloc: seg.alloc.map((a) => [a, bytesOf.get(a) ?? 0]),
            free: seg.free,
          }),
        );
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
    const members = idx === undefined ? [dev.rank] : graph.groups[st.axis]![idx]!;
    return members.every((x) => x === dev.rank || !simulated.has(x));
  };
  const collDur = (st: Collective) => {
    const idx = dev.groups[st.axis];
    const members = idx === undefined ? [dev.rank] : graph.groups[st.axis]![idx]!;
    const n = members.length;
    return wire(members, st.bytes * (st.op === 'all-reduce' ? (2 * (n - 1)) / n : (n - 1) / n));
  };
  /**
   * A block instance over a layer range as one instruction, when none of its collectives
   * waits for another simulated rank: reads and writes that cross the block boundary,
   * activations it keeps (alloc) or releases (free), and the largest transient one.
   */
  const wholeBlock = (
    segs: Segment[],
    a: number,
    b: number,
    reverse: boolean,
    m: number | undefined,
    label: string,
    names?: Set<string>,
  ): WholeInstr => {
    const sub = names ? (name: string, l: number, m: number | undefined) => (names.add((name = subst(name, l, m))), name) : subst;
    let dur = 0;
    let overlap = 0;
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
          if (g.step.overlap) overlap += collDur(g.step);
          else dur += collDur(g.step);
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
    return {
      k: 'compute',
      label,
      dur,
      reads: [...new Set(reads)],
      writes: [...writes],
      alloc: [...alloc],
      free,
      transient,
      ...(overlap > 0 ? { overlap } : {}),
    };
  };
  /**
   * wholeBlock for microbatch m from a template computed once per block and layer range
   * with `{m}` left in the names (the instances differ only in m). Used only where putting
   * m in cannot make two different names equal (then it is exactly wholeBlock's result);
   * otherwise wholeBlock itself.
   */
  const templates = new Map<string, WholeInstr | null>();
  const wholeBlockOf = (segs: Segment[], a: number, b: number, reverse: boolean, m: number | undefined, label: string): Instr => {
    if (m !== undefined && !(Number.isSafeInteger(m) && m >= 0)) return wholeBlock(segs, a, b, reverse, m, label);
    const key = `${label}|${a}|${b}|${reverse}`;
    let t = templates.get(key);
    if (t === undefined) {
      const names = new Set<string>();
      t = wholeBlock(segs, a, b, reverse, undefined, label, names);
      if (!microbatchInjective(names)) t = null;
      templates.set(key, t);
    }
    if (t === null) return wholeBlock(segs, a, b, reverse, m, label);
    if (m === undefined) return t;
    const ms = `${m}`;
    const fill = (n: string) => (n.endsWith('{m}') ? n.slice(0, -3) + ms : n);
    // Lists without a microbatch name are the template's own (instructions are read-only).
    const fillAll = (names: string[]) => (names.some((n) => n.endsWith('{m}')) ? names.map(fill) : names);
    return {
      k: 'compute',
      label,
      dur: t.dur,
      reads: fillAll(t.reads),
      writes: fillAll(t.writes),
      alloc: t.alloc.some(([n]) => n.endsWith('{m}')) ? t.alloc.map(([n, v]) => [fill(n), v]) : t.alloc,
      free: fillAll(t.free),
      transient: t.transient,
      ...(t.overlap ? { overlap: t.overlap } : {}),
    };
  };
  const emit = (s: Step) => {
    switch (s.op) {
      case 'action':
        out.push({ k: 'action', label: s.action });
        break;
      case 'compute': {
        // The lowering copies one step per microbatch (same lists, another microbatch): one segment for all of them.
        const like = computeSegments.get(s.reads);
        let seg = like?.find(
          (c) =>
            c.step.kind === s.kind &&
            c.step.pass === s.pass &&
            c.step.flops === s.flops &&
            c.step.writes === s.writes &&
            c.step.alloc === s.alloc &&
            c.step.free === s.free,
        )?.seg;
        if (!seg) {
          [seg] = segments([s], tracked, rates, `${s.kind}${s.pass === 'forward' ? '' : ` (${s.pass})`}`) as [
            Extract<Segment, { k: 'compute' }>,
          ];
          if (like) like.push({ step: s, seg });
          else computeSegments.set(s.reads, [{ step: s, seg }]);
        }
        const ins = computeInstr(seg, undefined, s.microbatch) as Extract<Instr, { k: 'compute' }>;
        out.push(joins(s.reads) ? { ...ins, join: true } : ins);
        break;
      }
      case 'send':
      case 'recv': {
        let peer = peers[s.peer];
        if (peer === undefined) peer = peers[s.peer] = peerRank(graph, dev, s.peer, byRank);
        const tag = s.microbatch === undefined ? s.tensor : `${s.tensor}@${s.microbatch}`;
        if (s.op === 'send') {
          let rate = peerBw.get(peer);
          if (rate === undefined) peerBw.set(peer, (rate = wire([dev.rank, peer], 0)));
          if (simulated.has(peer))
            out.push({
              k: 'send',
              to: peer,
              tag,
              key: `${dev.rank}>${peer}:${tag}`,
              bytes: s.bytes,
              dur: s.bytes / bw([dev.rank, peer]) + rate,
            });
        } else if (simulated.has(peer)) {
          let base = bases.get(s.tensor);
          if (base === undefined) bases.set(s.tensor, (base = baseName(s.tensor)));
          out.push({ k: 'recv', from: peer, tag, key: `${peer}>${dev.rank}:${tag}`, base });
        }
        break;
      }
      case 'block': {
        const steps = graph.blocks[s.block];
        if (!steps) throw new Error(`no block '${s.block}'`);
        let segs = blockSegments.get(s.block);
        if (!segs) blockSegments.set(s.block, (segs = segments(steps, tracked, rates, s.block, perStep)));
        const [a, b] = s.layers;
        let soloOnly = blockSolo.get(s.block);
        if (soloOnly === undefined)
          blockSolo.set(s.block, (soloOnly = !perStep && segs.every((g) => g.k === 'compute' || soloFor(g.step)) && !swaps(segs)));
        if (soloOnly) {
          out.push(wholeBlockOf(segs, a, b, s.reverse ?? false, s.microbatch, s.block));
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
  const steps: Step[] = [];
  for (const phase of phases) for (const s of program.phases[phase] ?? []) steps.push(s);
  return {
    steps,
    emit: (s, into) => {
      out = into;
      emit(s);
    },
  };
}

interface Expander {
  steps: Step[];
  emit: (s: Step, out: Instr[]) => void;
}
