import type { Knex } from "knex";
import { createPrefixTable, eachContactBatch, lengthsTable } from "./contact-batches.js";

/** domain/search.ts PREFIX_MAX when this migration was written; a migration keeps its own values. */
const PREFIX_MAX = 4;

/**
 * contact_name_prefixes: a row per contact, name field (first, last) and start (1 to PREFIX_MAX
 * characters) of that lower-case name (domain/search.ts starts, of the name's lower-case column), in (tenant_id, field,
 * prefix, created_at, contact_id) order. A `$startsWith` of up to PREFIX_MAX characters on a name,
 * alone under the creation-date sort, is then one range of this index: its contacts in page order,
 * counted by reading that range alone — where before, the distinct names with the prefix were
 * found first and each name's run of the name+created index merged. Up to 8 rows per contact,
 * deleted by key like the search prefixes (migration 010).
 *
 * The fill derives the rows from the contacts' lower-case name columns, BATCH contacts per
 * committed statement on MariaDB; run again after an interruption, it completes. As with 010, a
 * contact a server without this table writes while it runs has no rows, or stale ones, until its
 * next write: start the new servers after the migration.
 */
export const name = "20261202_011_name_prefixes";

export const config = { transaction: false };

const TABLE = "contact_name_prefixes";
const BATCH = 1000;
const LENGTHS = lengthsTable(PREFIX_MAX);
const FIELDS = ["first", "last"] as const;

/** The rows of the contacts `where` selects (`c`), for one name field. */
function rowsSql(field: (typeof FIELDS)[number], start: "left" | "substr", where: string): string {
  const lc = `c.${field}_name_lc`;
  const cut = start === "left" ? `left(${lc}, l.n)` : `substr(${lc}, 1, l.n)`;
  return `select distinct c.tenant_id, '${field}', ${cut}, c.created_at, c.id
    from contacts c, (${LENGTHS}) l
    where ${where} and ${lc} is not null and ${lc} <> ''`;
}

export async function up(knex: Knex): Promise<void> {
  const mysql = knex.client.config.client === "mysql2";
  await createPrefixTable(knex, TABLE, ["field"]);
  const columns = `${TABLE} (tenant_id, field, prefix, created_at, contact_id)`;
  if (!mysql) {
    for (const field of FIELDS) await knex.raw(`insert or ignore into ${columns} ${rowsSql(field, "substr", "1 = 1")}`);
    return;
  }
  await eachContactBatch(knex, BATCH, async (tenantId, ids) => {
    const where = `c.tenant_id = ? and c.id in (${ids.map(() => "?").join(", ")})`;
    for (const field of FIELDS) await knex.raw(`insert ignore into ${columns} ${rowsSql(field, "left", where)}`, [tenantId, ...ids]);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists(TABLE);
}
