/**
 * The errors a request can reject with. Each carries a stable `code` (what the HTTP
 * front puts in `{ "error": { "code" } }`) and the HTTP `status` it maps to, so callers
 * can branch on `err.code` or `instanceof` without parsing messages.
 */

export type ServingErrorCode =
  | 'invalid_request'
  | 'queue_full'
  | 'server_closed'
  | 'device_lost'
  | 'cancelled'
  | 'deadline_exceeded'
  | 'engine_error'
  | 'callback_failed';

export abstract class ServingError extends Error {
  abstract readonly code: ServingErrorCode;
  /** The HTTP status the front answers with. */
  abstract readonly status: number;
}

/** The request is malformed (empty prompt, non-integer token, prompt + max_new_tokens > seq …). */
export class InvalidRequestError extends ServingError {
  readonly code = 'invalid_request';
  readonly status = 400;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}

/** Too many requests are waiting; refused at once, without waiting. */
export class QueueFullError extends ServingError {
  readonly code = 'queue_full';
  readonly status = 429;
  constructor(
    readonly limit: number,
    readonly waiting: number,
  ) {
    super(`the request queue is full (${waiting} waiting; queue limit ${limit} beyond free slots); retry later`);
    this.name = 'QueueFullError';
  }
}

/** The server is closed (or closing): it admits nothing new; waiting requests are dropped. */
export class ServerClosedError extends ServingError {
  readonly code = 'server_closed';
  readonly status = 503;
  constructor(message = 'the server is closed') {
    super(message);
    this.name = 'ServerClosedError';
  }
}

/** The GPU device was lost: the server is unhealthy and rejects every request from then on. */
export class DeviceLostError extends ServingError {
  readonly code = 'device_lost';
  readonly status = 503;
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`the GPU device was lost (${reason}); the server is unhealthy and accepts no more requests`, options);
    this.name = 'DeviceLostError';
  }
}

/** The caller's `AbortSignal` fired (before admission or mid-generation); `HTTP 499`. */
export class AbortError extends ServingError {
  readonly code = 'cancelled';
  readonly status = 499;
  constructor(
    readonly tokens: readonly number[] = [],
    options?: { cause?: unknown },
  ) {
    super(tokens.length > 0 ? `the request was cancelled after ${tokens.length} generated tokens` : 'the request was cancelled', options);
    this.name = 'AbortError';
  }
}

/**
 * The request's deadline passed before it finished. `tokens` holds what was generated
 * by then (empty when it never left the queue), a prefix of the full answer.
 */
export class DeadlineError extends ServingError {
  readonly code = 'deadline_exceeded';
  readonly status = 504;
  constructor(
    readonly deadlineMs: number,
    readonly tokens: readonly number[],
    readonly stage: 'queued' | 'running',
  ) {
    super(
      stage === 'queued'
        ? `the deadline of ${deadlineMs} ms passed while the request was waiting in the queue`
        : `the deadline of ${deadlineMs} ms passed after ${tokens.length} generated tokens`,
    );
    this.name = 'DeadlineError';
  }
}

/** An engine call (prefill or decode) failed; the affected requests reject with this, the rest carry on. */
export class EngineError extends ServingError {
  readonly code = 'engine_error';
  readonly status = 500;
  constructor(
    readonly call: 'prefill' | 'decode',
    cause: unknown,
  ) {
    super(`the engine's ${call} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'EngineError';
  }
}

/** The request's own `onToken` callback threw; the request ends with this (the cause is the thrown value), the rest carry on. */
export class CallbackError extends ServingError {
  readonly code = 'callback_failed';
  readonly status = 500;
  constructor(
    readonly tokens: readonly number[],
    cause: unknown,
  ) {
    super(`the request's onToken callback threw: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'CallbackError';
  }
}
