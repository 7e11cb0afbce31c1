/**
 * Where a serving process's time goes, recorded only when asked for (ServerOptions.timeline,
 * HttpOptions.timeline): every engine call, every run of the server's loop, every request as
 * the server and as the HTTP front saw it. bench/latency-validate.ts --timeline reads it to
 * attribute the gap between the latency simulation and the real server (docs/latency.md,
 * "Where the time goes"). Absent, the server and the front record nothing.
 *
 * Times are this process's `performance.now()` in ms; `origin` (performance.timeOrigin)
 * turns them into wall-clock ms to join them with another process's (the load client's).
 * Requests carry a `key` (their first prompt tokens) so that server, front and client
 * records of one request can be joined in arrival order.
 */
export interface ServingTimeline {
  /** performance.timeOrigin of the recording process (ms since the epoch). */
  origin: number;
  /** Engine calls, in order: a prefill call (batch = prompts, tokens = their tokens) or a decode step (tokens = Σ context). */
  calls: { kind: 'prefill' | 'decode'; start: number; end: number; batch: number; tokens: number }[];
  /** Runs of the server's loop: from its start to its return (the server idles between runs), and its turns that made engine calls. */
  loops: { start: number; end: number; turns: number }[];
  /** Requests as the server saw them (NaN: not reached): submitted to `generate`, admitted into a slot, first token, last token. */
  requests: { key: string; submitted: number; admitted: number; firstToken: number; done: number }[];
  /** Streamed requests as the HTTP front saw them: the handler's start, the body parsed, the first token's event written, the end. */
  http: { key: string; arrived: number; parsed: number; firstWrite: number; end: number }[];
}

export function createTimeline(): ServingTimeline {
  return { origin: performance.timeOrigin, calls: [], loops: [], requests: [], http: [] };
}

/** How requests are joined: their first prompt tokens. */
export function promptKey(prompt: readonly unknown[]): string {
  return prompt.slice(0, 3).join(',');
}
