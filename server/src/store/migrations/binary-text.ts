import type { Knex } from "knex";

/**
 * What every table's text gets on MariaDB: utf8mb4, compared byte-wise and without padding
 * (utf8mb4_nopad_bin: "a" and "a " differ), as SQLite compares it already (SQLite has no table
 * charsets: nothing to do there). Used by the migrations that create tables.
 */
export function binaryText(knex: Knex): (t: Knex.CreateTableBuilder) => void {
  const mysql = knex.client.config.client === "mysql2";
  return (t) => {
    if (!mysql) return;
    t.charset("utf8mb4");
    t.collate("utf8mb4_nopad_bin");
  };
}
