import type { Knex } from "knex";

/**
 * Adds `created_at` to a table of per-contact index rows (`tenant_id`, `contact_id`, …) and fills
 * it with each row's contact's creation date, which never changes. Run inside
 * `withoutStatementLimit`: at a million contacts the fill is one long statement.
 */
export async function addContactCreatedAt(knex: Knex, table: string): Promise<void> {
  await knex.schema.alterTable(table, (t) => t.bigInteger("created_at").notNullable().defaultTo(0));
  if (knex.client.config.client === "mysql2") {
    await knex.raw("update ?? x join contacts c on c.tenant_id = x.tenant_id and c.id = x.contact_id set x.created_at = c.created_at", [table]);
  } else {
    await knex.raw("update ?? set created_at = (select c.created_at from contacts c where c.tenant_id = ??.tenant_id and c.id = ??.contact_id)", [
      table,
      table,
      table,
    ]);
  }
}
