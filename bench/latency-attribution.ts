/**
 * Where the gap between the latency simulation and the real server goes, for one load level of
 * `bench/latency-validate.ts --timeline`: the client's per-request log (bench/latency-procs.ts
 * load), the server's timeline (runtime/serving/timeline.ts) and the simulation's per-request
 * events for the same arrivals (src/latency/simulate.ts) are joined request by request, and the
 * engine calls the server made are compared with the profile's times for the same batch × context.
 *
 * Lines printed (ms unless said; medians [p99] over requests, or means over calls):
 *   per request:  client → front (send lag, the front's arrival, parse, submit), queue (submit →
 *                 admission) server vs simulation, admission → first token, first token → its event
 *                 written → the client's read; TTFT and E2E server vs simulation
 *   engine calls: per kind × batch, the server's mean call time against the profile's at the same
 *                 contexts (same calls, so the ratio is the engine's own slowdown)
 *   host:         the loop's time outside engine calls per call (the part the simulation lacks)
 *   policy:       prefill calls, decode steps, mean batch: server vs simulation
 *   replay:       the simulation run on the server's own inputs (its submit times, each engine call's
 *                 measured time in order, each loop turn's measured host time): if the policy is the
 *                 server's, it reproduces the server's admissions and token times request by request
 */
import type { ClientRequest, LoadResult } from '../src/latency/load-client.js';
import { loadPrompt } from '../src/latency/load-client.js';
import { simulate, type SimulationResult, type StepTimes } from '../src/latency/simulate.js';
import type { SchedulerPolicy } from '../src/serving/scheduler.js';
import { quantile } from '../src/latency/summary.js';
import type { ServingTimeline } from '../runtime/serving/timeline.js';
import { promptKey } from '../runtime/serving/timeline.js';

export interface Attribution {
  lines: string[];
  /** Mean host time per engine call outside calls, within the loop's runs (ms). */
  hostPerCall: number;
  /** Σ server call time / Σ profile time for the same calls. */
  engineRatio: number;
}

const med = (xs: number[]) =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
const p99 = (xs: number[]) =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.99,
  );
const mean = (xs: number[]) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const dist = (xs: number[]) => `${f(med(xs))} [${f(p99(xs))}]`;

