import { NOTHING_STRIPPED, type Stripped } from "../domain/contacts.js";
import type { Executor } from "./db.js";

export type CleanupKind = "label" | "field";

/** Records that contacts still use a deleted label or field (in the deleting transaction), leased to its server. */
export async function addCleanupJob(trx: Executor, tenantId: string, kind: CleanupKind, key: string, lease: { owner: string; until: number }): Promise<void> {
  await trx("cleanup_jobs")
    .insert({ tenant_id: tenantId, kind, key, created_at: Date.now(), lease_owner: lease.owner, lease_until: lease.until })
    .onConflict(["tenant_id", "kind", "key"])
    .ignore();
  await countCleanups(trx, tenantId);
}

/**
 * Jobs of every tenant whose lease has run out: those a server may take over. Spans tenants; runs
 * in the background, never for a call.
 */
export async function expiredCleanupJobs(db: Executor, now: number, limit: number): Promise<{ tenant_id: string; kind: CleanupKind; key: string }[]> {
  return db("cleanup_jobs").where("lease_until", "<", now).orderBy("lease_until").limit(limit).select("tenant_id", "kind", "key");
}

/** Takes a job whose lease has run out; true when `owner` now holds it. */
export async function claimCleanupJob(
  db: Executor,
  tenantId: string,
  kind: CleanupKind,
  key: string,
  owner: string,
  now: number,
  leaseMs: number,
): Promise<boolean> {
  const n = await db("cleanup_jobs")
    .where({ tenant_id: tenantId, kind, key })
    .andWhere("lease_until", "<", now)
    .update({ lease_owner: owner, lease_until: now + leaseMs });
  return n === 1;
}

/** Extends `owner`'s lease; false when it no longer holds the job (or the job is done). */
export async function renewCleanupJob(db: Executor, tenantId: string, kind: CleanupKind, key: string, owner: string, until: number): Promise<boolean> {
  return (await db("cleanup_jobs").where({ tenant_id: tenantId, kind, key, lease_owner: owner }).update({ lease_until: until })) === 1;
}

export async function removeCleanupJob(trx: Executor, tenantId: string, kind: CleanupKind, key: string): Promise<void> {
  await trx("cleanup_jobs").where({ tenant_id: tenantId, kind, key }).delete();
  await countCleanups(trx, tenantId);
}

/**
 * Sets `tenants.cleanups` to the tenant's number of cleanup jobs (migration 014), after the jobs
 * row: writers hold shared locks on cleanup_jobs and take the tenant row last, so the tenant row
 * is taken last here too.
 */
async function countCleanups(trx: Executor, tenantId: string): Promise<void> {
  await trx("tenants")
    .where({ tenant_id: tenantId })
    .update({ cleanups: trx.raw("(select count(*) from cleanup_jobs where cleanup_jobs.tenant_id = ?)", [tenantId]) });
}

export async function pendingCleanupJobs(db: Executor, tenantId: string): Promise<{ kind: CleanupKind; key: string }[]> {
  return db("cleanup_jobs").where({ tenant_id: tenantId }).orderBy("created_at").select("kind", "key");
}

/** Keys still being removed from contacts; they cannot be handed out again until then. */
export async function keysBeingCleaned(db: Executor, tenantId: string, kind: CleanupKind): Promise<string[]> {
  const rows = await db("cleanup_jobs").where({ tenant_id: tenantId, kind }).select("key");
  return rows.map((r: { key: string }) => r.key);
}

/** The labels and fields being stripped from the tenant's contacts (domain/contacts.ts Stripped). */
export async function strippedKeys(db: Executor, tenantId: string): Promise<Stripped> {
  return toStripped(await db("cleanup_jobs").where({ tenant_id: tenantId }).select("kind", "key"));
}

function toStripped(rows: readonly { kind: CleanupKind; key: string }[]): Stripped {
  if (rows.length === 0) return NOTHING_STRIPPED;
  return {
    labels: new Set(rows.filter((r) => r.kind === "label").map((r) => r.key)),
    fields: new Set(rows.filter((r) => r.kind === "field").map((r) => r.key)),
  };
}

const byTransaction = new WeakMap<object, Stripped>();

/**
 * strippedKeys for a writing transaction, read once, so that its writes and its events see one
 * set. The read is a locking one (shared): a delete that has not committed yet waits for this
 * transaction to end before it records its cleanup, and one that committed is seen. So a write
 * that commits after DeleteLabel returned has stripped the label.
 */
export async function strippedIn(trx: Executor, tenantId: string): Promise<Stripped> {
  let stripped = byTransaction.get(trx);
  if (!stripped) {
    stripped = toStripped(await trx("cleanup_jobs").where({ tenant_id: tenantId }).forShare().select("kind", "key"));
    byTransaction.set(trx, stripped);
  }
  return stripped;
}
