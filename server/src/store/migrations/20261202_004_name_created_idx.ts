import type { Knex } from "knex";

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
  const mysql = knex.client.config.client === "mysql2";
  // Building an index over a million contacts outlasts the per-statement limit of pooled
  // connections: lift it on this migration's connection, and put it back.
  if (mysql) await knex.raw("set @contacts_api_mst = @@session.max_statement_time, session max_statement_time = 0");
  try {
    for (const [index, column] of INDEXES) {
      await knex.schema.alterTable("contacts", (t) => t.index(["tenant_id", column, "created_at"], index));
    }
  } finally {
    if (mysql) await knex.raw("set session max_statement_time = @contacts_api_mst");
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const [index] of INDEXES) await knex.schema.alterTable("contacts", (t) => t.dropIndex([], index));
}
