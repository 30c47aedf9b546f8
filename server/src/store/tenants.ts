import type { ExtendedField } from "../domain/extended-fields.js";
import type { Label } from "../domain/labels.js";
import { type Executor, isMysql } from "./db.js";
import { extendedFieldToRow } from "./extended-fields.js";
import { labelToRow } from "./labels.js";

/**
 * Creates the tenant's row and its system labels and fields if they are missing. Idempotent and
 * safe to race: every insert ignores existing rows.
 */
export async function ensureTenant(db: Executor, tenantId: string, systemLabels: readonly Label[], systemFields: readonly ExtendedField[]): Promise<void> {
  await db("tenants").insert({ tenant_id: tenantId, event_seq: 0, created_at: Date.now() }).onConflict("tenant_id").ignore();
  await db("labels")
    .insert(systemLabels.map((l) => labelToRow(tenantId, l)))
    .onConflict(["tenant_id", "key"])
    .ignore();
  await db("extended_fields")
    .insert(systemFields.map((f) => extendedFieldToRow(tenantId, f)))
    .onConflict(["tenant_id", "key"])
    .ignore();
}

/**
 * Reserves `count` event sequence numbers and returns the first. The update locks the tenant row
 * until the transaction ends, so sequence order is commit order within a tenant. Take it last in
 * a transaction (after the entity rows) to keep one lock order everywhere.
 *
 * One statement: the row is locked from here to the commit, so every round trip spent holding it
 * is one that all of the tenant's other writers wait for. MariaDB hands the new value back in the
 * statement's own answer through LAST_INSERT_ID(expr) (the connection's, so concurrent
 * transactions cannot see each other's); SQLite through RETURNING.
 */
export async function reserveEventSeq(trx: Executor, tenantId: string, count: number): Promise<number> {
  let last: number | undefined;
  if (isMysql(trx)) {
    const [header] = (await trx.raw("update tenants set event_seq = last_insert_id(event_seq + ?) where tenant_id = ?", [count, tenantId])) as [
      { affectedRows: number; insertId: number | string },
    ];
    if (header.affectedRows === 1) last = Number(header.insertId);
  } else {
    const [row] = (await trx("tenants").where({ tenant_id: tenantId }).increment("event_seq", count).returning("event_seq")) as { event_seq: number }[];
    if (row) last = Number(row.event_seq);
  }
  if (last === undefined) throw new Error(`tenant ${tenantId} has no row; ensureTenant must run first`);
  return last - count + 1;
}

/** Locks the tenant row for the rest of the transaction (quota checks that must not race). */
export async function lockTenant(trx: Executor, tenantId: string): Promise<void> {
  await trx("tenants").where({ tenant_id: tenantId }).forUpdate().first("tenant_id");
}
