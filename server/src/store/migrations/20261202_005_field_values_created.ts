import type { Knex } from "knex";
import { addContactCreatedAt } from "./contact-created-at.js";
import { withoutStatementLimit } from "./long-statements.js";

/**
 * A range on one custom NUMBER or DATE field under the default sort (newest first) finds its
 * matches on the field's value index and sorts them by creation date (store/contact-queries.ts,
 * when they are few). Each value row now carries its contact's creation date, and the value
 * indexes carry it beside the value: the sort reads no contact rows (a thousand random reads of
 * wide rows for a range matching 0.1 % of a million contacts). The date is the contact's, which
 * never changes; value rows are rewritten with the contact's other index rows.
 */
export const name = "20261202_005_field_values_created";

const INDEXES = [
  ["contact_field_values_num_idx", "contact_field_values_num_created_idx", "num_value"],
  ["contact_field_values_date_idx", "contact_field_values_date_created_idx", "date_value"],
] as const;

export async function up(knex: Knex): Promise<void> {
  // Filling the column and building the indexes over a million contacts takes minutes.
  await withoutStatementLimit(knex, async () => {
    await addContactCreatedAt(knex, "contact_field_values");
    for (const [old, index, column] of INDEXES) {
      await knex.schema.alterTable("contact_field_values", (t) => {
        t.index(["tenant_id", "field_key", column, "created_at", "contact_id"], index);
        t.dropIndex([], old);
      });
    }
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const [old, index, column] of INDEXES) {
    await knex.schema.alterTable("contact_field_values", (t) => {
      t.index(["tenant_id", "field_key", column, "contact_id"], old);
      t.dropIndex([], index);
    });
  }
  await knex.schema.alterTable("contact_field_values", (t) => t.dropColumn("created_at"));
}
