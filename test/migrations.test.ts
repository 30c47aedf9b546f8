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
import { searchTokens, WORDS_MAX, wordList } from "../server/src/domain/search.js";
import { indexRows } from "../server/src/store/contact-index.js";
import { insertContacts } from "../server/src/store/contacts.js";
import { openDatabase } from "../server/src/store/db.js";
import * as companyExact from "../server/src/store/migrations/20261202_007_company_exact.js";
import * as emailTokensMarked from "../server/src/store/migrations/20261202_008_email_tokens_marked.js";
import * as searchTokenWords from "../server/src/store/migrations/20261202_009_search_token_words.js";
import * as searchPrefixes from "../server/src/store/migrations/20261202_010_search_prefixes.js";
import * as namePrefixes from "../server/src/store/migrations/20261202_011_name_prefixes.js";
import { createTestDatabase, type TestDatabase } from "./support/databases.js";
import { STORES, type StoreName, startTestServer, type TestServer } from "./support/server.js";

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

interface TenantContacts {
  tenant: string;
  contacts: StoredContact[];
}

/**
 * Writes the contacts (TENANT's, and other tenants') at the latest schema, then migrates down one
 * at a time until `last` is the latest applied.
 */
async function writtenThenDownTo(db: Knex, last: string, contacts: StoredContact[], others: readonly TenantContacts[] = []): Promise<void> {
  await db.migrate.latest();
  for (const o of others) await db.transaction((trx) => insertContacts(trx, o.tenant, o.contacts));
  await db.transaction((trx) => insertContacts(trx, TENANT, contacts));
  for (;;) {
    const [completed] = (await db.migrate.list()) as [{ name: string }[], unknown[]];
    if (completed.length === 0) throw new Error(`${last} was never applied`);
    if (completed.at(-1)?.name === last) return;
    await db.migrate.down();
  }
}

/**
 * Another tenant on either side of TENANT ("a-other", "z-other"), with `sizes` contacts: more than
 * one batch of a fill on the first side.
 */
function otherTenants(sizes: readonly [number, number], first: (i: number) => string): TenantContacts[] {
  return ["a-other", "z-other"].map((tenant, t) => ({
    tenant,
    contacts: Array.from({ length: sizes[t] as number }, (_, i) =>
      storedContact({ createdDate: 1_700_000_001_000 + i, updatedDate: 1_700_000_001_000 + i, info: { name: { first: first(i), last: tenant } } }),
    ),
  }));
}

/** Opens a fresh database of the store (MariaDB: a new one; SQLite: in memory), closed and dropped after the tests. */
function freshDatabase(store: StoreName): () => Promise<Knex> {
  let database: TestDatabase | undefined;
  let db: Knex | undefined;
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });
  return async () => {
    database = store === "mysql" ? await createTestDatabase("migrations") : undefined;
    db = openDatabase({ url: database?.url, sqliteFile: ":memory:", statementTimeoutMs: 60_000, poolMax: 2 });
    return db;
  };
}

async function tokensOf(db: Knex, contactId: string): Promise<string[]> {
  const rows = (await db("contact_search_tokens").where({ tenant_id: TENANT, contact_id: contactId }).select("token")) as { token: string }[];
  return rows.map((r) => r.token).sort();
}