export function attribute(
  load: LoadResult,
  timeline: ServingTimeline,
  sim: SimulationResult,
  times: StepTimes,
  prompt: number,
  policy: SchedulerPolicy,
): Attribution {
  const t0 = load.startedAt!; // epoch ms of the client's time 0
  const epoch = (t: number) => timeline.origin + t - t0; // server time → ms since the client's time 0
  const end = Math.max(...load.log.filter((r) => Number.isFinite(r.done)).map((r) => r.done * 1000)) + 50;
  const inRun = (t: number) => epoch(t) >= -50 && epoch(t) <= end;
  // Join client i with the server's and the front's records of the same prompt, in arrival order.
  const queue = <T extends { key: string }>(xs: T[]) => {
    const m = new Map<string, T[]>();
    for (const x of xs) (m.get(x.key) ?? m.set(x.key, []).get(x.key)!).push(x);
    return (key: string) => m.get(key)?.shift();
  };
  const serverOf = queue(timeline.requests.filter((r) => inRun(r.submitted)).sort((a, b) => a.submitted - b.submitted));
  const httpOf = queue(timeline.http.filter((r) => inRun(r.arrived)).sort((a, b) => a.arrived - b.arrived));
  const joinedServer: { at: number; s: ServingTimeline['requests'][number]; output: number }[] = [];
  const c = {
    lag: [] as number[],
    toFront: [] as number[],
    parse: [] as number[],
    submit: [] as number[],
    queue: [] as number[],
    simQueue: [] as number[],
    prefill: [] as number[],
    simPrefill: [] as number[],
    write: [] as number[],
    toClient: [] as number[],
    ttftServer: [] as number[],
    ttftSim: [] as number[],
    ttftClient: [] as number[],
    decode: [] as number[],
    simDecode: [] as number[],
    e2eClient: [] as number[],
    e2eSim: [] as number[],
    arrivalMismatch: 0,
    joined: 0,
  };
  load.log.forEach((r: ClientRequest, i) => {
    if (r.outcome !== 'ok') return;
    const key = promptKey(loadPrompt(i, r.prompt));
    const s = serverOf(key);
    const h = httpOf(key);
    const q = sim.requests[i];
    if (!s || !h || !q) return;
    c.joined++;
    joinedServer.push({ at: epoch(s.submitted), s, output: r.tokens });
    if (Math.abs(q.at - r.at) > 1e-6) c.arrivalMismatch++;
    const at = r.at * 1000;
    c.lag.push((r.sent - r.at) * 1000);
    c.toFront.push(epoch(h.arrived) - r.sent * 1000);
    c.parse.push(h.parsed - h.arrived);
    c.submit.push(s.submitted - h.parsed);
    c.queue.push(s.admitted - s.submitted);
    c.simQueue.push((q.admitted - q.at) * 1000);
    c.prefill.push(s.firstToken - s.admitted);
    c.simPrefill.push((q.firstToken - q.admitted) * 1000);
    c.write.push(h.firstWrite - s.firstToken);
    c.toClient.push(r.firstToken * 1000 - epoch(h.firstWrite));
    c.ttftServer.push(epoch(s.firstToken) - at);
    c.ttftSim.push((q.firstToken - q.at) * 1000);
    c.ttftClient.push(r.firstToken * 1000 - at);
    c.decode.push(s.done - s.firstToken);
    c.simDecode.push((q.done - q.firstToken) * 1000);
    c.e2eClient.push(r.done * 1000 - at);
    c.e2eSim.push((q.done - q.at) * 1000);
  });
  const lines = [
    `  requests joined ${c.joined} of ${load.log.length}${c.arrivalMismatch > 0 ? ` (${c.arrivalMismatch} with other arrival times than the simulation's!)` : ''}; medians [p99], ms`,
    `  client → server: send lag ${dist(c.lag)}, to the front ${dist(c.toFront)}, parse ${dist(c.parse)}, to submit ${dist(c.submit)}`,
    `  queue (submit → slot): server ${dist(c.queue)}, simulation ${dist(c.simQueue)}`,
    `  slot → first token: server ${dist(c.prefill)}, simulation ${dist(c.simPrefill)}`,
    `  first token → written ${dist(c.write)} → read by the client ${dist(c.toClient)}`,
    `  TTFT: client ${dist(c.ttftClient)}, server ${dist(c.ttftServer)}, simulation ${dist(c.ttftSim)}`,
    `  first → last token: server ${dist(c.decode)}, simulation ${dist(c.simDecode)}; E2E client ${dist(c.e2eClient)}, simulation ${dist(c.e2eSim)}`,
  ];

  // Engine calls in the run: the server's time against the profile's for the same batch × context.
  const calls = timeline.calls.filter((k) => inRun(k.start));
  const loops = timeline.loops.filter((l) => inRun(l.start));
  // A loop run's first call starts from idle (lavapipe's threads asleep): timed apart.
  const firsts = new Set(loops.map((l) => calls.find((k) => k.start >= l.start)).filter((k) => k !== undefined));
  const arrivedAt = timeline.http.map((h) => h.arrived);
  const groups = new Map<string, { n: number; real: number; profile: number; each: number[] }>();
  let real = 0;
  let profiled = 0;
  for (const k of calls) {
    const p = (k.kind === 'prefill' ? times.prefill(k.tokens / k.batch) * k.batch : times.decode(k.batch, k.tokens / k.batch)) * 1000;
    const d = k.end - k.start;
    // A request arriving during the call: the client's send and the front's parsing compete with lavapipe's threads.
    const arrivals = arrivedAt.some((t) => t >= k.start && t <= k.end);
    const name = `${k.kind} ×${k.batch}${firsts.has(k) ? ' from idle' : ''}${arrivals ? ' +arrival' : ''}`;
    const g = groups.get(name) ?? { n: 0, real: 0, profile: 0, each: [] };
    g.each.push(d);
    g.n++;
    g.real += d;
    g.profile += p;
    groups.set(name, g);
    real += d;
    profiled += p;
  }
  lines.push(
    `  engine calls: ${[...groups]
      .sort()
      .map(
        ([name, g]) =>
          `${name}: ${g.n} × mean ${f(g.real / g.n)} median ${dist(g.each)} (profile ${f(g.profile / g.n)}, ${g.real / g.profile >= 1 ? '+' : ''}${((g.real / g.profile - 1) * 100).toFixed(0)}%)`,
      )
      .join('; ')}`,
    `  engine time: server ${(real / 1000).toFixed(2)} s, the profile for the same calls ${(profiled / 1000).toFixed(2)} s (${((real / profiled - 1) * 100).toFixed(0)}%), simulation ${sim.busy.toFixed(2)} s`,
  );

  // Host time: the loop's runs minus the engine calls inside them.
  let inLoops = 0;
  for (const l of loops) inLoops += l.end - l.start;
  const callsInLoops = calls.filter((k) => loops.some((l) => k.start >= l.start && k.end <= l.end));
  const callTime = callsInLoops.reduce((a, k) => a + k.end - k.start, 0);
  const hostPerCall = (inLoops - callTime) / Math.max(1, callsInLoops.length);
  const gaps: number[] = [];
  const after = { prefill: [] as number[], decode: [] as number[] };
  for (let i = 1; i < calls.length; i++) {
    const gap = calls[i]!.start - calls[i - 1]!.end;
    if (loops.some((l) => calls[i - 1]!.end >= l.start && calls[i]!.start <= l.end)) {
      gaps.push(gap);
      after[calls[i - 1]!.kind].push(gap);
    }
  }
  lines.push(
    `  host time in the loop outside engine calls: ${((inLoops - callTime) / 1000).toFixed(2)} s over ${callsInLoops.length} calls (${f(hostPerCall)} per call; gaps between calls ${dist(gaps)}: after a prefill ${dist(after.prefill)} mean ${f(mean(after.prefill))}, after a decode step ${dist(after.decode)} mean ${f(mean(after.decode))}), ${loops.length} loop runs`,
  );
  const decodes = calls.filter((k) => k.kind === 'decode');
  const prefills = calls.filter((k) => k.kind === 'prefill');
  const simPrefills = sim.events - sim.decodeSteps;
  lines.push(
    `  policy: prefill calls server ${prefills.length} (${prefills.reduce((a, k) => a + k.batch, 0)} prompts), simulation ${simPrefills}; decode steps server ${decodes.length} (mean batch ${(decodes.reduce((a, k) => a + k.batch, 0) / Math.max(1, decodes.length)).toFixed(2)}), simulation ${sim.decodeSteps} (mean batch ${(sim.decodeSequences / Math.max(1, sim.decodeSteps)).toFixed(2)}); prompt ${prompt}`,
  );
  lines.push(replay(joinedServer, calls, loops, policy, epoch, prompt));
  return { lines, hostPerCall, engineRatio: real / profiled };
}

/** The simulation on the server's inputs (see the header); the per-request differences it leaves. */
function replay(
  reqs: { at: number; s: ServingTimeline['requests'][number]; output: number }[],
  calls: ServingTimeline['calls'],
  loops: ServingTimeline['loops'],
  policy: SchedulerPolicy,
  epoch: (t: number) => number,
  prompt: number,
): string {
  reqs.sort((a, b) => a.at - b.at);
  if (reqs.length === 0) return '  replay: no requests';
  const t0 = reqs[0]!.at;
  // Each prompt's share of its prefill call, the decode steps, and per turn the host time after its last call.
  const prefills: number[] = [];
  const decodes: number[] = [];
  const hosts: number[] = [];
  for (let i = 0; i < calls.length; i++) {
    const k = calls[i]!;
    const d = (k.end - k.start) / 1000;
    if (k.kind === 'prefill') for (let j = 0; j < k.batch; j++) prefills.push(d / k.batch);
    else decodes.push(d);
    const next = calls[i + 1];
    if (k.kind === 'prefill' && next?.kind === 'decode') continue; // the same turn
    const loop = loops.find((l) => k.end <= l.end && k.start >= l.start);
    const until = next && loop && next.start <= loop.end ? next.start : (loop?.end ?? k.end);
    hosts.push(Math.max(0, until - k.end) / 1000);
  }
  let pi = 0;
  let di = 0;
  let hi = 0;
  const times: StepTimes = {
    prefill: () => prefills[pi++] ?? NaN,
    decode: () => decodes[di++] ?? NaN,
    host: () => hosts[hi++] ?? 0,
  };
  const run = simulate(
    reqs.map((r) => ({ at: (r.at - t0) / 1000, prompt, output: r.output })),
    { policy, replicas: 1, times },
  );
  const dAdmit: number[] = [];
  const dFirst: number[] = [];
  const dDone: number[] = [];
  run.requests.forEach((q, i) => {
    const s = reqs[i]!.s;
    const base = t0;
    dAdmit.push(Math.abs(q.admitted * 1000 + base - epoch(s.admitted)));
    dFirst.push(Math.abs(q.firstToken * 1000 + base - epoch(s.firstToken)));
    dDone.push(Math.abs(q.done * 1000 + base - epoch(s.done)));
  });
  return `  replay on the server's inputs (${prefills.length} prompts, ${decodes.length} decode steps; simulation used ${pi}, ${di}): |simulated − server| admission ${dist(dAdmit)}, first token ${dist(dFirst)}, last token ${dist(dDone)}`;
}
