/**
 * Webhook subscriptions (WebhooksService). A subscription starts at the tenant's current event
 * position; services/webhook-dispatcher.ts delivers what follows. Secrets are kept as written:
 * signing needs them.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Caller } from "../domain/caller.js";
import { DomainError, failedPrecondition, invalidField, notFound } from "../domain/errors.js";
import type { EventType } from "../domain/events.js";
import type { Page } from "../domain/paging.js";
import { validateEventTypes, validateWebhookUrl, WEBHOOK_DESCRIPTION_MAX } from "../domain/webhooks.js";
import { inTransaction } from "../store/db.js";
import { eventPositions } from "../store/events.js";
import type { WebhookAttemptRow, WebhookRow } from "../store/tables.js";
import * as store from "../store/webhooks.js";
import type { ServiceDeps } from "./deps.js";

export interface WebhookSettings {
  /** Dev setting: loopback targets allowed. `WEBHOOKS_ALLOW_LOOPBACK`. */
  allowLoopback: boolean;
  /** Most subscriptions per tenant. `WEBHOOKS_QUOTA`, default 20. */
  quota: number;
  /** How long the previous secret still signs after a rotation, ms. */
  secretOverlapMs: number;
}

export interface Webhook {
  id: string;
  url: string;
  eventTypes: EventType[];
  description: string;
  status: "ACTIVE" | "DISABLED";
  createdDate: number;
  /** Only right after creation or rotation. */
  secret?: string;
  deliveredSeq: number;
  lastDeliveredDate?: number;
  consecutiveFailures: number;
  lastError?: string;
  lastErrorDate?: number;
  nextAttemptDate?: number;
  disabledDate?: number;
}

export interface WebhookAttempt {
  eventId: string;
  eventType: string;
  entityId: string;
  attempt: number;
  attemptDate: number;
  durationMs: number;
  statusCode: number;
  delivered: boolean;
  error: string;
}

const ID_MAX = 100;

function validateId(id: string): string {
  if (id.length === 0) throw invalidField("INVALID_WEBHOOK_ID", "id", "is required");
  if (id.length > ID_MAX) throw invalidField("INVALID_WEBHOOK_ID", "id", `must be at most ${ID_MAX} characters`);
  return id;
}

function newSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

const opt = (v: number | string | null) => (v === null ? undefined : Number(v));

function toWebhook(row: WebhookRow, withSecret = false): Webhook {
  const failing = row.status === "ACTIVE" && row.failures > 0;
  return {
    id: row.id,
    url: row.url,
    eventTypes: JSON.parse(row.event_types) as EventType[],
    description: row.description,
    status: row.status as Webhook["status"],
    createdDate: Number(row.created_at),
    ...(withSecret ? { secret: row.secret } : {}),
    deliveredSeq: Number(row.cursor_seq),
    ...(row.last_delivered_at === null ? {} : { lastDeliveredDate: opt(row.last_delivered_at) }),
    consecutiveFailures: Number(row.failures),
    ...(row.last_error ? { lastError: row.last_error } : {}),
    ...(row.last_error_at === null ? {} : { lastErrorDate: opt(row.last_error_at) }),
    ...(failing ? { nextAttemptDate: Number(row.next_attempt_at) } : {}),
    ...(row.disabled_at === null ? {} : { disabledDate: opt(row.disabled_at) }),
  };
}

async function mustGet(db: ServiceDeps["db"], caller: Caller, id: string): Promise<WebhookRow> {
  const row = await store.getWebhook(db, caller.tenantId, validateId(id));
  if (!row) throw notFound("WEBHOOK_NOT_FOUND", `webhook ${id} not found`, { id });
  return row;
}

export async function createWebhook(
  deps: ServiceDeps,
  caller: Caller,
  settings: WebhookSettings,
  req: { url: string; eventTypes: readonly string[]; description: string },
): Promise<Webhook> {
  const url = validateWebhookUrl(req.url, settings.allowLoopback);
  const eventTypes = validateEventTypes(req.eventTypes);
  if (req.description.length > WEBHOOK_DESCRIPTION_MAX) {
    throw invalidField("INVALID_DESCRIPTION", "description", `must be at most ${WEBHOOK_DESCRIPTION_MAX} characters`);
  }
  await deps.tenants.ensure(caller.tenantId);
  const row = await inTransaction(deps.db, async (trx) => {
    // The tenant row serialises creations, so two at once cannot both take the last place.
    await trx("tenants").where({ tenant_id: caller.tenantId }).forUpdate().first("tenant_id");
    const count = await store.countWebhooks(trx, caller.tenantId);
    if (count >= settings.quota) {
      throw new DomainError("resource_exhausted", "WEBHOOKS_QUOTA_REACHED", `the tenant already has ${count} of ${settings.quota} webhooks`, {
        quota: String(settings.quota),
      });
    }
    const now = Date.now();
    const hook: WebhookRow = {
      tenant_id: caller.tenantId,
      id: randomUUID(),
      url: url.href,
      description: req.description,
      event_types: JSON.stringify(eventTypes),
      secret: newSecret(),
      previous_secret: null,
      previous_secret_until: 0,
      status: "ACTIVE",
      created_at: now,
      // Events committed after this call returns are delivered; those before are not.
      cursor_seq: (await eventPositions(trx, caller.tenantId)).last,
      failures: 0,
      failing_since: null,
      next_attempt_at: 0,
      last_error: null,
      last_error_at: null,
      last_delivered_at: null,
      disabled_at: null,
      lease_owner: null,
      lease_until: 0,
    };
    await store.insertWebhook(trx, hook);
    return hook;
  });
  // This server's dispatcher learns of the tenant's subscription now rather than at its next poll.
  deps.webhooks?.wake();
  return toWebhook(row, true);
}

