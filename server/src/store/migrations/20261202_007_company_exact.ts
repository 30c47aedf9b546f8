import type { Knex } from "knex";
import { withoutStatementLimit } from "./long-statements.js";

/**
 * `info.company` equality (`$eq`, `$in`, `$ne`, `$nin`) compares the company exactly as sent,
 * but the company index held only the lower-case sort key: every case-insensitive match had its
 * contact row read to compare the exact text, which for a company of 2,000 contacts among a
 * million is 2,000 random reads to count them. `company_exact` holds the first 190 characters of
 * the company as sent (190 is the sort keys' length, store/contact-index.ts), indexed with the
 * first-name key so that the query the reference's company pages make (company equality sorted
 * by first name) is counted and paged from the index alone. A company of 190 characters or more
 * is still compared in full on the row.
 */
export const name = "20261202_007_company_exact";

const INDEX = "contacts_company_exact_idx";

export async function up(knex: Knex): Promise<void> {
  // Filling the column and building the index over a million contacts takes a minute or two.
  await withoutStatementLimit(knex, async () => {
    await knex.schema.alterTable("contacts", (t) => t.string("company_exact", 190).nullable());
    // LEFT and SUBSTR count characters (code points), as store/contact-index.ts cuts.
    const head = knex.client.config.client === "mysql2" ? "left(company, 190)" : "substr(company, 1, 190)";
    await knex.raw(`update contacts set company_exact = ${head} where company is not null`);
    await knex.schema.alterTable("contacts", (t) => t.index(["tenant_id", "company_exact", "first_name_key", "id"], INDEX));
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("contacts", (t) => {
    t.dropIndex([], INDEX);
    t.dropColumn("company_exact");
  });
}
