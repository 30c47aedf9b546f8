import type { Knex } from "knex";
import { addContactCreatedAt } from "./contact-created-at.js";
import { withoutStatementLimit } from "./long-statements.js";

/**
 * A one-word search under the default sort (newest first) pages as a merge of the matching
 * tokens' runs (store/contact-queries.ts): each token row now carries its contact's creation
 * date, and an index returns a token's contacts newest first, so the page reads the head of each
 * run instead of testing contacts in creation order against the search (thousands of lookups
 * for a word that matches a few percent of the contacts). The date is the contact's, which never
 * changes; token rows are rewritten with the contact's other index rows.
 */
export const name = "20261202_006_search_tokens_created";

const INDEX = "contact_search_tokens_created_idx";

export async function up(knex: Knex): Promise<void> {
  // Filling the column and building the index over a million contacts' tokens takes minutes.
  await withoutStatementLimit(knex, async () => {
    await addContactCreatedAt(knex, "contact_search_tokens");
    await knex.schema.alterTable("contact_search_tokens", (t) => t.index(["tenant_id", "token", "created_at", "contact_id"], INDEX));
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("contact_search_tokens", (t) => t.dropIndex([], INDEX));
  await knex.schema.alterTable("contact_search_tokens", (t) => t.dropColumn("created_at"));
}
