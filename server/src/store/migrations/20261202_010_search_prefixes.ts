import type { Knex } from "knex";
import { createPrefixTable, eachContactBatch, lengthsTable } from "./contact-batches.js";

/** domain/search.ts EMAIL_MARK and PREFIX_MAX when this migration was written; a migration keeps its own values. */
const EMAIL_MARK = "@";
const PREFIX_MAX = 4;

/**
 * contact_search_prefixes: a row per contact and distinct start (1 to PREFIX_MAX characters) of
 * its words (domain/search.ts searchPrefixes), in (tenant_id, prefix, created_at, contact_id)
 * order. A search word that short is then one range of this index: its contacts, each once, in
 * page order — where through the token table "edwa" meant hundreds of distinct words and
 * thousands of rows to count and sort (bench/RESULTS.md). ~39 rows per contact on the bench's
 * data. There is no index by contact: a contact's rows are deleted by their keys, which the
 * store derives from the stored contact as it derives every index row (store/contacts.ts).
 *
 * The fill derives the rows from each contact's token rows (the words searchPrefixes reads),
 * BATCH contacts per committed statement on MariaDB, as migration 009 does: no lock held for
 * long. A contact that a server without this table writes while it runs has no rows, or stale
 * ones, until its next write: start the new servers after the migration (MIGRATE_ON_START does).
 * Re-run after an interruption, it picks up where it stopped (the table exists; rows are
 * inserted unless present).
 */
export const name = "20261202_010_search_prefixes";

export const config = { transaction: false };

const TABLE = "contact_search_prefixes";
const BATCH = 1000;

const LENGTHS = lengthsTable(PREFIX_MAX);

async function fillMysql(knex: Knex): Promise<void> {
  await eachContactBatch(knex, BATCH, async (tenantId, ids) => {
    await knex.raw(
      `insert ignore into ${TABLE} (tenant_id, prefix, created_at, contact_id)
       select distinct t.tenant_id, left(t.token, l.n), t.created_at, t.contact_id
       from contact_search_tokens t force index (contact_search_tokens_contact_idx) join (${LENGTHS}) l
       where t.tenant_id = ? and t.contact_id in (${ids.map(() => "?").join(", ")}) and left(t.token, 1) <> ?`,
      [tenantId, ...ids, EMAIL_MARK],
    );
  });
}

export async function up(knex: Knex): Promise<void> {
  await createPrefixTable(knex, TABLE, []);
  if (knex.client.config.client === "mysql2") return fillMysql(knex);
  await knex.raw(
    `insert or ignore into ${TABLE} (tenant_id, prefix, created_at, contact_id)
     select distinct t.tenant_id, substr(t.token, 1, l.n), t.created_at, t.contact_id
     from contact_search_tokens t, (${LENGTHS}) l
     where substr(t.token, 1, 1) <> ?`,
    [EMAIL_MARK],
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists(TABLE);
}
