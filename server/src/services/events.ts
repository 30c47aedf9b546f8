/**
 * The change stream. Events are appended to the outbox in the same transaction as their change
 * under a per-tenant sequence number taken under the tenant row lock, so sequence order is
 * commit order and a transaction cannot commit a number lower than one already visible: reading
 * "everything after my cursor" can never skip a late-committing event. A watcher reads the log
 * after its cursor, then waits for a commit notification (or a short poll, for commits made by
 * other processes) and reads again.
 */
import { EventEmitter } from "node:events";
import type { Caller } from "../domain/caller.js";
import { DomainError, failedPrecondition, invalidField } from "../domain/errors.js";
import type { StoredEvent } from "../domain/events.js";
import { eventPositions, eventsAfter, pruneEvents } from "../store/events.js";
import type { ServiceDeps } from "./deps.js";

const ANY_TENANT = Symbol("any tenant");

/** In-process "tenant X committed events" signal, so watchers wake within milliseconds. */
export class EventBus {
  private readonly emitter = new EventEmitter();
  constructor() {
    this.emitter.setMaxListeners(0);
  }
  notify(tenantId: string): void {
    this.emitter.emit(tenantId);
    this.emitter.emit(ANY_TENANT, tenantId);
  }
  /** Calls `listener` with the tenant of every notification (the webhook dispatcher). */
  onAnyTenant(listener: (tenantId: string) => void): () => void {
    this.emitter.on(ANY_TENANT, listener);
    return () => this.emitter.off(ANY_TENANT, listener);
  }
  /** Resolves on the next notification for the tenant, after `pollMs`, or when `signal` aborts. */
  wait(tenantId: string, pollMs: number, signal: AbortSignal): { ready: Promise<void>; cancel(): void } {
    let done!: () => void;
    const ready = new Promise<void>((resolve) => {
      done = resolve;
    });
    const timer = setTimeout(() => finish(), pollMs);
    const finish = () => {
      clearTimeout(timer);
      this.emitter.off(tenantId, finish);
      signal.removeEventListener("abort", finish);
      done();
    };
    this.emitter.on(tenantId, finish);
    signal.addEventListener("abort", finish);
    return { ready, cancel: finish };
  }
}

const CURSOR_PREFIX = "ev1.";

export function encodeEventCursor(seq: number): string {
  return CURSOR_PREFIX + Buffer.from(String(seq)).toString("base64url");
}

function decodeEventCursor(cursor: string): number {
  // Only the exact encoding of a position counts: Buffer's base64 decoder skips characters it does
  // not know, and Number() accepts "", " " or "0x10", so a loose check would read a corrupted
  // cursor ("ev1.!!!", "ev1.") as position 0 and replay the whole log instead of refusing it.
  const digits = cursor.startsWith(CURSOR_PREFIX) ? Buffer.from(cursor.slice(CURSOR_PREFIX.length), "base64url").toString() : "";
  const seq = /^(0|[1-9][0-9]{0,15})$/.test(digits) ? Number(digits) : Number.NaN;
  if (!Number.isSafeInteger(seq) || encodeEventCursor(seq) !== cursor) {
    throw invalidField("INVALID_CURSOR", "after_cursor", "is not an event cursor this service issued");
  }
  return seq;
}

function expired(pruned: number) {
  return failedPrecondition("CURSOR_EXPIRED", "events after this cursor were removed by retention; resume from the oldest (start: OLDEST)", {
    oldestAvailableAfter: encodeEventCursor(pruned),
  });
}

export interface WatchRequest {
  afterCursor?: string;
  start: "NOW" | "OLDEST";
  entityFqdns: readonly string[];
  slugs: readonly string[];
}

export interface WatchOptions {
  /** How long events are kept. */
  retentionMs: number;
  /** How often a watcher looks for commits made by other processes. */
  pollMs: number;
  batch: number;
  /** Longest quiet time before a bookmark is sent. */
  bookmarkMs: number;
}

export const DEFAULT_WATCH: WatchOptions = { retentionMs: 30 * 24 * 3600 * 1000, pollMs: 500, batch: 500, bookmarkMs: 15_000 };

/**
 * What a watch yields: events, and bookmarks — the stream's current position without an event
 * (as Kubernetes watches do). A bookmark is sent when the stream starts, when the events read
 * were all filtered out, and after `bookmarkMs` of quiet, so a client always holds a cursor that
 * resumes exactly where its stream was, even if it saw no change event.
 */
export type WatchItem = { kind: "event"; event: StoredEvent } | { kind: "bookmark"; seq: number };

export async function* watchEvents(
  deps: ServiceDeps,
  caller: Caller,
  req: WatchRequest,
  signal: AbortSignal,
  options: WatchOptions = DEFAULT_WATCH,
): AsyncGenerator<WatchItem> {
  await deps.tenants.ensure(caller.tenantId);
  await pruneEvents(deps.db, caller.tenantId, Date.now() - options.retentionMs);
  const positions = await eventPositions(deps.db, caller.tenantId);
  let last: number;
  if (req.afterCursor) {
    last = decodeEventCursor(req.afterCursor);
    if (last > positions.last) throw invalidField("INVALID_CURSOR", "after_cursor", "is ahead of this tenant's event log");
    if (last < positions.pruned) throw expired(positions.pruned);
  } else {
    last = req.start === "OLDEST" ? positions.pruned : positions.last;
  }
  const fqdns = new Set(req.entityFqdns);
  const slugs = new Set(req.slugs);
  const wanted = (e: StoredEvent) => (fqdns.size === 0 || fqdns.has(e.entityFqdn)) && (slugs.size === 0 || slugs.has(e.slug));
  const stop = AbortSignal.any([signal, deps.draining]);
  yield { kind: "bookmark", seq: last };
  let lastSent = Date.now();
  while (!signal.aborted) {
    if (deps.draining.aborted) {
      // The client resumes from its last cursor on another server (or this one, restarted).
      throw new DomainError("unavailable", "SERVER_DRAINING", "the server is shutting down; resume from your last cursor");
    }
    // Listen before reading, so a commit between the read and the wait is not slept through.
    const waiter = deps.eventBus.wait(caller.tenantId, options.pollMs, stop);
    const batch = await eventsAfter(deps.db, caller.tenantId, last, options.batch);
    // Positions are handed out without gaps (a rolled-back transaction takes its number back), so
    // a gap after `last` means retention removed events this watcher has not seen yet: refuse
    // rather than skip them. pruneEvents records its position before it removes anything.
    if (batch.length > 0 && batch.at(-1)?.seq !== last + batch.length) {
      const { pruned } = await eventPositions(deps.db, caller.tenantId);
      if (pruned > last) {
        waiter.cancel();
        throw expired(pruned);
      }
    }
    let sent = false;
    for (const event of batch) {
      last = event.seq;
      if (wanted(event)) {
        yield { kind: "event", event };
        sent = true;
      }
    }
    if (sent) lastSent = Date.now();
    else if ((batch.length > 0 || Date.now() - lastSent >= options.bookmarkMs) && !signal.aborted) {
      yield { kind: "bookmark", seq: last };
      lastSent = Date.now();
    }
    if (batch.length === options.batch) {
      waiter.cancel();
      continue;
    }
    await waiter.ready;
  }
}
