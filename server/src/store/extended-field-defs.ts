import type { ExtendedField } from "../domain/extended-fields.js";
import type { Executor } from "./db.js";
import { extendedFieldFromRow } from "./extended-fields.js";
import type { ExtendedFieldRow } from "./tables.js";

/** The definitions of the given extended field keys that exist, by key. */
export async function extendedFieldsByKey(db: Executor, tenantId: string, keys: readonly string[]): Promise<Map<string, ExtendedField>> {
  if (keys.length === 0) return new Map();
  const rows = (await db("extended_fields").where({ tenant_id: tenantId }).whereIn("key", [...keys])) as ExtendedFieldRow[];
  return new Map(rows.map((r) => [r.key, extendedFieldFromRow(r)]));
}
