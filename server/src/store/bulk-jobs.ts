/**
 * Bulk jobs and their items (migration 012). The caller owns the transaction; a job's row is
 * locked first by every transaction that works on the job (lockJob), so its batches, its
 * cancellation and a second server that took over its lease never interleave.
 */
import type { Executor } from "./db.js";
import type { BulkJobItemRow, BulkJobRow } from "./tables.js";

/** What became of one contact of a job. */
export const ItemState = { pending: 0, done: 1, failed: 2, skipped: 3 } as const;
export type ItemState = (typeof ItemState)[keyof typeof ItemState];

/** Statuses of a job that still has work (a runner may take it). */
export const UNFINISHED = ["NEW", "LOADING", "RUNNING"] as const;
/** Statuses of a job that is over. */
export const FINISHED = ["COMPLETED", "CANCELLED", "FAILED"] as const;

export async function insertJob(trx: Executor, row: BulkJobRow): Promise<void> {
  await trx("bulk_jobs").insert(row);
}

export async function getJob(db: Executor, tenantId: string, id: string): Promise<BulkJobRow | undefined> {
  return (await db("bulk_jobs").where({ tenant_id: tenantId, id }).first()) as BulkJobRow | undefined;
}

/** The job's row, locked for the rest of the transaction. */
export async function lockJob(trx: Executor, tenantId: string, id: string): Promise<BulkJobRow | undefined> {
  return (await trx("bulk_jobs").where({ tenant_id: tenantId, id }).forUpdate().first()) as BulkJobRow | undefined;
}

/** A page of the tenant's jobs, newest first. */
export async function listJobs(db: Executor, tenantId: string, offset: number, limit: number): Promise<BulkJobRow[]> {
  return (await db("bulk_jobs")
    .where({ tenant_id: tenantId })
    .orderBy([
      { column: "created_at", order: "desc" },
      { column: "id", order: "desc" },
    ])
    .offset(offset)
    .limit(limit)) as BulkJobRow[];
}

export async function countJobs(db: Executor, tenantId: string): Promise<number> {
  const row = (await db("bulk_jobs").where({ tenant_id: tenantId }).count({ n: "*" }).first()) as { n: number | string } | undefined;
  return Number(row?.n ?? 0);
}

export async function updateJob(trx: Executor, tenantId: string, id: string, change: Partial<BulkJobRow>): Promise<void> {
  await trx("bulk_jobs").where({ tenant_id: tenantId, id }).update(change);
}

/**
 * Unfinished jobs of every tenant whose lease has run out (or that never had one), oldest first:
 * the jobs a runner may take. The one statement of the service that spans tenants; it runs in the
 * background, never for a call.
 */
export async function claimableJobs(db: Executor, now: number, limit: number): Promise<Pick<BulkJobRow, "tenant_id" | "id">[]> {
  return (await db("bulk_jobs")
    .whereIn("status", [...UNFINISHED])
    .where("lease_until", "<", now)
    .orderBy("created_at")
    .limit(limit)
    .select("tenant_id", "id")) as Pick<BulkJobRow, "tenant_id" | "id">[];
}

/** Takes the job's lease when it is free or has run out; true when this owner now holds it. */
export async function claimJob(db: Executor, tenantId: string, id: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
  const n = await db("bulk_jobs")
    .where({ tenant_id: tenantId, id })
    .whereIn("status", [...UNFINISHED])
    .where((w) => w.where("lease_until", "<", now).orWhere("lease_owner", owner))
    .update({ lease_owner: owner, lease_until: now + leaseMs });
  return n === 1;
}

/** Gives the lease up (the job finished or the server is stopping), if this owner holds it. */
export async function releaseJob(db: Executor, tenantId: string, id: string, owner: string): Promise<void> {
  await db("bulk_jobs").where({ tenant_id: tenantId, id, lease_owner: owner }).update({ lease_owner: null, lease_until: 0 });
}

/** Adds contacts to a job as pending items (a contact already there stays as it is). */
export async function insertItems(trx: Executor, tenantId: string, jobId: string, contactIds: readonly string[]): Promise<void> {
  if (contactIds.length === 0) return;
  const rows = contactIds.map((contact_id) => ({ tenant_id: tenantId, job_id: jobId, contact_id, state: ItemState.pending }));
  for (let i = 0; i < rows.length; i += 500) {
    await trx("bulk_job_items")
      .insert(rows.slice(i, i + 500))
      .onConflict(["tenant_id", "job_id", "contact_id"])
      .ignore();
  }
}

/** The next `limit` pending contacts of a job, in contact id order. */
export async function pendingItems(trx: Executor, tenantId: string, jobId: string, limit: number): Promise<string[]> {
  const rows = (await trx("bulk_job_items")
    .where({ tenant_id: tenantId, job_id: jobId, state: ItemState.pending })
    .orderBy("contact_id")
    .limit(limit)
    .select("contact_id")) as Pick<BulkJobItemRow, "contact_id">[];
  return rows.map((r) => r.contact_id);
}

/** Sets the state of processed items: one statement per state, one per failed item (its error). */
export async function finishItems(
  trx: Executor,
  tenantId: string,
  jobId: string,
  done: readonly string[],
  skipped: readonly string[],
  failed: readonly { contactId: string; code: string; message: string }[],
): Promise<void> {
  const key = { tenant_id: tenantId, job_id: jobId };
  if (done.length > 0)
    await trx("bulk_job_items")
      .where(key)
      .whereIn("contact_id", [...done])
      .update({ state: ItemState.done });
  if (skipped.length > 0)
    await trx("bulk_job_items")
      .where(key)
      .whereIn("contact_id", [...skipped])
      .update({ state: ItemState.skipped });
  for (const f of failed) {
    await trx("bulk_job_items")
      .where({ ...key, contact_id: f.contactId })
      .update({ state: ItemState.failed, error_code: f.code.slice(0, 60), error_message: f.message.slice(0, 500) });
  }
}

/** A job's failed items, in contact id order. */
export async function failedItems(db: Executor, tenantId: string, jobId: string, limit: number): Promise<BulkJobItemRow[]> {
  return (await db("bulk_job_items")
    .where({ tenant_id: tenantId, job_id: jobId, state: ItemState.failed })
    .orderBy("contact_id")
    .limit(limit)) as BulkJobItemRow[];
}

/** Jobs of every tenant that finished before `before` (epoch ms): background retention only. */
export async function expiredJobs(db: Executor, before: number, limit: number): Promise<Pick<BulkJobRow, "tenant_id" | "id">[]> {
  return (await db("bulk_jobs")
    .whereIn("status", [...FINISHED])
    .where("finished_at", "<", before)
    .limit(limit)
    .select("tenant_id", "id")) as Pick<BulkJobRow, "tenant_id" | "id">[];
}

/** Removes a finished job and its items, 1000 items a statement. */
export async function deleteJob(db: Executor, tenantId: string, id: string): Promise<void> {
  for (;;) {
    const ids = (await db("bulk_job_items").where({ tenant_id: tenantId, job_id: id }).limit(1000).pluck("contact_id")) as string[];
    if (ids.length === 0) break;
    await db("bulk_job_items").where({ tenant_id: tenantId, job_id: id }).whereIn("contact_id", ids).delete();
  }
  await db("bulk_jobs")
    .where({ tenant_id: tenantId, id })
    .whereIn("status", [...FINISHED])
    .delete();
}
