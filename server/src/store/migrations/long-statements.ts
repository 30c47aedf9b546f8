import type { Knex } from "knex";

/**
 * Runs schema changes that outlast the per-statement time limit every pooled MariaDB connection
 * has (store/db.ts): rebuilding a table or an index at a million contacts takes minutes. A
 * migration runs on one connection (its transaction): the limit is lifted there, then put back
 * before the connection returns to the pool. SQLite has no such limit.
 */
export async function withoutStatementLimit(knex: Knex, work: () => Promise<void>): Promise<void> {
  if (knex.client.config.client !== "mysql2") return work();
  await knex.raw("set @contacts_api_mst = @@session.max_statement_time, session max_statement_time = 0");
  try {
    await work();
  } finally {
    await knex.raw("set session max_statement_time = @contacts_api_mst");
  }
}
