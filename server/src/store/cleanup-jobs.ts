import type { Executor } from "./db.js";

export type CleanupKind = "label" | "field";

/** Records that contacts still use a deleted label or field (in the deleting transaction). */
export async function addCleanupJob(trx: Executor, tenantId: string, kind: CleanupKind, key: string): Promise<void> {
  await trx("cleanup_jobs").insert({ tenant_id: tenantId, kind, key, created_at: Date.now() }).onConflict(["tenant_id", "kind", "key"]).ignore();
}

export async function removeCleanupJob(trx: Executor, tenantId: string, kind: CleanupKind, key: string): Promise<void> {
  await trx("cleanup_jobs").where({ tenant_id: tenantId, kind, key }).delete();
}

export async function pendingCleanupJobs(db: Executor, tenantId: string): Promise<{ kind: CleanupKind; key: string }[]> {
  return db("cleanup_jobs").where({ tenant_id: tenantId }).orderBy("created_at").select("kind", "key");
}

/** Keys still being removed from contacts; they cannot be handed out again until then. */
export async function keysBeingCleaned(db: Executor, tenantId: string, kind: CleanupKind): Promise<string[]> {
  const rows = await db("cleanup_jobs").where({ tenant_id: tenantId, kind }).select("key");
  return rows.map((r: { key: string }) => r.key);
}