export async function getWebhook(deps: ServiceDeps, caller: Caller, id: string): Promise<Webhook> {
  return toWebhook(await mustGet(deps.db, caller, id));
}

export async function listWebhooks(deps: ServiceDeps, caller: Caller): Promise<Webhook[]> {
  return (await store.listWebhooks(deps.db, caller.tenantId)).map((r) => toWebhook(r));
}

export async function deleteWebhook(deps: ServiceDeps, caller: Caller, id: string): Promise<void> {
  if (!(await store.deleteWebhook(deps.db, caller.tenantId, validateId(id)))) {
    throw notFound("WEBHOOK_NOT_FOUND", `webhook ${id} not found`, { id });
  }
}

export async function rotateWebhookSecret(deps: ServiceDeps, caller: Caller, settings: WebhookSettings, id: string): Promise<Webhook> {
  const row = await mustGet(deps.db, caller, id);
  const change = { secret: newSecret(), previous_secret: row.secret, previous_secret_until: Date.now() + settings.secretOverlapMs };
  if ((await store.updateWebhook(deps.db, caller.tenantId, row.id, change)) === 0) throw notFound("WEBHOOK_NOT_FOUND", `webhook ${id} not found`, { id });
  return toWebhook({ ...row, ...change }, true);
}

/** Makes a disabled subscription active again, from where it stopped or (skipPending) from now. */
export async function enableWebhook(deps: ServiceDeps, caller: Caller, id: string, skipPending: boolean): Promise<Webhook> {
  const enabled = await inTransaction(deps.db, async (trx) => {
    const row = (await trx("webhooks")
      .where({ tenant_id: caller.tenantId, id: validateId(id) })
      .forUpdate()
      .first()) as WebhookRow | undefined;
    if (!row) throw notFound("WEBHOOK_NOT_FOUND", `webhook ${id} not found`, { id });
    if (row.status === "ACTIVE" && !skipPending) return row;
    const positions = await eventPositions(trx, caller.tenantId);
    if (!skipPending && Number(row.cursor_seq) < positions.pruned) {
      throw failedPrecondition("WEBHOOK_EVENTS_EXPIRED", "events this webhook has not delivered were removed by retention; enable it with skip_pending", {
        id,
      });
    }
    const change: Partial<WebhookRow> = {
      status: "ACTIVE",
      failures: 0,
      failing_since: null,
      next_attempt_at: 0,
      disabled_at: null,
      ...(skipPending ? { cursor_seq: positions.last } : {}),
    };
    await store.updateWebhook(trx, caller.tenantId, row.id, change);
    return { ...row, ...change };
  });
  deps.webhooks?.wake();
  return toWebhook(enabled);
}

export async function listWebhookAttempts(
  deps: ServiceDeps,
  caller: Caller,
  id: string,
  page: { limit: number; offset: number },
): Promise<Page<WebhookAttempt>> {
  const row = await mustGet(deps.db, caller, id);
  const [rows, total] = await Promise.all([
    store.listAttempts(deps.db, caller.tenantId, row.id, page.offset, page.limit),
    store.countAttempts(deps.db, caller.tenantId, row.id),
  ]);
  return {
    items: rows.map(attemptFromRow),
    page: { count: rows.length, offset: page.offset, total, hasNext: page.offset + rows.length < total },
  };
}

function attemptFromRow(r: WebhookAttemptRow): WebhookAttempt {
  return {
    eventId: r.event_id,
    eventType: r.event_type,
    entityId: r.entity_id,
    attempt: Number(r.attempt),
    attemptDate: Number(r.at),
    durationMs: Number(r.duration_ms),
    statusCode: Number(r.status_code),
    delivered: Boolean(r.delivered),
    error: r.error ?? "",
  };
}
