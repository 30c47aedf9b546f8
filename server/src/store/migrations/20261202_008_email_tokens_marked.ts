import type { Knex } from "knex";
import { withoutStatementLimit } from "./long-statements.js";

/**
 * Whole-email search tokens start with "@" (domain/search.ts EMAIL_MARK), so that a word's prefix
 * range holds words alone. The marked tokens are made from contact_emails (`email_key` is the
 * trimmed, lower-cased email searchTokens starts from; cut to the column's 100 characters as
 * searchTokens cuts), then the unmarked ones — an "@" not in front, which no word has — are
 * removed. An unmarked token of an email whose "@" lay beyond the cut has no "@" to be found by
 * and stays: it changes no search (a word that starts it also starts the email's first word,
 * which is a token of its own) and goes when the contact is next written.
 */
export const name = "20261202_008_email_tokens_marked";

function cut(knex: Knex, expr: string): string {
  return knex.client.config.client === "mysql2" ? `left(${expr}, 100)` : `substr(${expr}, 1, 100)`;
}

async function rewrite(knex: Knex, token: string, stale: string): Promise<void> {
  const insert = knex.client.config.client === "mysql2" ? "insert ignore into" : "insert or ignore into";
  await withoutStatementLimit(knex, async () => {
    await knex.raw(`delete from contact_search_tokens where ${stale}`);
    await knex.raw(
      `${insert} contact_search_tokens (tenant_id, token, contact_id, created_at)
       select e.tenant_id, ${token}, e.contact_id, c.created_at
       from contact_emails e join contacts c on c.tenant_id = e.tenant_id and c.id = e.contact_id`,
    );
  });
}

export async function up(knex: Knex): Promise<void> {
  const marked = cut(knex, knex.client.config.client === "mysql2" ? "concat('@', e.email_key)" : "'@' || e.email_key");
  await rewrite(knex, marked, "token like '%@%' and token not like '@%'");
}

export async function down(knex: Knex): Promise<void> {
  await rewrite(knex, cut(knex, "e.email_key"), "token like '@%'");
}
