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
import { eventPositions, eventPositionsCausal, eventsAfter, pruneEvents } from "../store/events.js";
import type { Db } from "../store/db.js";
import type { ServiceDeps } from "./deps.js";

const ANY_TENANT = Symbol("any tenant");

/** In-process "tenant X committed events" signal, so watchers wake within milliseconds. */
export class EventBus {
  private readonly emitter = new EventEmitter();
  private relay: ((tenantId: string) => void) | undefined;
  constructor() {
    this.emitter.setMaxListeners(0);
  }
  /** This process committed events of the tenant: wakes its readers here and, relayed, elsewhere. */
  notify(tenantId: string): void {
    this.wake(tenantId);
    this.relay?.(tenantId);
  }
  /** Another process committed events of the tenant (services/wakeups.ts): wakes the readers here. */
  wake(tenantId: string): void {
    this.emitter.emit(tenantId);
    this.emitter.emit(ANY_TENANT, tenantId);
  }
  /** Where notifications go besides this process (undefined: nowhere). */
  relayTo(relay: ((tenantId: string) => void) | undefined): void {
    this.relay = relay;
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

/** Events a watcher may have waiting before it is made to catch up from the database instead. */
const INBOX_MAX = 10_000;

/** What a tenant's feed hands one watcher: the batches it read, in order. */
class Inbox {
  private batches: StoredEvent[][] = [];
  private size = 0;
  /** More arrived than INBOX_MAX while the watcher was slow: they were dropped, to be read again. */
  overflowed = false;
  private failure: { err: unknown } | undefined;
  private wakeUp: (() => void) | undefined;

  push(batch: StoredEvent[]): void {
    if (this.overflowed) return;
    this.batches.push(batch);
    this.size += batch.length;
    if (this.size > INBOX_MAX) this.clear(true);
    this.wakeUp?.();
  }

  fail(err: unknown): void {
    this.failure = { err };
    this.wakeUp?.();
  }

  clear(overflowed: boolean): void {
    this.batches = [];
    this.size = 0;
    this.overflowed = overflowed;
  }

  /** The next events after position `after`, in order; undefined when none are waiting. */
  take(after: number): StoredEvent[] | undefined {
    if (this.failure) throw this.failure.err;
    for (;;) {
      const batch = this.batches.shift();
      if (!batch) return undefined;
      this.size -= batch.length;
      const fresh = batch.filter((e) => e.seq > after);
      if (fresh.length > 0) return fresh;
    }
  }

  /** Puts events back at the front (the watcher reads the database up to them first). */
  unshift(batch: StoredEvent[]): void {
    this.batches.unshift(batch);
    this.size += batch.length;
  }

  /** Resolves when something arrives, after `ms`, or when `signal` aborts. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.batches.length > 0 || this.failure || this.overflowed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal.addEventListener("abort", done);
      this.wakeUp = done;
    });
  }
}

/** One reader of one tenant's log for every watcher of it in this process. */
class Feed {
  readonly inboxes = new Set<Inbox>();
  private readonly stop = new AbortController();

  constructor(
    private readonly feeds: EventFeeds,
    readonly tenantId: string,
    /** The position read and handed out so far. */
    public last: number,
  ) {
    void this.run();
  }

  private async run(): Promise<void> {
    const { db, bus, options } = this.feeds;
    const stop = AbortSignal.any([this.stop.signal, this.feeds.draining]);
    try {
      while (!stop.aborted) {
        // Listen before reading, so a commit between the read and the wait is not slept through.
        const waiter = bus.wait(this.tenantId, options.pollMs, stop);
        const batch = await eventsAfter(db, this.tenantId, this.last, options.batch);
        this.feeds.reads++;
        const last = batch.at(-1);
        if (last) {
          this.last = last.seq;
          for (const inbox of this.inboxes) inbox.push(batch);
        }
        if (batch.length === options.batch) {
          waiter.cancel();
          continue;
        }
        await waiter.ready;
      }
    } catch (err) {
      // Each watcher's stream ends with the error (its client resumes from its cursor); the next
      // watcher starts a new feed.
      for (const inbox of this.inboxes) inbox.fail(err);
      this.feeds.forget(this);
    }
  }

  close(): void {
    this.stop.abort();
  }
}

/**
 * The tenants' feeds of this process: however many watchers a tenant has here, one reader polls
 * its log (and wakes on its commits, here or, through services/wakeups.ts, elsewhere), so reads
 * for watching grow with the tenants watched, not with the watchers. A watcher behind the feed
 * (an old cursor, or too slow to keep up) reads the log itself until it has caught up.
 */
export class EventFeeds {
  private readonly feeds = new Map<string, Feed>();
  private readonly starting = new Map<string, Promise<Feed>>();
  /** Reads of the log made by feeds (for the figures of bench and tests). */
  reads = 0;

  constructor(
    readonly db: Db,
    readonly bus: EventBus,
    readonly options: Pick<WatchOptions, "pollMs" | "batch">,
    readonly draining: AbortSignal,
  ) {}

  /** Adds a watcher's inbox to its tenant's feed; the feed's position then is where the inbox starts. */
  async subscribe(tenantId: string, inbox: Inbox): Promise<{ position: () => number; unsubscribe: () => void }> {
    let feed = this.feeds.get(tenantId);
    if (!feed) {
      let starting = this.starting.get(tenantId);
      if (!starting) {
        starting = eventPositions(this.db, tenantId).then((p) => {
          const created = new Feed(this, tenantId, p.last);
          this.feeds.set(tenantId, created);
          return created;
        });
        this.starting.set(tenantId, starting);
        starting.finally(() => this.starting.delete(tenantId)).catch(() => undefined);
      }
      feed = await starting;
    }
    const joined = feed;
    joined.inboxes.add(inbox);
    return {
      position: () => joined.last,
      unsubscribe: () => {
        joined.inboxes.delete(inbox);
        if (joined.inboxes.size === 0) this.forget(joined);
      },
    };
  }

  forget(feed: Feed): void {
    if (this.feeds.get(feed.tenantId) === feed) this.feeds.delete(feed.tenantId);
    feed.close();
  }

  /** How many watchers of this process the tenant's feed serves (0: it has none). */
  watchers(tenantId: string): number {
    return this.feeds.get(tenantId)?.inboxes.size ?? 0;
  }
}

export async function* watchEvents(
  deps: ServiceDeps,
  caller: Caller,
  req: WatchRequest,
  signal: AbortSignal,
  options: WatchOptions = DEFAULT_WATCH,
): AsyncGenerator<WatchItem> {
  await deps.tenants.ensure(caller.tenantId);
  await pruneEvents(deps.db, caller.tenantId, Date.now() - options.retentionMs);
  let positions = await eventPositions(deps.db, caller.tenantId);
  let last: number;
  if (req.afterCursor) {
    last = decodeEventCursor(req.afterCursor);
    // A cursor from another database node may be ahead of this node's applied state: ask again,
    // waiting for this node to catch up, before calling the cursor invalid.
    if (last > positions.last) positions = await eventPositionsCausal(deps.db, caller.tenantId);
    if (last > positions.last) throw invalidField("INVALID_CURSOR", "after_cursor", "is ahead of this tenant's event log");
    if (last < positions.pruned) throw expired(positions.pruned);
  } else {
    last = req.start === "OLDEST" ? positions.pruned : positions.last;
  }
  const fqdns = new Set(req.entityFqdns);
  const slugs = new Set(req.slugs);
  const wanted = (e: StoredEvent) => (fqdns.size === 0 || fqdns.has(e.entityFqdn)) && (slugs.size === 0 || slugs.has(e.slug));
  const stop = AbortSignal.any([signal, deps.draining]);
  const inbox = new Inbox();
  const feed = await deps.eventFeeds.subscribe(caller.tenantId, inbox);
  try {
    // Events up to here are not in the inbox: the watcher reads them from the log itself.
    let behind = feed.position();
    yield { kind: "bookmark", seq: last };
    let lastSent = Date.now();
    while (!signal.aborted) {
      if (deps.draining.aborted) {
        // The client resumes from its last cursor on another server (or this one, restarted).
        throw new DomainError("unavailable", "SERVER_DRAINING", "the server is shutting down; resume from your last cursor");
      }
      if (inbox.overflowed) {
        inbox.clear(false);
        behind = feed.position();
      }
      let batch: StoredEvent[];
      if (last < behind) {
        batch = await eventsAfter(deps.db, caller.tenantId, last, options.batch);
        // Positions are handed out without gaps (a rolled-back transaction takes its number
        // back), so a gap after `last` means retention removed events this watcher has not seen
        // yet: refuse rather than skip them. pruneEvents records its position before it removes.
        if (batch.length > 0 && batch[0]?.seq !== last + 1) {
          const { pruned } = await eventPositions(deps.db, caller.tenantId);
          if (pruned > last) throw expired(pruned);
        }
        if (batch.length === 0) behind = last;
      } else {
        const next = inbox.take(last);
        if (next === undefined) {
          await inbox.wait(options.bookmarkMs - (Date.now() - lastSent), stop);
          if (Date.now() - lastSent >= options.bookmarkMs && !signal.aborted && !deps.draining.aborted) {
            yield { kind: "bookmark", seq: last };
            lastSent = Date.now();
          }
          continue;
        }
        if ((next[0]?.seq ?? 0) > last + 1) {
          // Events between `last` and these were handed out before this watcher joined, or
          // dropped while it was slow: read them from the log first.
          inbox.unshift(next);
          behind = (next[0]?.seq ?? 1) - 1;
          continue;
        }
        batch = next;
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
      else if (batch.length > 0 && !signal.aborted) {
        yield { kind: "bookmark", seq: last };
        lastSent = Date.now();
      }
    }
  } finally {
    feed.unsubscribe();
  }
}
