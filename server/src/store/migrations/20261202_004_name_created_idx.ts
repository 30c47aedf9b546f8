import type { Knex } from "knex";
import { withoutStatementLimit } from "./long-statements.js";

/**
 * A prefix filter on a name under the default sort (newest first) finds its matches on the name
 * index and sorts them by creation date (store/contact-queries.ts, when they are few). These
 * indexes carry the creation date beside the name key, so that needs no read of the contact rows
 * (a few thousand random reads of wide rows otherwise). The name indexes of migration 002 stay:
 * they return contacts in name order for sorting by name.
 */
export const name = "20261202_004_name_created_idx";

const INDEXES = [
  ["contacts_first_name_created_idx", "first_name_key"],
  ["contacts_last_name_created_idx", "last_name_key"],
] as const;

export async function up(knex: Knex): Promise<void> {
  // Building an index over a million contacts takes minutes.
  await withoutStatementLimit(knex, async () => {
    for (const [index, column] of INDEXES) {
      await knex.schema.alterTable("contacts", (t) => t.index(["tenant_id", column, "created_at"], index));
    }
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const [index] of INDEXES) await knex.schema.alterTable("contacts", (t) => t.dropIndex([], index));
}
