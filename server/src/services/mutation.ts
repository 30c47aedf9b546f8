import type { Knex } from "knex";
import type { Caller } from "../domain/caller.js";
import { invalidField } from "../domain/errors.js";
import { decodeJson, encodeJson } from "../domain/json.js";
import { inTransaction } from "../store/db.js";
import { claimRequestId, recordResponse } from "../store/idempotency.js";
import type { ServiceDeps } from "./deps.js";

/** Identifies a write for idempotent retries (AIP-155). */
export interface MutationMeta {
  /** Fully-qualified method name; a request id is bound to one method. */
  method: string;
  /** The client's request id, if it sent one. */
  requestId?: string;
  /** Hash of the request without its request id; a reuse with another body is refused. */
  fingerprint: string;
}

/**
 * Runs a write in one transaction. With a request id, the id is claimed in that same
 * transaction: a repeat returns the first response and changes nothing, and a concurrent repeat
 * waits for the first to commit. A failed write claims nothing, so its retry runs again.
 */
export async function runMutation<T>(deps: ServiceDeps, caller: Caller, meta: MutationMeta, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  await deps.tenants.ensure(caller.tenantId);
  const result = await inTransaction(deps.db, async (trx) => {
    const requestId = meta.requestId;
    if (requestId) {
      const claim = await claimRequestId(trx, {
        tenant_id: caller.tenantId,
        request_id: requestId,
        method: meta.method,
        fingerprint: meta.fingerprint,
        created_at: Date.now(),
      });
      if (!claim.claimed) {
        if (claim.row.method !== meta.method || claim.row.fingerprint !== meta.fingerprint) {
          throw invalidField("REQUEST_ID_REUSED", "request_id", "was already used for a different request within the last 24 hours");
        }
        return decodeJson<T>(claim.row.response);
      }
    }
    const result = await work(trx);
    if (requestId) await recordResponse(trx, caller.tenantId, requestId, encodeJson(result ?? null));
    return result;
  });
  deps.eventBus.notify(caller.tenantId);
  return result;
}
