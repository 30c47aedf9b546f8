/**
 * Delivers the tenants' events to their webhook subscriptions, from the outbox (the events table,
 * the same log WatchEvents reads). Every server process has one dispatcher. A subscription is
 * delivered by one dispatcher at a time, which holds its lease (renewed with every step), so its
 * events go out one at a time in commit order — in order per contact — whichever servers run.
 *
 * A subscription's row records how far it got (`cursor_seq`). An event is sent; on a 2xx answer
 * the position moves past it. The position moves only after the answer, so a crash in between
 * sends the event again (same `webhook-id`): at least once. A failed attempt is logged, the
 * subscription waits (exponential backoff with jitter) and tries the same event again; nothing
 * after it is sent meanwhile. Once an event has failed for `giveUpMs` (24 h), the subscription is
 * DISABLED with its last error, until EnableWebhook.
 */
import type { StoredEvent } from "../domain/events.js";
import { type RetryPolicy, retryDelay } from "../domain/webhooks.js";
import { eventPositions, eventsAfter } from "../store/events.js";
import type { WebhookRow } from "../store/tables.js";
import * as store from "../store/webhooks.js";
import type { ServiceDeps } from "./deps.js";
import type { SendResult, WebhookRequest } from "./webhook-sender.js";

export interface WebhookDispatcherOptions {
  /** This process's name in leases: unique per process. */
  owner: string;
  /** How long a subscription stays with a dispatcher that stopped stepping it. Longer than a request's time limit. `WEBHOOK_LEASE_MS`, default 30 000. */
  leaseMs: number;
  /** How often the dispatcher looks for work committed on other servers. `WEBHOOK_POLL_MS`, default 1000. */
  pollMs: number;
  /** Subscriptions delivered at once by this process. `WEBHOOK_CONCURRENCY`, default 8. */
  concurrency: number;
  retry: RetryPolicy;
  /** How long the delivery log is kept, ms. Default 7 days. */
  attemptRetentionMs: number;
}

/** Sends one request (services/webhook-sender.ts). */
export interface Send {
  send(req: WebhookRequest): Promise<SendResult>;
}

/** Events read per step. */
const BATCH = 100;
/** Shortest time between two looks for work when commits keep waking the dispatcher. */
const WAKE_MIN_MS = 20;

const key = (w: { tenant_id: string; id: string }) => `${w.tenant_id}\u0000${w.id}`;

