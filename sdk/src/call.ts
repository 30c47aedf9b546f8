/**
 * How every unary call runs: headers (tenant or token), one deadline for the whole call, the
 * caller's AbortSignal, a request_id for mutations, and retries of UNAVAILABLE only, with capped
 * exponential backoff and jitter, reusing the request_id so that a retried write is applied
 * once.
 */
import { Code } from "@connectrpc/connect";
import { apiError, type ContactsApiError, InvalidSdkArgumentError, toApiError } from "./errors.js";

/** Per-call options accepted by every SDK function (in its options object, or as a last argument). */
export interface CallOptions {
  /**
   * The whole call's deadline in milliseconds, retries included. Default: the client's
   * `timeoutMs` (10 000). The server caps any deadline at its `MAX_TIMEOUT_MS` (30 000).
   */
  timeoutMs?: number;
  /** Cancels the call (and its retries); the promise rejects with a CancelledError. */
  signal?: AbortSignal;
  /**
   * Mutations only: the idempotency key sent as `request_id` (1–64 characters). Default: a new
   * UUID per call, reused by the SDK's own retries. Pass your own to make retries across process
   * restarts safe too: a repeat within 24 hours returns the first answer and changes nothing.
   */
  requestId?: string;
}

/** Retry policy for UNAVAILABLE failures. */
export interface RetryOptions {
  /** Most attempts per call, the first included. Default 6. 1 disables retries. */
  maxAttempts?: number;
  /** Backoff before the second attempt, in ms. Default 100. Doubles per attempt. */
  initialDelayMs?: number;
  /** Backoff cap, in ms. Default 2000. */
  maxDelayMs?: number;
}

/** Default deadline of a call, retries included: long enough for a retry through a restart, well under the server's 30 s cap. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Default retry policy: about 3 s of backoff in all, enough to ride out a server restart. */
export const DEFAULT_RETRY: Required<RetryOptions> = { maxAttempts: 6, initialDelayMs: 100, maxDelayMs: 2_000 };

/** Backoff before attempt `attempt + 1`: exponential, capped, with "equal jitter" (50–100 %). */
export function backoffMs(retry: Required<RetryOptions>, attempt: number): number {
  const ceiling = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** Waits `ms`, or rejects early when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** What a generated Connect client method takes besides the request. */
export interface ConnectCallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  headers?: Record<string, string>;
}

/** The client-wide settings a call runs with. */
export interface CallContext {
  headers: Record<string, string>;
  timeoutMs: number;
  retry: Required<RetryOptions>;
}

/** Runs a read: retried on UNAVAILABLE within the deadline. */
export function runRead<Req, T>(
  ctx: CallContext,
  options: CallOptions | undefined,
  req: Req,
  send: (req: Req, opts: ConnectCallOptions) => Promise<T>,
): Promise<T> {
  return run(ctx, options, undefined, req, send);
}

/**
 * Runs a mutation: `build` makes the request with its request_id (the caller's
 * `options.requestId`, or a new UUID), and every attempt sends that same request, so the server
 * applies it once however many attempts reach it.
 */
export function runMutation<Req, T>(
  ctx: CallContext,
  options: CallOptions | undefined,
  build: (requestId: string) => Req,
  send: (req: Req, opts: ConnectCallOptions) => Promise<T>,
): Promise<T> {
  const requestId = options?.requestId ?? crypto.randomUUID();
  if (typeof requestId !== "string" || requestId.length === 0 || requestId.length > 64) {
    throw new InvalidSdkArgumentError("options.requestId must be a string of 1–64 characters");
  }
  return run(ctx, options, requestId, build(requestId), send);
}

async function run<Req, T>(
  ctx: CallContext,
  options: CallOptions | undefined,
  requestId: string | undefined,
  req: Req,
  send: (req: Req, opts: ConnectCallOptions) => Promise<T>,
): Promise<T> {
  const signal = options?.signal;
  const timeoutMs = options?.timeoutMs ?? ctx.timeoutMs;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new InvalidSdkArgumentError(`timeoutMs must be a positive number; got ${timeoutMs}`);
  const deadline = Date.now() + timeoutMs;
  let lastError: ContactsApiError | undefined;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw toApiError(signal.reason, requestId, true);
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw lastError ?? apiError({ grpcCode: Code.DeadlineExceeded, message: `the call did not finish within ${timeoutMs} ms`, requestId });
    }
    try {
      return await send(req, { headers: ctx.headers, timeoutMs: remaining, ...(signal ? { signal } : {}) });
    } catch (err) {
      const error = toApiError(err, requestId, signal?.aborted === true);
      if (error.grpcCode !== Code.Unavailable || attempt >= ctx.retry.maxAttempts) throw error;
      const delay = backoffMs(ctx.retry, attempt);
      if (Date.now() + delay >= deadline) throw error;
      lastError = error;
      try {
        await sleep(delay, signal);
      } catch (abortReason) {
        throw toApiError(abortReason, requestId, true);
      }
    }
  }
}
