/**
 * A migration that rewrites existing rows, on both stores: the database is migrated up to the
 * migration before it, contacts are written and their rows put in the old form, the rest of the
 * migrations run, and the rows are then what the current code writes for those contacts.
 *
 * Migration 008 marks whole-email search tokens ("@" in front): the old unmarked ones go, marked
 * ones are made from contact_emails, and search finds the contacts by email and by word alike.
 */
import type { Knex } from "knex";
import { afterAll, describe, expect, it } from "vitest";
import { storedContact } from "../bench/seed-data.js";
import type { StoredContact } from "../server/src/domain/contacts.js";
import { searchTokens } from "../server/src/domain/search.js";
import { insertContacts } from "../server/src/store/contacts.js";
import { openDatabase } from "../server/src/store/db.js";
import * as companyExact from "../server/src/store/migrations/20261202_007_company_exact.js";
import { createTestDatabase, type TestDatabase } from "./support/databases.js";
import { STORES } from "./support/server.js";

const TENANT = "mig";
const local = (c: string) => c.repeat(120); // an address whose "@" lies beyond the tokens' 100 characters

const CONTACTS: StoredContact[] = [
  { first: "John", last: "Smith", emails: ["john.smith@example.com", "JS@Example.org"] },
  { first: "Ann", last: "Lee", emails: [`${local("a")}@example.com`] },
  // Two emails alike in their first 99 characters: one marked token.
  { first: "Bo", last: "Long", emails: [`${"b".repeat(98)}1x@example.com`, `${"b".repeat(98)}1y@example.com`] },
  { first: "Nomail", last: "Person", emails: [] },
].map((c, i) =>
  storedContact({
    createdDate: 1_700_000_000_000 + i,
    updatedDate: 1_700_000_000_000 + i,
    info: { name: { first: c.first, last: c.last }, emails: { items: c.emails.map((email) => ({ email })) } },
  }),
);

async function migrateUpTo(db: Knex, last: string): Promise<void> {
  for (;;) {
    const [, applied] = (await db.migrate.up()) as [number, string[]];
    if (applied.length === 0) throw new Error(`${last} was never applied`);
    if (applied.includes(last)) return;
  }
}

async function tokensOf(db: Knex, contactId: string): Promise<string[]> {
  const rows = (await db("contact_search_tokens").where({ tenant_id: TENANT, contact_id: contactId }).select("token")) as { token: string }[];
  return rows.map((r) => r.token).sort();
}

describe.each(STORES)("migration 008 (marked email tokens) on %s", (store) => {
  let database: TestDatabase | undefined;
  let db: Knex | undefined;
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it("replaces unmarked whole-email tokens with marked ones made from the emails, leaving words alone", async () => {
    database = store === "mysql" ? await createTestDatabase("migrations") : undefined;
    db = openDatabase({ url: database?.url, sqliteFile: ":memory:", statementTimeoutMs: 60_000, poolMax: 2 });
    await migrateUpTo(db, companyExact.name);
    await (db as Knex).transaction((trx) => insertContacts(trx, TENANT, CONTACTS));
    // The rows as the code before migration 008 wrote them: each whole email unmarked, cut to 100
    // characters (Ann's before its "@").
    await db("contact_search_tokens").where("token", "like", "@%").delete();
    for (const c of CONTACTS) {
      for (const e of c.info.emails?.items ?? []) {
        const token = [...(e.email ?? "").trim().toLowerCase()].slice(0, 100).join("");
        await db("contact_search_tokens").insert({ tenant_id: TENANT, token, contact_id: c.id, created_at: c.createdDate }).onConflict().ignore();
      }
    }
    const [john, ann, bo, nomail] = CONTACTS as [StoredContact, StoredContact, StoredContact, StoredContact];
    expect(await tokensOf(db, john.id)).toContain("john.smith@example.com");
    expect(await tokensOf(db, ann.id)).not.toContain(expect.stringMatching(/@/));

    await db.migrate.latest();

    expect(await tokensOf(db, john.id)).toEqual([...searchTokens(john.info)].sort());
    expect(await tokensOf(db, john.id)).toEqual(expect.arrayContaining(["@john.smith@example.com", "@js@example.org", "john", "smith"]));
    expect(await tokensOf(db, bo.id)).toEqual([...searchTokens(bo.info)].sort());
    expect(await tokensOf(db, nomail.id)).toEqual([...searchTokens(nomail.info)].sort());
    // Ann's old token had no "@" and stayed: it is also her first word, cut ("aaa…a").
    expect(await tokensOf(db, ann.id)).toEqual([...searchTokens(ann.info)].sort());
    // No unmarked token with an "@" is left, in any contact.
    expect(await db("contact_search_tokens").where("token", "like", "%@%").whereNot("token", "like", "@%").count({ n: "*" })).toEqual([{ n: 0 }]);
  });
});
