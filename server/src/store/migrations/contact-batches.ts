import type { Knex } from "knex";

/** domain/search.ts PREFIX_MAX when migrations 010 and 011 were written; a migration keeps its own values. */
const PREFIX_MAX = 4;

/**
 * Calls `work` for every contact, `size` contacts at a time in (tenant_id, id) order, with one
 * tenant's ids per call: a migration that rewrites index rows then commits batch by batch (it
 * runs outside a transaction) instead of holding the locks of a million contacts' rows until one
 * statement ends.
 */
export async function eachContactBatch(knex: Knex, size: number, work: (tenantId: string, ids: string[]) => Promise<void>): Promise<void> {
  let after: { tenant_id: string; id: string } | undefined;
  for (;;) {
    const page = knex("contacts")
      .select("tenant_id", "id")
      .orderBy([{ column: "tenant_id" }, { column: "id" }])
      .limit(size);
    const from = after;
    if (from) page.where((w) => w.where("tenant_id", ">", from.tenant_id).orWhere((e) => e.where("tenant_id", from.tenant_id).where("id", ">", from.id)));
    const rows = (await page) as { tenant_id: string; id: string }[];
    if (rows.length === 0) return;
    const byTenant = new Map<string, string[]>();
    for (const r of rows) byTenant.set(r.tenant_id, [...(byTenant.get(r.tenant_id) ?? []), r.id]);
    for (const [tenantId, ids] of byTenant) await work(tenantId, ids);
    after = rows.at(-1);
  }
}

/** `n` = 1 … max, as a derived table. */
export function lengthsTable(max: number): string {
  return Array.from({ length: max }, (_, i) => `select ${i + 1} as n`).join(" union all ");
}

/**
 * Creates a prefix table (migrations 010, 011) unless it exists (a re-run after an interruption):
 * tenant_id, the `before` columns (short strings), prefix, created_at, contact_id, all of them
 * the primary key, in that order; compared as bytes on MariaDB.
 */
export async function createPrefixTable(knex: Knex, table: string, before: readonly string[]): Promise<void> {
  if (await knex.schema.hasTable(table)) return;
  await knex.schema.createTable(table, (t) => {
    if (knex.client.config.client === "mysql2") {
      t.charset("utf8mb4");
      t.collate("utf8mb4_nopad_bin");
    }
    t.string("tenant_id", 64).notNullable();
    for (const column of before) t.string(column, 5).notNullable();
    t.string("prefix", PREFIX_MAX).notNullable();
    t.bigInteger("created_at").notNullable();
    t.string("contact_id", 36).notNullable();
    t.primary(["tenant_id", ...before, "prefix", "created_at", "contact_id"], `${table}_pk`);
  });
}
