/**
 * Every indexed QueryContacts shape of the query bench (bench/query.ts, issue 5 item 5) uses an
 * index on MariaDB: the statements the server runs for the call are captured through knex's
 * `query` event and EXPLAINed; no table of the plan may be read by a full scan (`type=ALL`) or
 * without a key. A few shapes must also use the specific index their speed at a million contacts
 * rests on (bench/RESULTS.md): a label under the date sort reads contact_labels_key_idx in page
 * order, a company filter sorted by name reads contacts_company_exact_idx (and counts from it
 * alone), the date sort reads contacts_created_idx.
 *
 * The data set is small (300 contacts in the tenant queried, 600 in two tenants around it),
 * loaded through the store's bulk path with the bench's generator; ANALYZE gives the optimizer
 * statistics. MariaDB only: SQLite's plans are another language.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateContact, type Keys, LABELS, prng, storedContact } from "../bench/seed-data.js";
import { SortOrder } from "../gen/contacts/v1/common_pb.js";
import { FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import type { StoredContact } from "../server/src/domain/contacts.js";
import { insertContacts } from "../server/src/store/contacts.js";
import { startTestServer, type TestServer } from "./support/server.js";

const TENANT = "explain-mid";
const NEIGHBOURS = ["explain-a", "explain-z"];

interface Statement {
  sql: string;
  bindings: readonly Knex.RawBinding[];
}
interface PlanRow {
  id: number;
  select_type: string;
  table: string | null;
  type: string | null;
  key: string | null;
  rows: number | null;
  Extra: string | null;
}

describe("EXPLAIN of the indexed query shapes on mysql", () => {
  let t: TestServer;
  let keys: Keys;
  const emails: string[] = [];
  const companies: string[] = [];
  let sink: Statement[] | undefined;

  /** The custom fields (queries need their types); labels need no definition to be queried. */
  async function defineSchema(tenantId: string): Promise<Keys> {
    const c = t.clients(tenantId);
    const field = async (displayName: string, dataType: FieldDataType) =>
      (await c.fields.findOrCreateExtendedField({ displayName, dataType })).field?.key ?? "";
    return {
      labels: LABELS.map((_, i) => `custom.label-${i}`),
      number: await field("Lifetime Value", FieldDataType.NUMBER),
      date: await field("Renewal Date", FieldDataType.DATE),
      text: await field("Notes", FieldDataType.TEXT),
    };
  }

  /** Loads contacts through the bulk path; the neighbours use the same label and field keys. */
  async function load(tenantId: string, count: number, seed: number, k: Keys): Promise<void> {
    const rand = prng(seed);
    const contacts: StoredContact[] = [];
    for (let n = 0; n < count; n++) {
      const contact = storedContact(generateContact(rand, n, tenantId.replace(/[^a-z]/g, ""), k));
      const info = contact.info;
      contacts.push(contact);
      if (tenantId === TENANT && info.emails?.items?.[0]?.email) emails.push(info.emails.items[0].email.toLowerCase());
      if (tenantId === TENANT && info.company) companies.push(info.company);
    }
    await t.server.db.transaction((trx) => insertContacts(trx, tenantId, contacts));
  }

  beforeAll(async () => {
    const started = performance.now();
    t = await startTestServer("mysql");
    keys = await defineSchema(TENANT);
    await load(NEIGHBOURS[0] as string, 300, 11, keys);
    await load(TENANT, 300, 12, keys);
    await load(NEIGHBOURS[1] as string, 300, 13, keys);
    for (const table of [
      "contacts",
      "contact_emails",
      "contact_labels",
      "contact_field_values",
      "contact_search_tokens",
      "contact_search_prefixes",
      "contact_name_prefixes",
    ]) {
      await t.server.db.raw("analyze table ??", [table]);
    }
    console.log(`[query-explain] data set loaded in ${Math.round(performance.now() - started)} ms`);
    t.server.db.on("query", (q: { sql: string; bindings?: Knex.RawBinding[] }) => sink?.push({ sql: q.sql, bindings: q.bindings ?? [] }));
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  /** The contact statements of one QueryContacts call: the page query and the capped count. */
  async function statementsOf(req: Parameters<ReturnType<TestServer["clients"]>["contacts"]["queryContacts"]>[0]): Promise<Statement[]> {
    sink = [];
    const res = await t.clients(TENANT).contacts.queryContacts(req);
    const captured = sink;
    sink = undefined;
    expect(res.contacts.length).toBeGreaterThan(0);
    const contactStatements = captured.filter(
      (s) => /\b(contacts|contact_labels|contact_search_prefixes|contact_name_prefixes)\b/.test(s.sql) && /^select/i.test(s.sql),
    );
    expect(contactStatements.length).toBeGreaterThan(0);
    return contactStatements;
  }

  async function explain(s: Statement): Promise<PlanRow[]> {
    const [rows] = (await t.server.db.raw(`explain ${s.sql}`, [...s.bindings])) as [PlanRow[]];
    return rows;
  }

  /**
   * Every real table of every statement is read through a key. Returns the page statement's
   * plan rows by table alias (the page statement is the one that reads the documents).
   */
  async function expectIndexed(req: Parameters<typeof statementsOf>[0]): Promise<Map<string, PlanRow>> {
    let page = new Map<string, PlanRow>();
    for (const s of await statementsOf(req)) {
      const plan = await explain(s);
      for (const row of plan) {
        if (!row.table || row.table.startsWith("<")) continue; // derived tables and materialised subqueries
        const where = `${row.table} in ${s.sql}\n${JSON.stringify(plan, null, 1)}`;
        expect(row.type, where).not.toBe("ALL");
        expect(row.type, where).not.toBe("index"); // a full index scan is a full scan too
        expect(row.key, where).not.toBeNull();
      }
      if (/\bdoc\b/.test(s.sql)) page = new Map(plan.filter((r) => r.table).map((r) => [r.table as string, r]));
    }
    return page;
  }

  const filter = (f: JsonObject) => ({ query: { filter: f } });

  it("email eq", async () => {
    await expectIndexed(filter({ "info.emails.email": emails[7] as string }));
  });

  it("name startsWith: a prefix of up to four characters reads its name-prefix rows in page order", async () => {
    const page = await expectIndexed(filter({ "info.name.first": { $startsWith: "Jam" } }));
    expect(page.get("l")?.key).toBe("PRIMARY");
    // The key is the whole query: no contact row is read to test the name again.
    expect(page.has("c")).toBe(false);
    expect(page.get("l")?.Extra ?? "").not.toMatch(/filesort/);
    // Longer: the distinct names' runs of the name+created index, merged.
    await expectIndexed(filter({ "info.name.first": { $startsWith: "james" } }));
  });

  it("label hasSome: a label's contacts come from contact_labels_key_idx in creation order", async () => {
    for (const label of [keys.labels[0], keys.labels[5]]) {
      const plans = await expectIndexed(filter({ "info.labelKeys": { $hasSome: [label as string] } }));
      expect(plans.get("l")?.key).toBe("contact_labels_key_idx");
      expect(plans.get("l")?.Extra ?? "").not.toMatch(/filesort/);
    }
  });

  it("label hasSome with another condition, and $hasAll", async () => {
    await expectIndexed(filter({ "info.labelKeys": { $hasSome: [keys.labels[0] as string] }, "info.company": { $exists: true } }));
    await expectIndexed(filter({ "info.labelKeys": { $hasAll: [keys.labels[0] as string, keys.labels[1] as string] } }));
  });

  it("extended-field range: one index range over contact_field_values, sorted there (no contact row read)", async () => {
    const plans = await expectIndexed(filter({ [`info.extendedFields.${keys.number}`]: { $gt: 20_000, $lt: 40_000 } }));
    expect(plans.get("v")?.key).toBe("contact_field_values_num_created_idx");
    expect(plans.has("c")).toBe(false);
    await expectIndexed(filter({ [`info.extendedFields.${keys.date}`]: { $gte: "2020-01-01", $lt: "2022-01-01" } }));
  });

  it("company eq + sort by name: counted from contacts_company_exact_idx alone, paged from it in order", async () => {
    const req = {
      query: { filter: { "info.company": companies[0] as string }, sort: [{ fieldName: "info.name.first", order: SortOrder.ASC }] },
    };
    const plans = await expectIndexed(req);
    expect(plans.get("c")?.key).toBe("contacts_company_exact_idx");
    expect(plans.get("c")?.Extra ?? "").not.toMatch(/filesort/);
    const counts = (await statementsOf(req)).filter((s) => /^select count/i.test(s.sql));
    expect(counts.length).toBe(1);
    const count = (await explain(counts[0] as Statement)).find((r) => r.table === "c");
    expect(count?.key, JSON.stringify(count)).toBe("contacts_company_exact_idx");
    // "Using index": the exact company is compared in the index; no contact row is read.
    expect(count?.Extra ?? "").toMatch(/Using index/);
  });

  it("search: an email, a name, a prefix; a short word's page and count read its prefix rows in page order", async () => {
    for (const search of [emails[3] as string, "james smith", "garc"]) {
      sink = [];
      const res = await t.clients(TENANT).contacts.queryContacts({ search });
      sink = undefined;
      if (res.contacts.length === 0) continue; // a name that is not in this small set
      await expectIndexed({ search });
    }
    for (const search of ["ga", "j"]) {
      const page = await expectIndexed({ search, query: { pagingMethod: { case: "paging", value: { limit: 20 } } } });
      expect(page.get("l")?.key, search).toBe("PRIMARY");
      // No sort: the rows come off the index in page order.
      expect(page.get("l")?.Extra ?? "", search).not.toMatch(/filesort/);
    }
  });

  it("cursor pages (first and after a cursor) read contacts_created_idx; an offset page an index", async () => {
    const first = await expectIndexed({ query: { pagingMethod: { case: "cursorPaging", value: { limit: 50 } } } });
    expect(first.get("c")?.key).toBe("contacts_created_idx");
    const page = await t.clients(TENANT).contacts.queryContacts({ query: { pagingMethod: { case: "cursorPaging", value: { limit: 120 } } } });
    const cursor = page.pagingMetadata?.cursors?.next ?? "";
    expect(cursor).not.toBe("");
    const deep = await expectIndexed({ query: { pagingMethod: { case: "cursorPaging", value: { limit: 50, cursor } } } });
    expect(deep.get("c")?.key).toBe("contacts_created_idx");
    // Which index an offset page reads depends on how much of this small tenant the offset skips;
    // that it reads one is what holds at any size.
    await expectIndexed({ query: { pagingMethod: { case: "paging", value: { offset: 100, limit: 50 } } } });
  });
});
