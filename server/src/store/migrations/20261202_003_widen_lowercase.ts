import type { Knex } from "knex";
import { withoutStatementLimit } from "./long-statements.js";

/**
 * Columns that hold a lower-cased copy of a value, or a joined one, are as wide as the longest
 * value they can get: lower-casing can lengthen a string ("İ" becomes "i̇", two code units, and
 * is the only character whose lower case is longer), so a copy needs twice the original's limit;
 * a street stored as "number name" needs 100 + 1 + 1000. Narrower columns made MariaDB refuse a
 * valid contact (ER_DATA_TOO_LONG). SQLite does not enforce VARCHAR lengths: nothing to do there.
 * Widening a VARCHAR that already takes two length bytes is done in place by InnoDB; the others
 * rebuild their table online (reads and writes go on).
 */
export const name = "20261202_003_widen_lowercase";

const WIDER: readonly [table: string, column: string, from: number, to: number, nullable: boolean][] = [
  ["contacts", "primary_email", 320, 640, true],
  ["contacts", "primary_phone_lc", 50, 100, true],
  ["contact_emails", "email_key", 320, 640, false],
  ["contact_phones", "phone_lc", 50, 100, false],
  ["contact_addresses", "street", 1100, 1101, true],
];

async function resize(knex: Knex, pick: (from: number, to: number) => number): Promise<void> {
  if (knex.client.config.client !== "mysql2") return;
  // Some of these rebuild a table (a column that crosses 255 bytes needs a second length byte).
  await withoutStatementLimit(knex, async () => {
    for (const [table, column, from, to, nullable] of WIDER) {
      await knex.raw(`alter table ?? modify ?? varchar(${pick(from, to)}) ${nullable ? "null" : "not null"}`, [table, column]);
    }
  });
}

export async function up(knex: Knex): Promise<void> {
  await resize(knex, (_from, to) => to);
}

export async function down(knex: Knex): Promise<void> {
  await resize(knex, (from) => from);
}
