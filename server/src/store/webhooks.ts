/**
 * Webhook subscriptions and their delivery log (migration 013). A dispatcher changes a
 * subscription's delivery state only while it holds the subscription's lease: every such
 * statement names the lease owner, so a dispatcher that lost its lease (it stalled, another took
 * over) changes nothing.
 */
import type { Executor } from "./db.js";
import type { WebhookAttemptRow, WebhookRow } from "./tables.js";

export async function insertWebhook(db: Executor, row: WebhookRow): Promise<void> {
  await db("webhooks").insert(row);
}

export async function getWebhook(db: Executor, tenantId: string, id: string): Promise<WebhookRow | undefined> {
  return (await db("webhooks").where({ tenant_id: tenantId, id }).first()) as WebhookRow | undefined;
}

export async function listWebhooks(db: Executor, tenantId: string): Promise<WebhookRow[]> {
  return (await db("webhooks")
    .where({ tenant_id: tenantId })
    .orderBy([{ column: "created_at" }, { column: "id" }])) as WebhookRow[];
}

export async function countWebhooks(db: Executor, tenantId: string): Promise<number> {
  const row = (await db("webhooks").where({ tenant_id: tenantId }).count({ n: "*" }).first()) as { n: number | string } | undefined;
  return Number(row?.n ?? 0);
}

export async function updateWebhook(db: Executor, tenantId: string, id: string, change: Partial<WebhookRow>): Promise<number> {
  return db("webhooks").where({ tenant_id: tenantId, id }).update(change);
}

/** Removes the subscription and its log. */
export async function deleteWebhook(db: Executor, tenantId: string, id: string): Promise<boolean> {
  const n = await db("webhooks").where({ tenant_id: tenantId, id }).delete();
  await db("webhook_attempts").where({ tenant_id: tenantId, webhook_id: id }).delete();
  return n > 0;
}

/**
 * Active subscriptions of every tenant with events after their position, whose next attempt is
 * due and whose lease is free: the work a dispatcher may take. Spans tenants; runs in the
 * background, never for a call.
 */
export async function dueWebhooks(db: Executor, now: number, limit: number): Promise<Pick<WebhookRow, "tenant_id" | "id">[]> {
  return (await db("webhooks as w")
    .join("tenants as t", "t.tenant_id", "w.tenant_id")
    .where("w.status", "ACTIVE")
    .andWhere("w.next_attempt_at", "<=", now)
    .andWhere("w.lease_until", "<", now)
    .andWhereRaw("w.cursor_seq < t.event_seq")
    .orderBy("w.next_attempt_at")
    .limit(limit)
    .select("w.tenant_id", "w.id")) as Pick<WebhookRow, "tenant_id" | "id">[];
}

/** Tenants with an active subscription. Spans tenants; background only. */
export async function subscribedTenants(db: Executor): Promise<string[]> {
  const rows = (await db("webhooks").where("status", "ACTIVE").distinct("tenant_id")) as { tenant_id: string }[];
  return rows.map((r) => r.tenant_id);
}

/** Takes the subscription's lease when it is free or has run out; true when `owner` now holds it. */
export async function claimWebhook(db: Executor, tenantId: string, id: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
  const n = await db("webhooks")
    .where({ tenant_id: tenantId, id, status: "ACTIVE" })
    .where((w) => w.where("lease_until", "<", now).orWhere("lease_owner", owner))
    .update({ lease_owner: owner, lease_until: now + leaseMs });
  return n === 1;
}

/** Changes the subscription's delivery state if `owner` still holds its lease; false when it does not. */
export async function updateLeased(db: Executor, tenantId: string, id: string, owner: string, change: Partial<WebhookRow>): Promise<boolean> {
  return (await db("webhooks").where({ tenant_id: tenantId, id, lease_owner: owner }).update(change)) === 1;
}

export async function releaseWebhook(db: Executor, tenantId: string, id: string, owner: string): Promise<void> {
  await db("webhooks").where({ tenant_id: tenantId, id, lease_owner: owner }).update({ lease_owner: null, lease_until: 0 });
}

export async function insertAttempt(db: Executor, row: WebhookAttemptRow): Promise<void> {
  await db("webhook_attempts").insert(row);
}

export async function listAttempts(db: Executor, tenantId: string, webhookId: string, offset: number, limit: number): Promise<WebhookAttemptRow[]> {
  return (await db("webhook_attempts")
    .where({ tenant_id: tenantId, webhook_id: webhookId })
    .orderBy("id", "desc")
    .offset(offset)
    .limit(limit)) as WebhookAttemptRow[];
}

export async function countAttempts(db: Executor, tenantId: string, webhookId: string): Promise<number> {
  const row = (await db("webhook_attempts").where({ tenant_id: tenantId, webhook_id: webhookId }).count({ n: "*" }).first()) as
    | { n: number | string }
    | undefined;
  return Number(row?.n ?? 0);
}

/** Removes up to `limit` attempts of any tenant older than `before` (epoch ms). Background only. */
export async function pruneAttempts(db: Executor, before: number, limit: number): Promise<number> {
  const ids = (await db("webhook_attempts").where("at", "<", before).orderBy("at").limit(limit).pluck("id")) as (number | string)[];
  if (ids.length === 0) return 0;
  return db("webhook_attempts").whereIn("id", ids).delete();
}