describe.each(STORES)("migration 008 (marked email tokens) on %s", (store) => {
  const open = freshDatabase(store);

  it("replaces unmarked whole-email tokens with marked ones made from the emails, leaving words alone", async () => {
    const db = await open();
    await writtenThenDownTo(db, companyExact.name, CONTACTS);
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

/** A contact's word list, as a sorted list of words (the SQL fill may order them otherwise). */
const wordsOf = (list: string | null) => (list === null ? null : list.split(" ").slice(1).sort());

describe.each(STORES)("migration 009 (word lists on token rows) on %s", (store) => {
  const open = freshDatabase(store);

  it("gives every token row its contact's words, none to a contact with more than the list holds (in batches, across tenants)", async () => {
    // "Many" has more than WORDS_MAX characters of words (thirty long email addresses).
    const many = Array.from({ length: 30 }, (_, i) => `${"w".repeat(30)}${i}@d${i}.example`);
    const contacts = [
      ...CONTACTS,
      storedContact({
        createdDate: 1_700_000_000_100,
        updatedDate: 1_700_000_000_100,
        info: { name: { first: "Many" }, emails: { items: many.map((email) => ({ email })) } },
      }),
    ];
    expect(wordList(searchTokens((contacts.at(-1) as StoredContact).info))).toBeNull();
    const others = otherTenants([700, 20], (i) => `Name${i}`);
    const db = await open();
    await writtenThenDownTo(db, emailTokensMarked.name, contacts, others);
    expect(await db.schema.hasColumn("contact_search_tokens", "words")).toBe(false);

    await db.migrate.latest();

    const everyone = [...contacts.map((c) => ({ tenant: TENANT, c })), ...others.flatMap((o) => o.contacts.map((c) => ({ tenant: o.tenant, c })))];
    for (const { tenant, c } of everyone) {
      const rows = (await db("contact_search_tokens").where({ tenant_id: tenant, contact_id: c.id }).select("token", "words")) as {
        token: string;
        words: string | null;
      }[];
      const expected = wordList(searchTokens(c.info));
      expect(rows.length, c.id).toBe(searchTokens(c.info).length);
      for (const r of rows) expect(wordsOf(r.words), `${c.id} ${r.token}`).toEqual(wordsOf(expected));
      if (expected !== null) expect([...expected].length).toBeLessThanOrEqual(WORDS_MAX);
    }
  });
});

/** Contacts for the prefix migrations: letters outside the BMP are one character each; a phone's words and digits are words too. */
const PREFIX_CONTACTS = [
  ...CONTACTS,
  storedContact({
    createdDate: 1_700_000_000_200,
    updatedDate: 1_700_000_000_200,
    info: { name: { first: "jo𝐀n", last: "Ég" }, phones: { items: [{ phone: "+1 201-555-0123" }] }, emails: { items: [{ email: "𝐀𝐁x@y.io" }] } },
  }),
];

const PREFIX_MIGRATIONS = [
  {
    title: "migration 010 (search prefixes)",
    migration: searchPrefixes,
    before: searchTokenWords.name,
    table: "contact_search_prefixes" as const,
    // John's words and the astral contact's words, emails and phone.
    expected: [
      ["j", "jo", "joh", "john", "s", "smit", "e", "exam", "c", "co", "com", "js", "o", "or", "org"],
      ["jo𝐀", "jo𝐀n", "ég", "𝐀𝐁x", "1201", "201", "555", "0123", "y", "io"],
    ],
  },
  {
    title: "migration 011 (name prefixes)",
    migration: namePrefixes,
    before: searchPrefixes.name,
    table: "contact_name_prefixes" as const,
    expected: [
      ["first j", "first jo", "first joh", "first john", "last s", "last sm", "last smi", "last smit"],
      ["first j", "first jo", "first jo𝐀", "first jo𝐀n", "last é", "last ég"],
    ],
  },
];

for (const { title, migration, before, table, expected } of PREFIX_MIGRATIONS) {
  describe.each(STORES)(`${title} on %s`, (store) => {
    const open = freshDatabase(store);

    it("gives every contact the rows a write makes (in batches, across tenants; run again after an interruption, it completes the fill)", async () => {
      const others = otherTenants([1_100, 20], (i) => `N${i}`);
      const db = await open();
      await writtenThenDownTo(db, before, PREFIX_CONTACTS, others);
      expect(await db.schema.hasTable(table)).toBe(false);

      await db.migrate.latest();

      const everyone = [...PREFIX_CONTACTS.map((c) => ({ tenant: TENANT, c })), ...others.flatMap((o) => o.contacts.map((c) => ({ tenant: o.tenant, c })))];
      type Row = { field?: string; prefix: string; created_at: number | string };
      const key = (r: Row) => `${r.field ?? "-"} ${r.prefix} ${Number(r.created_at)}`;
      const rowsOf = async (tenant: string, c: StoredContact) => (await db(table).where({ tenant_id: tenant, contact_id: c.id })) as Row[];
      const expectEveryonesRows = async () => {
        for (const { tenant, c } of everyone)
          expect((await rowsOf(tenant, c)).map(key).sort(), c.id).toEqual((indexRows(tenant, c)[table] as Row[]).map(key).sort());
      };
      await expectEveryonesRows();
      // Interrupted part-way (the table made, some rows written), the fill run again completes it.
      await db(table).where("tenant_id", "a-other").where("prefix", ">", "n4").delete();
      await db(table).where("tenant_id", TENANT).delete();
      await migration.up(db);
      await expectEveryonesRows();
      const [john, , , , astral] = PREFIX_CONTACTS as StoredContact[];
      const named = async (c: StoredContact) => (await rowsOf(TENANT, c)).map((r) => (r.field ? `${r.field} ${r.prefix}` : r.prefix));
      expect(await named(john as StoredContact)).toEqual(expect.arrayContaining(expected[0] as string[]));
      expect(await named(astral as StoredContact)).toEqual(expect.arrayContaining(expected[1] as string[]));
      const [{ n }] = (await db(table).count({ n: "*" })) as [{ n: number | string }];
      expect(Number(n)).toBe(everyone.reduce((sum, { tenant, c }) => sum + indexRows(tenant, c)[table].length, 0));
    });
  });
}

describe("servers started together on one MariaDB database", () => {
  it("all start: one migrates while the others wait; knex's lock left set by a dead server, or doubled by a race, is repaired", {
    timeout: 120_000,
  }, async () => {
    const database = await createTestDatabase("migrate_together");
    const servers: TestServer[] = [];
    try {
      servers.push(...(await Promise.all([0, 1, 2].map(() => startTestServer("mysql", { databaseUrl: database.url })))));
      const db = (servers[0] as TestServer).server.db;
      expect(await db("knex_migrations_lock").select("is_locked")).toEqual([{ is_locked: 0 }]);
      const applied = (await db("knex_migrations").pluck("name")) as string[];
      expect(new Set(applied).size, "each migration ran once").toBe(applied.length);
      // What two servers racing to create the lock table left behind with knex alone (every later
      // start refused: "Migration table is already locked"), and a lock a dead server held.
      await db("knex_migrations_lock").delete();
      await db("knex_migrations_lock").insert([{ is_locked: 1 }, { is_locked: 0 }]);
      servers.push(await startTestServer("mysql", { databaseUrl: database.url }));
      expect(await db("knex_migrations_lock").select("is_locked")).toEqual([{ is_locked: 0 }]);
    } finally {
      for (const s of servers) await s.close();
      await database.drop();
    }
  });
});
