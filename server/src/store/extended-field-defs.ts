import type { ExtendedField } from "../domain/extended-fields.js";
import type { Knex } from "knex";
import type { Executor } from "./db.js";
import { extendedFieldFromRow } from "./extended-fields.js";
import type { ExtendedFieldRow } from "./tables.js";

/** The definitions of the given extended field keys that exist, by key. */
export async function extendedFieldsByKey(db: Executor, tenantId: string, keys: readonly string[]): Promise<Map<string, ExtendedField>> {
  const q = extendedFieldsQuery(db, tenantId, keys);
  return extendedFieldsFromRows(q ? ((await q) as ExtendedFieldRow[]) : []);
}

/** The read extendedFieldsByKey makes (none without keys), to send with others. */
export function extendedFieldsQuery(db: Executor, tenantId: string, keys: readonly string[]): Knex.QueryBuilder | undefined {
  return keys.length === 0
    ? undefined
    : db("extended_fields")
        .where({ tenant_id: tenantId })
        .whereIn("key", [...keys])
        .select("*");
}

export function extendedFieldsFromRows(rows: readonly ExtendedFieldRow[]): Map<string, ExtendedField> {
  return new Map(rows.map((r) => [r.key, extendedFieldFromRow(r)]));
}
