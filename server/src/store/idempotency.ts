import type { Executor } from "./db.js";
import { isUniqueViolation } from "./db.js";
import type { IdempotencyKeyRow } from "./tables.js";

/** How long a request id is remembered (AIP-155 asks for "at least" a day). */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

export type Claim = { claimed: true } | { claimed: false; row: IdempotencyKeyRow };

/**
 * Claims `requestId` in the caller's transaction. When another transaction holds the same key
 * uncommitted, the insert waits for it (InnoDB) or the database is serialised (SQLite), so two
 * racing requests never both run. A claim older than the window is taken over.
 */
export async function claimRequestId(trx: Executor, row: Omit<IdempotencyKeyRow, "response">): Promise<Claim> {
  try {
    await trx("idempotency_keys").insert({ ...row, response: "" });
    return { claimed: true };
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
  }
  // A locking read sees the latest committed row whatever the transaction's snapshot.
  const existing = (await trx("idempotency_keys")
    .where({ tenant_id: row.tenant_id, request_id: row.request_id })
    .forShare() // FOR UPDATE would deadlock racing repeats: the failed insert already holds an S lock
    .first()) as IdempotencyKeyRow | undefined;
  if (!existing) throw new Error("idempotency key vanished after a duplicate-key error");
  if (Number(existing.created_at) < row.created_at - IDEMPOTENCY_WINDOW_MS) {
    await trx("idempotency_keys")
      .where({ tenant_id: row.tenant_id, request_id: row.request_id })
      .update({ method: row.method, fingerprint: row.fingerprint, response: "", created_at: row.created_at });
    return { claimed: true };
  }
  return { claimed: false, row: existing };
}

/** Records the response of a claimed request, in the same transaction as its write. */
export async function recordResponse(trx: Executor, tenantId: string, requestId: string, response: string): Promise<void> {
  await trx("idempotency_keys").where({ tenant_id: tenantId, request_id: requestId }).update({ response });
}
