import type { Knex } from "knex";

/**
 * Label and field strips that any server can finish, and cheap to check for:
 * - `tenants.cleanups`: how many deleted labels and fields are still being removed from the
 *   tenant's contacts (its cleanup_jobs rows). A contact read joins the tenant row for nothing
 *   more than this number, and asks for the list only when it is not 0 (store/contacts.ts
 *   getContactAndStripped).
 * - `cleanup_jobs.lease_owner`/`lease_until`: the server removing the entry, until when; a job whose
 *   lease has run out (its server died) is taken over by another (services/cleanup.ts).
 */
export const name = "20261208_014_cleanups";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("tenants", (t) => {
    t.integer("cleanups").notNullable().defaultTo(0);
  });
  await knex("tenants").update({
    cleanups: knex.raw("(select count(*) from cleanup_jobs where cleanup_jobs.tenant_id = tenants.tenant_id)"),
  });
  await knex.schema.alterTable("cleanup_jobs", (t) => {
    t.string("lease_owner", 64).nullable();
    t.bigInteger("lease_until").notNullable().defaultTo(0);
    // The servers' look for jobs whose lease has run out, across tenants.
    t.index(["lease_until"], "cleanup_jobs_lease_idx");
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("cleanup_jobs", (t) => {
    t.dropIndex(["lease_until"], "cleanup_jobs_lease_idx");
    t.dropColumn("lease_owner");
    t.dropColumn("lease_until");
  });
  await knex.schema.alterTable("tenants", (t) => {
    t.dropColumn("cleanups");
  });
}