export class WebhookDispatcher {
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private pollAgain = false;
  private lastPoll = 0;
  private lastPrune = 0;
  private stopped = false;
  /** Tenants with an active subscription, as of the last look for work (every poll). */
  private subscribed = new Set<string>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly deps: ServiceDeps,
    private readonly options: WebhookDispatcherOptions,
    private readonly sender: Send,
    /** The event as the `data` of a webhook body (the Event message's JSON). */
    private readonly render: (event: StoredEvent) => unknown,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    // A commit wakes the dispatcher only for a tenant that has subscriptions: a server whose
    // tenants have none does not look for work at every commit.
    this.unsubscribe = this.deps.eventBus.onAnyTenant((tenantId) => {
      if (this.subscribed.has(tenantId)) this.wake();
    });
    this.schedule(0);
  }

  /** Something may be due: look for work soon rather than at the next poll. */
  wake(): void {
    if (this.stopped) return;
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.schedule(Math.max(0, this.lastPoll + WAKE_MIN_MS - Date.now()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
    await this.polling;
    await Promise.all(this.running.values());
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.poll(), ms);
    this.timer.unref();
  }

  private poll(): void {
    if (this.stopped || this.polling) return;
    this.lastPoll = Date.now();
    this.polling = this.takeWork()
      .catch(this.onError)
      .finally(() => {
        this.polling = undefined;
        const again = this.pollAgain;
        this.pollAgain = false;
        if (!this.stopped) this.schedule(again ? WAKE_MIN_MS : this.options.pollMs);
      });
  }

  private async takeWork(): Promise<void> {
    const db = this.deps.db;
    const now = Date.now();
    if (now - this.lastPrune > 60_000) {
      this.lastPrune = now;
      await store.pruneAttempts(db, now - this.options.attemptRetentionMs, 1000);
    }
    this.subscribed = new Set(await store.subscribedTenants(db));
    const free = this.options.concurrency - this.running.size;
    if (free <= 0) return;
    for (const hook of await store.dueWebhooks(db, now, free + this.running.size)) {
      if (this.stopped || this.running.size >= this.options.concurrency) return;
      if (this.running.has(key(hook))) continue;
      if (!(await store.claimWebhook(db, hook.tenant_id, hook.id, this.options.owner, now, this.options.leaseMs))) continue;
      const run = this.run(hook.tenant_id, hook.id)
        .catch(this.onError)
        .finally(() => {
          this.running.delete(key(hook));
          // Events committed while it ran, after its last read, are picked up now.
          this.wake();
        });
      this.running.set(key(hook), run);
    }
  }

  /** Delivers a subscription's pending events until it is caught up, fails, or the lease is lost. */
  private async run(tenantId: string, id: string): Promise<void> {
    const db = this.deps.db;
    const owner = this.options.owner;
    try {
      for (;;) {
        if (this.stopped) return;
        const hook = await store.getWebhook(db, tenantId, id);
        if (!hook || hook.lease_owner !== owner || hook.status !== "ACTIVE" || Number(hook.next_attempt_at) > Date.now()) return;
        const cursor = Number(hook.cursor_seq);
        const events = await eventsAfter(db, tenantId, cursor, BATCH);
        if (events.length === 0) return;
        if (events[0]?.seq !== cursor + 1) {
          // Retention removed events it had not delivered (it was disabled, or failing, for longer
          // than events are kept): nothing can deliver them now.
          const { pruned } = await eventPositions(db, tenantId);
          if (pruned > cursor) {
            await this.disable(hook, `events after position ${cursor} were removed by retention before they were delivered`);
            return;
          }
        }
        const types = new Set(JSON.parse(hook.event_types) as string[]);
        let skipped: number | undefined;
        for (const event of events) {
          if (!types.has(event.eventType)) {
            skipped = event.seq;
            continue;
          }
          if (skipped !== undefined && !(await this.advance(hook, skipped))) return;
          skipped = undefined;
          if (!(await this.deliver(hook, event))) return;
        }
        if (skipped !== undefined && !(await this.advance(hook, skipped))) return;
      }
    } finally {
      await store.releaseWebhook(db, tenantId, id, owner);
    }
  }

  /** Moves the position past events not of the subscription's types. */
  private advance(hook: WebhookRow, seq: number): Promise<boolean> {
    hook.cursor_seq = seq;
    return store.updateLeased(this.deps.db, hook.tenant_id, hook.id, this.options.owner, { cursor_seq: seq, lease_until: Date.now() + this.options.leaseMs });
  }

  /** One attempt at `event`; true when it was delivered and the lease is still held. */
  private async deliver(hook: WebhookRow, event: StoredEvent): Promise<boolean> {
    const db = this.deps.db;
    const at = new Date();
    const secrets = [hook.secret, ...(hook.previous_secret && Number(hook.previous_secret_until) > at.getTime() ? [hook.previous_secret] : [])];
    const body = JSON.stringify({ type: event.eventType, timestamp: event.eventTime.toISOString(), data: this.render(event) });
    const result = await this.sender.send({ url: hook.url, id: event.id, timestamp: at, body, secrets });
    const attempt = Number(hook.failures) + 1;
    await store.insertAttempt(db, {
      tenant_id: hook.tenant_id,
      webhook_id: hook.id,
      event_id: event.id,
      event_type: event.eventType,
      entity_id: event.entityId,
      event_seq: event.seq,
      attempt,
      at: at.getTime(),
      duration_ms: result.durationMs,
      status_code: result.statusCode,
      delivered: result.delivered,
      error: result.error?.slice(0, 500) ?? null,
    });
    const now = Date.now();
    if (result.delivered) {
      const change = {
        cursor_seq: event.seq,
        failures: 0,
        failing_since: null,
        next_attempt_at: 0,
        last_delivered_at: now,
        lease_until: now + this.options.leaseMs,
      };
      Object.assign(hook, change);
      return store.updateLeased(db, hook.tenant_id, hook.id, this.options.owner, change);
    }
    const failingSince = hook.failing_since === null ? at.getTime() : Number(hook.failing_since);
    const error = (result.error ?? `HTTP ${result.statusCode}`).slice(0, 500);
    if (now - failingSince >= this.options.retry.giveUpMs) {
      await this.disable(hook, error, { failures: attempt, failing_since: failingSince });
      return false;
    }
    const delay = retryDelay(attempt, this.options.retry, Math.random());
    await store.updateLeased(db, hook.tenant_id, hook.id, this.options.owner, {
      failures: attempt,
      failing_since: failingSince,
      next_attempt_at: now + delay,
      last_error: error,
      last_error_at: now,
    });
    setTimeout(() => this.wake(), delay).unref();
    return false;
  }

  private async disable(hook: WebhookRow, error: string, change: Partial<WebhookRow> = {}): Promise<void> {
    const now = Date.now();
    await store.updateLeased(this.deps.db, hook.tenant_id, hook.id, this.options.owner, {
      ...change,
      status: "DISABLED",
      disabled_at: now,
      last_error: error.slice(0, 500),
      last_error_at: now,
    });
  }
}
