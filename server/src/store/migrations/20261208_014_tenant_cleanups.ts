import type { Knex } from "knex";

/**
 * `tenants.cleanups`: how many deleted labels and fields are still being removed from the
 * tenant's contacts (its cleanup_jobs rows). A contact read joins the tenant row it reads anyway
 * for nothing more than this number, and asks for the list only when it is not 0
 * (store/contacts.ts getContactAndStripped).
 */
export const name = "20261208_014_tenant_cleanups";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("tenants", (t) => {
    t.integer("cleanups").notNullable().defaultTo(0);
  });
  await knex("tenants").update({
    cleanups: knex.raw("(select count(*) from cleanup_jobs where cleanup_jobs.tenant_id = tenants.tenant_id)"),
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("tenants", (t) => {
    t.dropColumn("cleanups");
  });
}
