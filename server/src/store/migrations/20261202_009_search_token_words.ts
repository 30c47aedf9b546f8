import type { Knex } from "knex";
import { eachContactBatch } from "./contact-batches.js";

/** domain/search.ts WORDS_MAX when this migration was written; a migration keeps its own values. */
const WORDS_MAX = 1000;

/**
 * Every search-token row carries its contact's words (domain/search.ts wordList: " " before each
 * word, whole emails left out, null beyond WORDS_MAX characters), so that a search of several
 * words reads the rarest word's rows and checks the other words in them (store/
 * contact-queries.ts) instead of intersecting each word's contacts through the contact index.
 * The fill makes each contact's list from its own token rows, as wordList makes it from the same
 * tokens; a contact's rows are rewritten whole on its next write.
 *
 * On MariaDB the fill goes BATCH contacts at a time, each batch its own transaction (the
 * migration runs outside one): a single statement over a million contacts' 13 M token rows took
 * 17 minutes and held every row's lock until it committed, so contact writes waited for it. A row
 * that is not filled yet, or that a server without this column writes meanwhile, has no list,
 * and a search finds its contact by looking its words up: correct at every moment.
 */
export const name = "20261202_009_search_token_words";

export const config = { transaction: false };

const BATCH = 500;

/** Each of these contacts' word tokens, " " before each, in token order: what wordList makes. */
function listsSql(ids: readonly string[]): string {
  return `select tenant_id, contact_id, concat(' ', group_concat(token order by token separator ' ')) as words
    from contact_search_tokens force index (contact_search_tokens_contact_idx)
    where tenant_id = ? and contact_id in (${ids.map(() => "?").join(", ")}) and token not like '@%'
    group by tenant_id, contact_id`;
}

async function fillMysql(knex: Knex): Promise<void> {
  await eachContactBatch(knex, BATCH, async (tenantId, ids) => {
    // group_concat stops at group_concat_max_len bytes (1,024 by default): room for WORDS_MAX
    // characters of up to four bytes, and one more to tell a longer list.
    await knex.raw(
      `set statement group_concat_max_len = ${4 * WORDS_MAX + 4} for
       update contact_search_tokens t join (${listsSql(ids)}) w
         on w.tenant_id = t.tenant_id and w.contact_id = t.contact_id
       set t.words = w.words
       where char_length(w.words) <= ?`,
      [tenantId, ...ids, WORDS_MAX],
    );
  });
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("contact_search_tokens", (t) => t.string("words", WORDS_MAX).nullable());
  if (knex.client.config.client === "mysql2") return fillMysql(knex);
  await knex.raw(
    `update contact_search_tokens set words = (
       select ' ' || group_concat(w.token, ' ') from contact_search_tokens w
       where w.tenant_id = contact_search_tokens.tenant_id and w.contact_id = contact_search_tokens.contact_id
         and substr(w.token, 1, 1) <> '@'
     )`,
  );
  await knex.raw("update contact_search_tokens set words = null where length(words) > ?", [WORDS_MAX]);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("contact_search_tokens", (t) => t.dropColumn("words"));
}
