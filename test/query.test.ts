/**
 * QueryContacts, ListContacts, ListFacets and QueryFacets by example (reference §2.8–2.10, §5;
 * issue 5), on MariaDB and SQLite: every filterable path of §5.2 with each of its operators,
 * combinators, sorting on every sortable path both ways, search with a filter, projection, offset
 * and cursor paging metadata, the count cap, every error with its path, and facets whose ready
 * filters select what they counted. test/query-properties.test.ts checks the same at random.
 */
import { randomUUID } from "node:crypto";
import { fromJson, type JsonObject, type JsonValue, toJson } from "@bufbuild/protobuf";
import { type Value, ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Contact, type ContactInfoJson, ContactInfoSchema, FacetType, MemberStatus } from "../gen/contacts/v1/contact_pb.js";
import { SortOrder } from "../gen/contacts/v1/common_pb.js";
import { ContactFieldSet } from "../gen/contacts/v1/contacts_service_pb.js";
import { FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import type { StoredContact } from "../server/src/domain/contacts.js";
import { insertContacts } from "../server/src/store/contacts.js";
import { expectError } from "./support/errors.js";
import { STORES, startTestServer, type TestServer } from "./support/server.js";

/** Extended field values as plain JSON (they travel as google.protobuf.Value). */
function ext(contact: Contact | undefined): Record<string, JsonValue> {
  return Object.fromEntries(Object.entries(contact?.info?.extendedFields?.items ?? {}).map(([k, v]) => [k, toJson(ValueSchema, v)]));
}

/** 190 characters: sort keys and indexed prefixes keep exactly this many. */
const P = `${"x".repeat(180)} abcdefghi`;
const LONG_EMAIL_LOCAL = "l".repeat(200);

/** The fixture: handles → contact info (JSON form). */
const FIXTURE: Record<string, ContactInfoJson> = {
  ada: {
    name: { first: "Ada", last: "Lovelace" },
    emails: { items: [{ email: "Ada@Example.com" }, { email: "ada.work@corp.io" }] },
    phones: { items: [{ phone: "(201) 555-0123", countryCode: "US" }] },
    addresses: { items: [{ address: { addressLine: "12 Main St", city: "London", subdivision: "GB-ENG", country: "GB" } }] },
    company: "Analytical Engines",
    jobTitle: "Mathematician",
    birthdate: "1815-12-10",
    locale: "en-GB",
    labelKeys: { items: ["custom.vip", "custom.math"] },
    locations: { items: ["loc-1"] },
    extendedFields: { items: { "custom.notes": "First programmer", "custom.score": 99.5, "custom.met-on": "1833-06-05", "custom.website": "example.com/ada" } },
  },
  grace: {
    name: { first: "Grace", last: "Hopper" },
    emails: { items: [{ email: "grace@navy.mil" }] },
    phones: { items: [{ phone: "+1 202 555 0199" }, { phone: "call me" }] },
    addresses: { items: [{ address: { streetAddress: { number: "1", name: "Navy Way" }, city: "Arlington", subdivision: "US-VA", country: "US" } }] },
    company: "US Navy",
    jobTitle: "Rear Admiral",
    birthdate: "1906-12-09",
    locale: "en-US",
    labelKeys: { items: ["custom.vip"] },
    locations: { items: ["loc-1", "loc-2"] },
    extendedFields: { items: { "custom.notes": "COBOL", "custom.score": 87, "custom.met-on": "1944-01-01", "custom.website": "https://navy.mil" } },
  },
  alan: {
    name: { first: "Alan", last: "Turing" },
    emails: { items: [{ email: "alan@bletchley.uk" }] },
    addresses: { items: [{ address: { addressLine: "Bletchley Park", city: "Milton Keynes", country: "GB" } }] },
    company: "bletchley park",
    jobTitle: "Cryptanalyst",
    birthdate: "1912-06-23",
    locale: "en-GB",
    labelKeys: { items: ["custom.math"] },
    extendedFields: { items: { "custom.notes": "enigma", "custom.score": 100, "custom.met-on": "1939-09-04" } },
  },
  ada2: {
    name: { first: "ADA", last: "lovelace" },
    emails: { items: [{ email: "ADA@example.com" }] },
    phones: { items: [{ phone: "020 7946 0958", countryCode: "GB" }] },
    company: "analytical engines",
    extendedFields: { items: { "custom.score": -5 } },
  },
  nobody: { phones: { items: [{ phone: "555_0100" }] } },
  zoe: {
    name: { first: "Zoë", last: "Ünal" },
    emails: { items: [{ email: "zoë@exämple.de" }] },
    company: "Ünicorp",
    jobTitle: "ceo",
    locale: "de-DE",
    labelKeys: { items: ["contacts.customers"] },
    extendedFields: { items: { "custom.notes": "hello ", "custom.met-on": "2020-02-29" } },
  },
  long1: { name: { first: `${P}alpha`, last: "Long" } },
  long2: { name: { first: `${P.toUpperCase()}beta`, last: "Long" }, emails: { items: [{ email: `${LONG_EMAIL_LOCAL}b@long.example.com` }] } },
};
const ALL = Object.keys(FIXTURE).sort();

describe.each(STORES)("contact queries on %s", (store) => {
  let t: TestServer;
  let c: ReturnType<TestServer["clients"]>;
  /** handle → contact as created, and id → handle. */
  const made = new Map<string, Contact>();
  const handleOf = new Map<string, string>();
  const id = (h: string) => made.get(h)?.id as string;

  beforeAll(async () => {
    t = await startTestServer(store);
    c = t.clients("q");
    await c.fields.findOrCreateExtendedField({ displayName: "Notes", dataType: FieldDataType.TEXT });
    await c.fields.findOrCreateExtendedField({ displayName: "Score", dataType: FieldDataType.NUMBER });
    await c.fields.findOrCreateExtendedField({ displayName: "Met On", dataType: FieldDataType.DATE });
    await c.fields.findOrCreateExtendedField({ displayName: "Website", dataType: FieldDataType.URL });
    await c.labels.findOrCreateLabel({ displayName: "VIP" });
    await c.labels.findOrCreateLabel({ displayName: "Math" });
    await c.labels.findOrCreateLabel({ displayName: "Unused" });
    // One at a time, a few ms apart: creation order is the default order.
    for (const [h, info] of Object.entries(FIXTURE)) {
      const res = await c.contacts.createContact({ info: fromJson(ContactInfoSchema, info as JsonObject), allowDuplicates: true });
      made.set(h, res.contact as Contact);
      handleOf.set(res.contact?.id as string, h);
      await new Promise((r) => setTimeout(r, 3));
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Adds `n` plain contacts to a tenant through the store's bulk path (so plans use indexes). */
  async function fill(tenant: string, n: number) {
    const now = Date.now() - 1_000_000;
    const bulk: StoredContact[] = Array.from({ length: n }, (_, i) => ({
      id: randomUUID(),
      revision: 1,
      createdDate: now + i,
      updatedDate: now + i,
      source: { sourceType: "CONTACT_SOURCE_TYPE_ADMIN" },
      lastActivity: { activityDate: now + i, activityType: "CONTACT_ACTIVITY_TYPE_CONTACT_CREATED" },
      info: { name: { first: `jz${i}`, last: `w${i}` }, company: `j${i}`, emails: { items: [{ id: randomUUID(), email: `jz${i}@x.io`, primary: true }] } },
    }));
    await t.server.db.transaction((trx) => insertContacts(trx, tenant, bulk));
    // Fresh statistics, so that MariaDB plans with the indexes as it would on a big tenant.
    if (store === "mysql") await t.server.db.raw("analyze table contacts, contact_emails, contact_search_tokens");
  }

  type QueryOptions = { sort?: [string, SortOrder?]; search?: string; limit?: number; offset?: number; tenant?: string };

  async function query(filter: JsonObject | undefined, o: QueryOptions = {}) {
    const clients = o.tenant ? t.clients(o.tenant) : c;
    return clients.contacts.queryContacts({
      query: {
        ...(filter ? { filter } : {}),
        sort: o.sort ? [{ fieldName: o.sort[0], order: o.sort[1] ?? SortOrder.ASC }] : [],
        pagingMethod: { case: "paging", value: { limit: o.limit ?? 1000, ...(o.offset !== undefined ? { offset: o.offset } : {}) } },
      },
      search: o.search ?? "",
    });
  }
  /** The handles matching, sorted by name (set comparison). */
  async function matching(filter: JsonObject, o: QueryOptions = {}): Promise<string[]> {
    const res = await query(filter, o);
    return res.contacts.map((x) => handleOf.get(x.id) as string).sort();
  }
  /** The handles matching, in the order returned. */
  async function ordered(filter: JsonObject | undefined, o: QueryOptions = {}): Promise<string[]> {
    return (await query(filter, o)).contacts.map((x) => handleOf.get(x.id) as string);
  }
  const not = (hs: string[]) => ALL.filter((h) => !hs.includes(h));
  /** Checks each [filter, handles] case, naming the case on failure. */
  async function cases(list: [JsonObject, string[]][]) {
    for (const [filter, want] of list) expect(await matching(filter), JSON.stringify(filter)).toEqual([...want].sort());
  }

  describe("filters: every path with each of its operators", () => {
    it("id: $eq $ne $in $nin $exists", async () => {
      await cases([
        [{ id: id("ada") }, ["ada"]],
        [{ id: { $eq: id("grace") } }, ["grace"]],
        [{ id: { $ne: id("ada") } }, not(["ada"])],
        [{ id: { $in: [id("ada"), id("alan"), "nope"] } }, ["ada", "alan"]],
        [{ id: { $nin: [id("ada"), id("alan")] } }, not(["ada", "alan"])],
        [{ id: { $exists: true } }, ALL],
        [{ id: { $exists: false } }, []],
        [{ id: `${id("ada")} ` }, []],
      ]);
    });

    it("createdDate, updatedDate, lastActivity.activityDate: $eq $ne $gt $gte $lt $lte (ISO strings or {$date})", async () => {
      const created = (h: string) =>
        new Date(Number(made.get(h)?.createdDate?.seconds) * 1000 + Math.floor((made.get(h)?.createdDate?.nanos ?? 0) / 1e6)).toISOString();
      const order = Object.keys(FIXTURE); // creation order
      const later = (h: string) => order.slice(order.indexOf(h) + 1);
      const earlier = (h: string) => order.slice(0, order.indexOf(h));
      for (const path of ["createdDate", "updatedDate", "lastActivity.activityDate"]) {
        await cases([
          [{ [path]: created("alan") }, ["alan"]],
          [{ [path]: { $eq: { $date: created("alan") } } }, ["alan"]],
          [{ [path]: { $date: created("alan") } }, ["alan"]],
          [{ [path]: { $ne: created("alan") } }, not(["alan"])],
          [{ [path]: { $gt: created("alan") } }, later("alan")],
          [{ [path]: { $gte: created("alan") } }, ["alan", ...later("alan")]],
          [{ [path]: { $lt: { $date: created("alan") } } }, earlier("alan")],
          [{ [path]: { $lte: created("alan") } }, [...earlier("alan"), "alan"]],
          [{ [path]: { $gt: created("ada"), $lt: created("ada2") } }, ["grace", "alan"]],
          [{ [path]: { $lt: "2000-01-01" } }, []],
        ]);
      }
      // A date-time without an offset is UTC, whatever the server's time zone.
      const tz = process.env.TZ;
      process.env.TZ = "America/New_York";
      try {
        await cases([
          [{ createdDate: created("alan").replace(/Z$/, "") }, ["alan"]],
          [{ createdDate: { $lt: created("alan").replace(/Z$/, "") } }, earlier("alan")],
        ]);
      } finally {
        if (tz === undefined) delete process.env.TZ;
        else process.env.TZ = tz;
      }
      // updatedDate moves on every change; createdDate does not.
      const before1 = await c.contacts.getContact({ id: id("nobody") });
      await new Promise((r) => setTimeout(r, 5));
      await c.contacts.updateContact({
        contactId: id("nobody"),
        revision: before1.contact?.revision ?? 0,
        info: { locale: "fr" },
        fieldMask: { paths: ["info.locale"] },
      });
      expect(await matching({ updatedDate: { $gte: created("long2") } })).toEqual(["long2", "nobody"]);
      expect(await matching({ createdDate: { $gte: created("long2") } })).toEqual(["long2"]);
      expect(await matching({ "lastActivity.activityDate": { $gte: created("long2") } })).toEqual(["long2"]);
      await c.contacts.updateContact({
        contactId: id("nobody"),
        revision: (before1.contact?.revision ?? 0) + 1,
        info: {},
        fieldMask: { paths: ["info.locale"] },
      });
    });

    it("primaryInfo.email and primaryEmail.email: $eq $ne $in $exists $startsWith, case-insensitive", async () => {
      for (const path of ["primaryInfo.email", "primaryEmail.email"]) {
        await cases([
          [{ [path]: "ada@example.com" }, ["ada", "ada2"]],
          [{ [path]: { $eq: "ADA@EXAMPLE.COM" } }, ["ada", "ada2"]],
          [{ [path]: { $ne: "ada@example.com" } }, not(["ada", "ada2"])],
          [{ [path]: { $in: ["Grace@Navy.mil", "alan@bletchley.uk"] } }, ["grace", "alan"]],
          // Only the primary email counts here.
          [{ [path]: "ada.work@corp.io" }, []],
          [{ [path]: { $exists: true } }, ["ada", "ada2", "grace", "alan", "zoe", "long2"]],
          [{ [path]: { $exists: false } }, ["nobody", "long1"]],
          [{ [path]: { $startsWith: "AdA@" } }, ["ada", "ada2"]],
          [{ [path]: { $startsWith: "ZOË" } }, ["zoe"]],
          [{ [path]: { $startsWith: `${LONG_EMAIL_LOCAL}b@` } }, ["long2"]],
          [{ [path]: { $startsWith: `${LONG_EMAIL_LOCAL}x` } }, []],
        ]);
      }
    });

    it("primaryEmail/primaryPhone statuses and the emailSubscriptions system fields: $eq $ne $in $nin (proto names too)", async () => {
      const withEmail = ["ada", "ada2", "grace", "alan", "zoe", "long2"];
      for (const path of ["primaryEmail.subscriptionStatus", "info.extendedFields.emailSubscriptions.subscriptionStatus"]) {
        await cases([
          [{ [path]: "NOT_SET" }, withEmail],
          [{ [path]: { $eq: "SUBSCRIPTION_STATUS_NOT_SET" } }, withEmail],
          [{ [path]: { $ne: "NOT_SET" } }, not(withEmail)],
          [{ [path]: { $in: ["SUBSCRIBED", "PENDING"] } }, []],
          [{ [path]: { $nin: ["SUBSCRIBED"] } }, ALL],
        ]);
      }
      for (const path of ["primaryEmail.deliverabilityStatus", "info.extendedFields.emailSubscriptions.deliverabilityStatus"]) {
        await cases([
          [{ [path]: "NOT_SET" }, withEmail],
          [{ [path]: { $in: ["EMAIL_DELIVERABILITY_STATUS_NOT_SET", "VALID"] } }, withEmail],
          [{ [path]: { $nin: ["NOT_SET"] } }, not(withEmail)],
          [{ [path]: { $ne: "BOUNCED" } }, ALL],
        ]);
      }
      await cases([
        [{ "primaryPhone.subscriptionStatus": "NOT_SET" }, ["ada", "grace", "ada2"]],
        [{ "primaryPhone.subscriptionStatus": "NO_SUBSCRIPTION_STATUS" }, ["nobody"]],
        [{ "primaryPhone.subscriptionStatus": { $ne: "NOT_SET" } }, not(["ada", "grace", "ada2"])],
        [{ "primaryPhone.subscriptionStatus": { $in: ["NOT_SET", "SUBSCRIPTION_STATUS_NO_SUBSCRIPTION_STATUS"] } }, ["ada", "grace", "ada2", "nobody"]],
        [{ "primaryPhone.subscriptionStatus": { $nin: ["NOT_SET"] } }, not(["ada", "grace", "ada2"])],
        [{ "info.extendedFields.emailSubscriptions.effectiveEmail": { $exists: true } }, withEmail],
        [{ "info.extendedFields.emailSubscriptions.effectiveEmail": { $exists: false } }, not(withEmail)],
        [{ "info.extendedFields.contacts.displayByFirstName": { $exists: true } }, not(["nobody"])],
        [{ "info.extendedFields.contacts.displayByFirstName": { $exists: false } }, ["nobody"]],
      ]);
    });

    it("primary phone paths: $eq $ne $in $exists $startsWith", async () => {
      for (const path of ["primaryInfo.phone", "primaryPhone.phone"]) {
        await cases([
          [{ [path]: "(201) 555-0123" }, ["ada"]],
          [{ [path]: "call me" }, []], // not the primary phone
          [{ [path]: { $ne: "(201) 555-0123" } }, not(["ada"])],
          [{ [path]: { $in: ["555_0100", "+1 202 555 0199"] } }, ["nobody", "grace"]],
          [{ [path]: { $exists: true } }, ["ada", "grace", "ada2", "nobody"]],
          [{ [path]: { $exists: false } }, not(["ada", "grace", "ada2", "nobody"])],
          [{ [path]: { $startsWith: "(201)" } }, ["ada"]],
          [{ [path]: { $startsWith: "555_" } }, ["nobody"]],
          [{ [path]: { $startsWith: "555%" } }, []],
        ]);
      }
      await cases([
        [{ "primaryPhone.e164Phone": "+12015550123" }, ["ada"]],
        [{ "primaryPhone.e164Phone": { $ne: "+12015550123" } }, not(["ada"])],
        [{ "primaryPhone.e164Phone": { $in: ["+442079460958", "+12025550199"] } }, ["ada2", "grace"]],
        [{ "primaryPhone.e164Phone": { $exists: false } }, not(["ada", "grace", "ada2"])],
        [{ "primaryPhone.e164Phone": { $startsWith: "+1" } }, ["ada", "grace"]],
        [{ "primaryPhone.formattedPhone": "+1 201 555 0123" }, ["ada"]],
        [{ "primaryPhone.formattedPhone": { $startsWith: "+44 20" } }, ["ada2"]],
        [{ "primaryPhone.formattedPhone": { $in: ["+44 20 7946 0958"] } }, ["ada2"]],
        [{ "primaryPhone.formattedPhone": { $exists: true } }, ["ada", "grace", "ada2"]],
        [{ "primaryPhone.formattedPhone": { $ne: "+1 201 555 0123" } }, not(["ada"])],
        [{ "primaryPhone.countryCode": "US" }, ["ada"]],
        [{ "primaryPhone.countryCode": "us" }, []],
        [{ "primaryPhone.countryCode": { $startsWith: "g" } }, ["ada2"]],
        [{ "primaryPhone.countryCode": { $in: ["US", "GB"] } }, ["ada", "ada2"]],
        [{ "primaryPhone.countryCode": { $exists: false } }, not(["ada", "ada2"])],
        [{ "primaryPhone.countryCode": { $ne: "US" } }, not(["ada"])],
      ]);
    });

    it("info.name.first / info.name.last: $eq $ne $in $exists $startsWith (exact, prefix case-insensitive)", async () => {
      await cases([
        [{ "info.name.first": "Ada" }, ["ada"]],
        [{ "info.name.first": "ADA" }, ["ada2"]],
        [{ "info.name.first": "Ada " }, []],
        [{ "info.name.first": { $ne: "Ada" } }, not(["ada"])],
        [{ "info.name.first": { $in: ["Grace", "Alan", "grace"] } }, ["grace", "alan"]],
        [{ "info.name.first": { $exists: false } }, ["nobody"]],
        [{ "info.name.first": { $startsWith: "ad" } }, ["ada", "ada2"]],
        [{ "info.name.first": { $startsWith: "zOË" } }, ["zoe"]],
        [{ "info.name.first": { $startsWith: P } }, ["long1", "long2"]],
        [{ "info.name.first": { $startsWith: `${P}B` } }, ["long2"]],
        [{ "info.name.first": { $startsWith: `${P}alphaX` } }, []],
        [{ "info.name.first": `${P}alpha` }, ["long1"]],
        [{ "info.name.first": `${P}ALPHA` }, []],
        [{ "info.name.last": "lovelace" }, ["ada2"]],
        [{ "info.name.last": { $startsWith: "LOVE" } }, ["ada", "ada2"]],
        [{ "info.name.last": { $in: ["Long"] } }, ["long1", "long2"]],
        [{ "info.name.last": { $ne: "Long" } }, not(["long1", "long2"])],
        [{ "info.name.last": { $exists: true } }, not(["nobody"])],
      ]);
    });

    it("info.emails.email (any email, case-insensitive) and info.phones.phone / e164Phone (any phone)", async () => {
      await cases([
        [{ "info.emails.email": "ada.work@corp.io" }, ["ada"]],
        [{ "info.emails.email": "ADA@example.COM" }, ["ada", "ada2"]],
        [{ "info.emails.email": { $ne: "ada.work@corp.io" } }, not(["ada"])],
        [{ "info.emails.email": { $in: ["ada.work@corp.io", "grace@navy.mil"] } }, ["ada", "grace"]],
        [{ "info.emails.email": { $exists: false } }, ["nobody", "long1"]],
        [{ "info.emails.email": { $startsWith: "ADA." } }, ["ada"]],
        [{ "info.emails.email": { $startsWith: `${LONG_EMAIL_LOCAL}b` } }, ["long2"]],
        [{ "info.emails.email": { $startsWith: `${LONG_EMAIL_LOCAL}x` } }, []],
        [{ "info.phones.phone": "call me" }, ["grace"]],
        [{ "info.phones.phone": "Call Me" }, []],
        [{ "info.phones.phone": { $ne: "call me" } }, not(["grace"])],
        [{ "info.phones.phone": { $in: ["555_0100", "020 7946 0958"] } }, ["nobody", "ada2"]],
        [{ "info.phones.phone": { $exists: true } }, ["ada", "grace", "ada2", "nobody"]],
        [{ "info.phones.phone": { $startsWith: "CALL" } }, ["grace"]],
        [{ "info.phones.e164Phone": "+12025550199" }, ["grace"]],
        [{ "info.phones.e164Phone": { $ne: "+12025550199" } }, not(["grace"])],
        [{ "info.phones.e164Phone": { $in: ["+12015550123", "+442079460958"] } }, ["ada", "ada2"]],
        [{ "info.phones.e164Phone": { $exists: true } }, ["ada", "grace", "ada2"]],
        [{ "info.phones.e164Phone": { $startsWith: "+44" } }, ["ada2"]],
      ]);
    });

    it("info.addresses.*: street and city $eq $ne $in $exists $startsWith; subdivision and country $eq $ne $in $exists", async () => {
      await cases([
        [{ "info.addresses.street": "12 Main St" }, ["ada"]],
        [{ "info.addresses.street": "1 Navy Way" }, ["grace"]],
        [{ "info.addresses.street": { $ne: "12 Main St" } }, not(["ada"])],
        [{ "info.addresses.street": { $in: ["Bletchley Park", "nowhere"] } }, ["alan"]],
        [{ "info.addresses.street": { $exists: true } }, ["ada", "grace", "alan"]],
        [{ "info.addresses.street": { $startsWith: "bletch" } }, ["alan"]],
        [{ "info.addresses.city": "London" }, ["ada"]],
        [{ "info.addresses.city": { $startsWith: "MILTON" } }, ["alan"]],
        [{ "info.addresses.city": { $in: ["Arlington", "london"] } }, ["grace"]],
        [{ "info.addresses.city": { $exists: false } }, not(["ada", "grace", "alan"])],
        [{ "info.addresses.city": { $ne: "London" } }, not(["ada"])],
        [{ "info.addresses.subdivision": "US-VA" }, ["grace"]],
        [{ "info.addresses.subdivision": { $in: ["GB-ENG", "US-VA"] } }, ["ada", "grace"]],
        [{ "info.addresses.subdivision": { $exists: false } }, not(["ada", "grace"])],
        [{ "info.addresses.subdivision": { $ne: "US-VA" } }, not(["grace"])],
        [{ "info.addresses.country": "GB" }, ["ada", "alan"]],
        [{ "info.addresses.country": { $ne: "GB" } }, not(["ada", "alan"])],
        [{ "info.addresses.country": { $in: ["US"] } }, ["grace"]],
        [{ "info.addresses.country": { $exists: true } }, ["ada", "grace", "alan"]],
      ]);
    });

    it("info.company / info.jobTitle: $eq $ne $in $exists $startsWith; info.birthdate ranges; info.locale", async () => {
      await cases([
        [{ "info.company": "Analytical Engines" }, ["ada"]],
        [{ "info.company": { $ne: "Analytical Engines" } }, not(["ada"])],
        [{ "info.company": { $in: ["analytical engines", "US Navy"] } }, ["ada2", "grace"]],
        [{ "info.company": { $exists: false } }, ["nobody", "long1", "long2"]],
        [{ "info.company": { $startsWith: "ANALYTICAL" } }, ["ada", "ada2"]],
        [{ "info.company": { $startsWith: "ü" } }, ["zoe"]],
        [{ "info.jobTitle": "ceo" }, ["zoe"]],
        [{ "info.jobTitle": "CEO" }, []],
        [{ "info.jobTitle": { $startsWith: "C" } }, ["alan", "zoe"]],
        [{ "info.jobTitle": { $in: ["Mathematician", "Rear Admiral"] } }, ["ada", "grace"]],
        [{ "info.jobTitle": { $exists: true } }, ["ada", "grace", "alan", "zoe"]],
        [{ "info.jobTitle": { $ne: "ceo" } }, not(["zoe"])],
        [{ "info.birthdate": "1906-12-09" }, ["grace"]],
        [{ "info.birthdate": { $ne: "1906-12-09" } }, not(["grace"])],
        [{ "info.birthdate": { $gt: "1900-01-01" } }, ["grace", "alan"]],
        [{ "info.birthdate": { $gte: "1912-06-23" } }, ["alan"]],
        [{ "info.birthdate": { $lt: "1906-12-09" } }, ["ada"]],
        [{ "info.birthdate": { $lte: "1906-12-09" } }, ["ada", "grace"]],
        [{ "info.birthdate": { $gte: "1800-01-01", $lt: "1910-01-01" } }, ["ada", "grace"]],
        [{ "info.locale": "en-GB" }, ["ada", "alan"]],
        [{ "info.locale": { $ne: "en-GB" } }, not(["ada", "alan"])],
        [{ "info.locale": { $in: ["en-US", "de-DE"] } }, ["grace", "zoe"]],
        [{ "info.locale": { $exists: false } }, ["ada2", "nobody", "long1", "long2"]],
      ]);
    });

    it("info.labelKeys and info.locations: $hasSome $hasAll (and $exists)", async () => {
      await cases([
        [{ "info.labelKeys": { $hasSome: ["custom.vip"] } }, ["ada", "grace"]],
        [{ "info.labelKeys": { $hasSome: ["custom.vip", "custom.math"] } }, ["ada", "grace", "alan"]],
        [{ "info.labelKeys": { $hasAll: ["custom.vip", "custom.math"] } }, ["ada"]],
        [{ "info.labelKeys": { $hasAll: ["custom.vip", "custom.vip"] } }, ["ada", "grace"]],
        [{ "info.labelKeys": { $hasSome: ["custom.unused", "custom.nope"] } }, []],
        [{ "info.labelKeys": { $hasSome: ["custom.vip "] } }, []],
        [{ "info.labelKeys": { $exists: false } }, ["ada2", "nobody", "long1", "long2"]],
        [{ "info.labelKeys": { $exists: true } }, ["ada", "grace", "alan", "zoe"]],
        [{ $not: { "info.labelKeys": { $hasSome: ["custom.vip"] } } }, not(["ada", "grace"])],
        [{ "info.locations": { $hasSome: ["loc-2", "loc-9"] } }, ["grace"]],
        [{ "info.locations": { $hasAll: ["loc-1"] } }, ["ada", "grace"]],
        [{ "info.locations": { $hasAll: ["loc-1", "loc-2"] } }, ["grace"]],
        [{ "info.locations": { $exists: false } }, not(["ada", "grace"])],
      ]);
    });

    it("custom extended fields by type: TEXT/URL $eq $ne $in $startsWith; NUMBER and DATE ranges", async () => {
      await cases([
        [{ "info.extendedFields.custom.notes": "COBOL" }, ["grace"]],
        [{ "info.extendedFields.custom.notes": "cobol" }, []],
        [{ "info.extendedFields.custom.notes": { $ne: "COBOL" } }, not(["grace"])],
        [{ "info.extendedFields.custom.notes": { $in: ["enigma", "First programmer"] } }, ["alan", "ada"]],
        [{ "info.extendedFields.custom.notes": { $startsWith: "FIRST" } }, ["ada"]],
        // Values are compared exactly: a trailing space is part of the value.
        [{ "info.extendedFields.custom.notes": "hello " }, ["zoe"]],
        [{ "info.extendedFields.custom.notes": "hello" }, []],
        [{ "info.extendedFields.custom.notes": { $in: ["hello"] } }, []],
        [{ "info.extendedFields.custom.website": "https://example.com/ada" }, ["ada"]],
        [{ "info.extendedFields.custom.website": { $startsWith: "HTTPS://NAVY" } }, ["grace"]],
        [{ "info.extendedFields.custom.website": { $in: ["https://navy.mil", "navy.mil"] } }, ["grace"]],
        [{ "info.extendedFields.custom.website": { $ne: "https://navy.mil" } }, not(["grace"])],
        [{ "info.extendedFields.custom.score": 100 }, ["alan"]],
        [{ "info.extendedFields.custom.score": { $ne: 100 } }, not(["alan"])],
        [{ "info.extendedFields.custom.score": { $gt: 90 } }, ["ada", "alan"]],
        [{ "info.extendedFields.custom.score": { $gte: 99.5 } }, ["ada", "alan"]],
        [{ "info.extendedFields.custom.score": { $lt: 0 } }, ["ada2"]],
        [{ "info.extendedFields.custom.score": { $lte: 87 } }, ["grace", "ada2"]],
        [{ "info.extendedFields.custom.met-on": "1944-01-01" }, ["grace"]],
        [{ "info.extendedFields.custom.met-on": { $ne: "1944-01-01" } }, not(["grace"])],
        [{ "info.extendedFields.custom.met-on": { $gt: "1939-09-04" } }, ["grace", "zoe"]],
        [{ "info.extendedFields.custom.met-on": { $gte: "1939-09-04" } }, ["alan", "grace", "zoe"]],
        [{ "info.extendedFields.custom.met-on": { $lt: "1939-09-04" } }, ["ada"]],
        [{ "info.extendedFields.custom.met-on": { $lte: "1939-09-04", $gt: "1800-01-01" } }, ["ada", "alan"]],
      ]);
    });

    it("a custom field range with other conditions, newest first (MariaDB reads the page off the range's value rows)", async () => {
      const score = "info.extendedFields.custom.score";
      const metOn = "info.extendedFields.custom.met-on";
      await cases([
        [{ [score]: { $gt: 0 }, "info.locale": "en-GB" }, ["ada", "alan"]],
        [{ [score]: { $gt: 0 }, [metOn]: { $gt: "1900-01-01" } }, ["grace", "alan"]],
        [{ [score]: { $gt: 0, $lt: 100 }, $not: { "info.name.first": "Grace" } }, ["ada"]],
        [{ $and: [{ [score]: { $gte: -5 } }, { [score]: { $lte: 99.5 } }] }, ["ada", "grace", "ada2"]],
      ]);
      expect(await ordered({ [score]: { $gt: 0 }, [metOn]: { $gt: "1900-01-01" } })).toEqual(["alan", "grace"]);
      expect(await ordered({ [score]: { $gt: -10 } })).toEqual(["ada2", "alan", "grace", "ada"]);
      // Cursor pages of one: each match once, in order.
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const res = await c.contacts.queryContacts({
          query: { filter: { [score]: { $gt: -10 } }, pagingMethod: { case: "cursorPaging", value: { limit: 1, ...(cursor ? { cursor } : {}) } } },
        });
        seen.push(...res.contacts.map((x) => handleOf.get(x.id) as string));
        cursor = res.pagingMetadata?.cursors?.next || undefined;
      } while (cursor);
      expect(seen).toEqual(["ada2", "alan", "grace", "ada"]);
    });

    it("$and, $or, $not, several keys ANDed, bare values as $eq, and nesting", async () => {
      await cases([
        [{ "info.company": { $startsWith: "analytical" }, "info.labelKeys": { $hasSome: ["custom.vip"] } }, ["ada"]],
        [{ $and: [{ "info.locale": "en-GB" }, { "info.labelKeys": { $hasSome: ["custom.math"] } }] }, ["ada", "alan"]],
        [{ $or: [{ "info.name.first": "Grace" }, { "info.extendedFields.custom.score": { $lt: 0 } }] }, ["grace", "ada2"]],
        [{ $not: { "info.locale": "en-GB" } }, not(["ada", "alan"])],
        [{ $not: { $or: [{ "info.locale": { $exists: true } }, { "info.name.last": "Long" }] } }, ["ada2", "nobody"]],
        [
          { $and: [{ $or: [{ "info.name.first": { $startsWith: "a" } }, { "info.name.first": "Grace" }] }, { $not: { "info.name.first": "ADA" } }] },
          ["ada", "alan", "grace"],
        ],
        [{ "info.birthdate": { $gt: "1900-01-01", $lt: "1910-01-01" } }, ["grace"]],
        // $ne and $not hold where the value is missing.
        [{ "info.company": { $ne: "x" } }, ALL],
        [{ $not: { "info.company": "x" } }, ALL],
        [{ $not: { "info.emails.email": { $startsWith: "a" } } }, not(["ada", "ada2", "alan"])],
        [{}, ALL],
        // An empty object matches everything, wherever it is.
        [{ $not: {} }, []],
        [{ $or: [{}, { id: "nope" }] }, ALL],
        [{ $and: [{}, { "info.name.first": "Grace" }] }, ["grace"]],
        [{ $not: { $and: [{}] } }, []],
        [{ $or: [{ $not: {} }, { "info.name.first": "Grace" }] }, ["grace"]],
      ]);
    });

    it("$startsWith finds values where a character outside the BMP follows the prefix (MariaDB cuts LIKE ranges at U+FFFF)", async () => {
      const tenant = "prefix-astral";
      const other = t.clients(tenant);
      const { contact } = await other.contacts.createContact({
        info: { name: { first: "Jo𝐀n", last: "jo\tx" }, company: "jo😀", emails: { items: [{ email: "jo😀@x.io" }] } },
      });
      await fill(tenant, 300);
      const filters: JsonObject[] = [
        { "info.name.first": { $startsWith: "JO" } },
        { "info.name.first": { $startsWith: "jo𝐀" } },
        { "info.name.last": { $startsWith: "jo" } },
        { "info.company": { $startsWith: "jo" } },
        { "info.emails.email": { $startsWith: "jo" } },
        { "primaryInfo.email": { $startsWith: "Jo" } },
      ];
      for (const filter of filters) {
        const res = await other.contacts.queryContacts({ query: { filter } });
        expect(
          res.contacts.map((x) => x.id),
          JSON.stringify(filter),
        ).toEqual([contact?.id]);
      }
    });

    it("$startsWith is case-insensitive and takes LIKE wildcards literally", async () => {
      await cases([
        [{ "info.name.last": { $startsWith: "lOvE" } }, ["ada", "ada2"]],
        [{ "info.name.last": { $startsWith: "ÜN" } }, ["zoe"]],
        [{ "info.company": { $startsWith: "%" } }, []],
        [{ "info.company": { $startsWith: "_" } }, []],
        [{ "info.phones.phone": { $startsWith: "555_" } }, ["nobody"]],
        [{ "info.phones.phone": { $startsWith: "555!" } }, []],
      ]);
    });
  });

  describe("sort", () => {
    /** Expected order: `asc` handles in ascending order, the rest (no value) first, by id. */
    async function checkSort(path: string, asc: string[]) {
      const rest = ALL.filter((h) => !asc.includes(h)).sort((a, b) => (id(a) < id(b) ? -1 : 1));
      const want = [...rest, ...asc];
      expect(await ordered(undefined, { sort: [path, SortOrder.ASC] }), `${path} ASC`).toEqual(want);
      expect(await ordered(undefined, { sort: [path] }), `${path} (default ASC)`).toEqual(want);
      expect(await ordered(undefined, { sort: [path, SortOrder.DESC] }), `${path} DESC`).toEqual([...want].reverse());
    }
    const byId = (...hs: string[]) => hs.sort((a, b) => (id(a) < id(b) ? -1 : 1));

    it("default: createdDate descending, ties by id", async () => {
      const created = Object.keys(FIXTURE);
      expect(await ordered(undefined)).toEqual([...created].reverse());
      expect((await c.contacts.listContacts({ paging: { limit: 100 } })).contacts.map((x) => handleOf.get(x.id))).toEqual([...created].reverse());
      await checkSort("createdDate", created);
      await checkSort("lastActivity.activityDate", created);
    });

    it("on every sortable text path: lower-case, missing values first (ASC)", async () => {
      const email = ["ada", "ada2"].sort((a, b) => (id(a) < id(b) ? -1 : 1));
      await checkSort("primaryInfo.email", [...email, "alan", "grace", "long2", "zoe"]);
      await checkSort("primaryEmail.email", [...email, "alan", "grace", "long2", "zoe"]);
      await checkSort("info.extendedFields.emailSubscriptions.effectiveEmail", [...email, "alan", "grace", "long2", "zoe"]);
      await checkSort("info.name.first", [...byId("ada", "ada2"), "alan", "grace", ...byId("long1", "long2"), "zoe"]);
      await checkSort("info.name.last", ["grace", ...byId("long1", "long2"), ...byId("ada", "ada2"), "alan", "zoe"]);
      await checkSort("info.company", [...byId("ada", "ada2"), "alan", "grace", "zoe"]);
      await checkSort("info.jobTitle", ["zoe", "alan", "ada", "grace"]);
      await checkSort("primaryPhone.formattedPhone", ["ada", "grace", "ada2"]);
      await checkSort("primaryPhone.countryCode", ["ada2", "ada"]);
    });

    it("on dates and custom extended fields of every type", async () => {
      await checkSort("info.birthdate", ["ada", "grace", "alan"]);
      await checkSort("info.extendedFields.custom.notes", ["grace", "alan", "ada", "zoe"]);
      await checkSort("info.extendedFields.custom.website", ["ada", "grace"]);
      await checkSort("info.extendedFields.custom.met-on", ["ada", "alan", "grace", "zoe"]);
      await checkSort("info.extendedFields.custom.score", ["ada2", "grace", "ada", "alan"]);
    });

    // Sort keys keep 190 code points: a pair straddling 190 UTF-16 units is not cut in two.
    it("long text: keys keep 190 characters, never half a surrogate pair", async () => {
      const other = t.clients("sort-cut");
      const base = "b".repeat(189);
      const ids: Record<string, string> = {};
      const names = [
        ["rocket", "🚀"],
        ["emoji", "😀"],
        ["digit", "𝟘"],
        ["bold", "𝐀"],
        ["fi", "ﬁ"],
        ["z", "ｚ"],
      ].map(([h, c]) => [h, `${base}${c} tail`]);
      for (const [h, first] of [...names, ["short", base]] as [string, string][]) {
        ids[h] = (await other.contacts.createContact({ info: { name: { first } } })).contact?.id as string;
      }
      const name = new Map(Object.entries(ids).map(([h, x]) => [x, h]));
      const sorted = await other.contacts.queryContacts({ query: { sort: [{ fieldName: "info.name.first" }] } });
      expect(sorted.contacts.map((x) => name.get(x.id))).toEqual(["short", "fi", "z", "bold", "digit", "emoji", "rocket"]);
      const prefixed = await other.contacts.queryContacts({ query: { filter: { "info.name.first": { $startsWith: `${base}😀` } } } });
      expect(prefixed.contacts.map((x) => name.get(x.id))).toEqual(["emoji"]);
      expect((await other.contacts.queryContacts({ query: { filter: { "info.name.first": `${base}𝐀 tail` } } })).contacts.map((x) => name.get(x.id))).toEqual([
        "bold",
      ]);
    });

    it("company equality is exact on long companies: equal starts, case, characters past 190", async () => {
      const other = t.clients("company-exact");
      const base = "c".repeat(188);
      const companies: Record<string, string | undefined> = {
        short: base,
        short2: `${base}x`, // 189 characters
        at190: `${base}xy`,
        long1: `${base}xy tail one`,
        long2: `${base}xy tail two`,
        emoji: `${base}x😀 tail`, // the 190th character is a surrogate pair
        upper: `${base.toUpperCase()}x`,
        none: undefined,
      };
      const ids: Record<string, string> = {};
      for (const [h, company] of Object.entries(companies)) {
        ids[h] = (await other.contacts.createContact({ info: { name: { first: h }, ...(company ? { company } : {}) } })).contact?.id as string;
      }
      const handle = new Map(Object.entries(ids).map(([h, x]) => [x, h]));
      const found = async (filter: JsonObject) =>
        (await other.contacts.queryContacts({ query: { filter, sort: [{ fieldName: "info.name.first" }] } })).contacts.map((x) => handle.get(x.id));
      for (const h of ["short", "short2", "at190", "long1", "long2", "emoji", "upper"]) {
        expect(await found({ "info.company": companies[h] as string }), h).toEqual([h]);
      }
      expect(await found({ "info.company": `${base}xy tail` })).toEqual([]);
      expect(await found({ "info.company": { $in: [companies.long2 as string, companies.short2 as string] } })).toEqual(["long2", "short2"]);
      expect(await found({ "info.company": { $ne: companies.long1 as string } })).toEqual(["at190", "emoji", "long2", "none", "short", "short2", "upper"]);
      expect(await found({ $not: { "info.company": { $in: [companies.at190 as string, companies.emoji as string] } } })).toEqual([
        "long1",
        "long2",
        "none",
        "short",
        "short2",
        "upper",
      ]);
      expect(await found({ "info.company": { $exists: false } })).toEqual(["none"]);
      // An update rewrites the exact copy with the rest of the row.
      const before = await other.contacts.getContact({ id: ids.long1 as string });
      await other.contacts.updateContact({
        contactId: ids.long1 as string,
        revision: before.contact?.revision as number,
        info: { company: companies.long2 as string },
        fieldMask: { paths: ["info.company"] },
      });
      expect(await found({ "info.company": companies.long2 as string })).toEqual(["long1", "long2"]);
      expect(await found({ "info.company": companies.long1 as string })).toEqual([]);
    });

    // MariaDB's utf8mb4_bin is PAD SPACE: "hello" = "hello " and "mary\tann" < "mary" as sort
    // keys there; the contact tables need utf8mb4_nopad_bin.
    it("text differing only in trailing spaces or control characters sorts by code point", async () => {
      const other = t.clients("sort-pad");
      await other.fields.findOrCreateExtendedField({ displayName: "Notes", dataType: FieldDataType.TEXT });
      const ids: Record<string, string> = {};
      for (const [h, first, notes] of [
        ["tab", "Mary\tAnn", "hello\t"],
        ["space", "Mary Ann", "hello "],
        ["plain", "Mary", "hello"],
      ] as const) {
        const info = fromJson(ContactInfoSchema, { name: { first }, extendedFields: { items: { "custom.notes": notes } } });
        ids[h] = (await other.contacts.createContact({ info })).contact?.id as string;
      }
      const name = new Map(Object.entries(ids).map(([h, x]) => [x, h]));
      const sorted = async (fieldName: string) =>
        (await other.contacts.queryContacts({ query: { sort: [{ fieldName }] } })).contacts.map((x) => name.get(x.id));
      expect(await sorted("info.name.first")).toEqual(["plain", "tab", "space"]);
      expect(await sorted("info.extendedFields.custom.notes")).toEqual(["plain", "tab", "space"]);
    });

    it("sorted pages by cursor continue where the last page ended", async () => {
      for (const [path, order] of [
        ["info.name.first", SortOrder.ASC],
        ["info.extendedFields.custom.score", SortOrder.DESC],
        ["createdDate", SortOrder.ASC],
      ] as const) {
        const all = await ordered(undefined, { sort: [path, order] });
        const got: string[] = [];
        let cursor: string | undefined;
        do {
          const res = await c.contacts.queryContacts({
            query: { sort: [{ fieldName: path, order }], pagingMethod: { case: "cursorPaging", value: { limit: 3, ...(cursor ? { cursor } : {}) } } },
          });
          got.push(...res.contacts.map((x) => handleOf.get(x.id) as string));
          cursor = res.pagingMetadata?.cursors?.next;
          expect(res.pagingMetadata?.hasNext).toBe(Boolean(cursor));
        } while (cursor);
        expect(got, path).toEqual(all);
      }
    });
  });

  describe("search", () => {
    it("matches word prefixes of names, emails and phones, combined with the filter", async () => {
      const search = async (s: string, filter?: JsonObject) => (await ordered(filter, { search: s })).sort();
      expect(await search("ada")).toEqual(["ada", "ada2"]);
      expect(await search("LOV")).toEqual(["ada", "ada2"]);
      expect(await search("ada lov")).toEqual(["ada", "ada2"]);
      expect(await search("ada hopper")).toEqual([]);
      expect(await search("navy")).toEqual(["grace"]);
      expect(await search("grace@navy.mil")).toEqual(["grace"]);
      expect(await search("2015550123")).toEqual(["ada"]);
      expect(await search("+1 201")).toEqual(["ada"]);
      expect(await search("zoë")).toEqual(["zoe"]);
      expect(await search("ada", { "info.labelKeys": { $hasSome: ["custom.vip"] } })).toEqual(["ada"]);
      expect(await search("ada", { "info.company": { $startsWith: "Analytical" } })).toEqual(["ada", "ada2"]);
      expect(await search("   ")).toEqual(ALL);
      // At most 100 characters, trimmed first.
      expect(await search(` ${"a".repeat(100)} `)).toEqual([]);
    });

    it("finds long words of letters outside the BMP (terms are cut at 100 characters, never inside a pair)", async () => {
      const other = t.clients("search-long");
      const word = `a${"𝐀".repeat(70)}`; // 71 characters, 141 UTF-16 units
      const { contact } = await other.contacts.createContact({ info: { name: { first: word } } });
      const found = await other.contacts.queryContacts({ search: word.slice(0, 121) });
      expect(found.contacts.map((x) => x.id)).toEqual([contact?.id]);
      expect((await other.contacts.queryContacts({ search: word })).contacts.map((x) => x.id)).toEqual([contact?.id]);
    });

    // Several words are matched in the word list each token row carries (migration 009); a
    // contact with more words than the list holds is matched by looking the words up.
    it("finds a contact by several words, whether or not its token rows carry its words", async () => {
      const tenant = "search-words";
      const other = t.clients(tenant);
      const many = Array.from({ length: 30 }, (_, i) => ({ email: `${"w".repeat(30)}${i}@d${i}.example` }));
      const { contact: crowded } = await other.contacts.createContact({ info: { name: { first: "Grace", last: "Many" }, emails: { items: many } } });
      const { contact: plain } = await other.contacts.createContact({
        info: { name: { first: "Grace", last: "Hopper" }, emails: { items: [{ email: "gh@navy.mil" }] } },
      });
      await other.contacts.createContact({ info: { name: { first: "Grace", last: "Kelly" } } });
      const found = async (search: string) => (await other.contacts.queryContacts({ search })).contacts.map((x) => x.id).sort();
      expect(await found("grace www")).toEqual([crowded?.id]);
      expect(await found(`grace ${"w".repeat(30)}29`)).toEqual([crowded?.id]);
      expect(await found("d7 many grac")).toEqual([crowded?.id]);
      expect(await found("grace d31")).toEqual([]);
      expect(await found("grace nav")).toEqual([plain?.id]);
      expect(await found("hop grace gh")).toEqual([plain?.id]);
      expect(await found("grace hopper kelly")).toEqual([]);
      // A word inside another word is no match: each search word starts a word of the contact.
      expect(await found("grace opper")).toEqual([]);
      expect(await found("grace")).toHaveLength(3);
    });

    // Words of up to four characters are found through the contacts' prefix rows (migration 010),
    // which each write changes by difference and a delete removes by key.
    it("a short word, or a name's short prefix, finds each contact once, by its current words only, after updates, deletes and merges", async () => {
      const other = t.clients("search-short");
      const create = async (first: string, last: string, email: string) =>
        (await other.contacts.createContact({ info: { name: { first, last }, emails: { items: [{ email }] } }, allowDuplicates: true })).contact as Contact;
      const edna = await create("Edna", "Edwards", "edna.edwards@edison.io");
      const ed = await create("Ed", "Wood", "ed@wood.io");
      const eve = await create("Eve", "Edison", "eve@x.io");
      const found = async (search: string, limit = 1000) => {
        const res = await other.contacts.queryContacts({ search, query: { pagingMethod: { case: "paging", value: { limit } } } });
        return { ids: res.contacts.map((x) => x.id), total: res.pagingMetadata?.total };
      };
      const ids = async (search: string) => (await found(search)).ids.sort();
      // "ed" starts four of Edna's words and two of Ed's: each contact comes once, newest first.
      expect(await found("ed")).toEqual({ ids: [eve.id, ed.id, edna.id], total: 3 });
      expect(await found("ED", 1)).toEqual({ ids: [eve.id], total: 3 });
      expect(await ids("edwa")).toEqual([edna.id]);
      expect(await ids("e")).toEqual([edna.id, ed.id, eve.id].sort());
      expect(await ids("w")).toEqual([ed.id]);
      expect(await ids("edis")).toEqual([edna.id, eve.id].sort());

      // Edna loses "edwards" and "edison" and gains "smith"; a word she keeps ("edna") still finds her.
      const updated = await other.contacts.updateContact({
        contactId: edna.id,
        revision: edna.revision,
        info: { name: { first: "Edna", last: "Smith" }, emails: { items: [{ email: "edna@smith.io" }] } },
      });
      expect(await ids("edwa")).toEqual([]);
      expect(await ids("edis")).toEqual([eve.id]);
      expect(await ids("smit")).toEqual([edna.id]);
      expect(await ids("edn")).toEqual([edna.id]);
      expect((await found("ed")).total).toBe(3);
      // A name's prefix rows (migration 011) follow the name the same way.
      const named = async (path: string, prefix: string) =>
        (await other.contacts.queryContacts({ query: { filter: { [path]: { $startsWith: prefix } } } })).contacts.map((x) => x.id).sort();
      expect(await named("info.name.last", "Edw")).toEqual([]);
      expect(await named("info.name.last", "sMi")).toEqual([edna.id]);
      expect(await named("info.name.last", "Ed")).toEqual([eve.id]);
      expect(await named("info.name.first", "E")).toEqual([edna.id, ed.id, eve.id].sort());

      // Merged away, then deleted: no short word finds either any more, and the counts agree.
      await other.contacts.mergeContacts({ targetContactId: eve.id, targetContactRevision: eve.revision, sourceContactIds: [ed.id] });
      expect(await ids("wood")).toEqual([eve.id]);
      expect(await found("ed")).toEqual({ ids: [eve.id, edna.id], total: 2 });
      expect(await named("info.name.first", "ed")).toEqual([edna.id]);
      await other.contacts.deleteContact({ contactId: updated.contact?.id as string });
      expect(await found("e")).toEqual({ ids: [eve.id], total: 1 });
      expect(await named("info.name.first", "E")).toEqual([eve.id]);
      const none = await other.contacts.queryContacts({ query: { filter: { "info.name.last": { $startsWith: "s" } } } });
      expect([none.contacts.length, none.pagingMetadata?.total]).toEqual([0, 0]);
      expect(await found("s")).toEqual({ ids: [], total: 0 });
      expect(await ids("smi edna")).toEqual([]);
    });

    // `token like 'term%'` alone would be an index range ending at U+FFFF on MariaDB.
    it("finds words where a character outside the BMP follows the search term", async () => {
      const tenant = "search-astral";
      const other = t.clients(tenant);
      const { contact } = await other.contacts.createContact({ info: { name: { first: "jo𝐀n" }, emails: { items: [{ email: "k😀@y.io" }] } } });
      await fill(tenant, 300);
      for (const search of ["jo", "JO", "jo𝐀", "k😀@"]) {
        expect(
          (await other.contacts.queryContacts({ search })).contacts.map((x) => x.id),
          search,
        ).toEqual([contact?.id]);
      }
    });
  });

  describe("projection", () => {
    it("fields and fieldsets select parts; id and revision always; FULL or nothing is everything", async () => {
      const one = async (fields: string[], fieldsets: ContactFieldSet[] = []) => {
        const res = await c.contacts.queryContacts({ query: { filter: { id: id("ada") }, fields, fieldsets } });
        return res.contacts[0] as Contact;
      };
      const full = await one([]);
      expect(full.info?.emails?.items.length).toBe(2);
      expect(full.createdDate).toBeDefined();
      expect(await one([], [ContactFieldSet.FULL])).toEqual(full);

      const emails = await one(["info.emails"]);
      expect(emails.id).toBe(id("ada"));
      expect(emails.revision).toBe(full.revision);
      expect(emails.info?.emails?.items.map((e) => e.email)).toEqual(["Ada@Example.com", "ada.work@corp.io"]);
      expect(emails.info?.name).toBeUndefined();
      expect(emails.createdDate).toBeUndefined();
      expect(emails.primaryInfo).toBeUndefined();

      const basic = await one([], [ContactFieldSet.BASIC]);
      expect(basic.primaryInfo?.email).toBe("Ada@Example.com");
      expect(basic.info?.name?.first).toBe("Ada");
      expect(basic.info?.emails).toBeUndefined();
      expect(basic.info?.extendedFields).toBeUndefined();

      const comm = await one([], [ContactFieldSet.COMMUNICATION_DETAILS]);
      expect(comm.info?.name?.first).toBe("Ada");
      expect(comm.info?.emails?.items.length).toBe(2);
      expect(comm.info?.phones?.items.length).toBe(1);
      expect(comm.info?.addresses?.items.length).toBe(1);
      expect(comm.info?.company).toBeUndefined();

      const extended = await one([], [ContactFieldSet.EXTENDED]);
      expect(ext(extended)["custom.score"]).toBe(99.5);
      expect(extended.info?.name?.first).toBe("Ada");
      expect(extended.info?.phones).toBeUndefined();

      const union = await one(["info.company", "createdDate"], [ContactFieldSet.BASIC]);
      expect(union.info?.company).toBe("Analytical Engines");
      expect(union.createdDate).toEqual(full.createdDate);
      expect(union.info?.name?.first).toBe("Ada");
      expect(union.info?.labelKeys).toBeUndefined();

      const listed = await c.contacts.listContacts({
        fields: ["info.labelKeys"],
        paging: { limit: 1 },
        sort: { fieldName: "info.name.first", order: SortOrder.DESC },
      });
      expect(listed.contacts[0]?.id).toBe(id("zoe"));
      expect(listed.contacts[0]?.info?.labelKeys?.items).toEqual(["contacts.customers"]);
      expect(listed.contacts[0]?.info?.name).toBeUndefined();
    });
  });

  describe("paging", () => {
    it("offset paging: count, offset, total, has_next", async () => {
      const page = async (limit: number, offset: number, filter?: JsonObject) => (await query(filter, { limit, offset })).pagingMetadata;
      expect(await page(3, 0)).toMatchObject({ count: 3, offset: 0, total: ALL.length, tooManyToCount: false, hasNext: true });
      expect(await page(3, 6)).toMatchObject({ count: 2, offset: 6, total: ALL.length, hasNext: false });
      expect(await page(3, 5)).toMatchObject({ count: 3, offset: 5, total: ALL.length, hasNext: false });
      expect(await page(3, 100)).toMatchObject({ count: 0, offset: 100, total: ALL.length, hasNext: false });
      expect(await page(2, 0, { "info.labelKeys": { $hasSome: ["custom.vip"] } })).toMatchObject({ count: 2, total: 2, hasNext: false });
      const defaults = await c.contacts.queryContacts({});
      expect(defaults.pagingMetadata).toMatchObject({ count: ALL.length, offset: 0, total: ALL.length, hasNext: false });
      const listed = await c.contacts.listContacts({ paging: { limit: 4, offset: 4 } });
      expect(listed.pagingMetadata).toMatchObject({ count: 4, offset: 4, total: ALL.length, hasNext: false });
      // Offset pages concatenate to the whole answer.
      const whole = await ordered(undefined, { sort: ["info.name.first"] });
      const pieces: string[] = [];
      for (let offset = 0; offset < ALL.length; offset += 3) pieces.push(...(await ordered(undefined, { sort: ["info.name.first"], limit: 3, offset })));
      expect(pieces).toEqual(whole);
    });

    it("default limit 50 and the count cap: beyond 10,000 matches the total is 10,000 and too_many_to_count is set", async () => {
      const tenant = "cap";
      const cap = t.clients(tenant);
      await cap.contacts.createContact({ info: { name: { first: "first" } } });
      const now = Date.now() - 100_000;
      const bulk: StoredContact[] = Array.from({ length: 10_000 }, (_, i) => ({
        id: randomUUID(),
        revision: 1,
        createdDate: now + i,
        updatedDate: now + i,
        source: { sourceType: "CONTACT_SOURCE_TYPE_ADMIN" },
        lastActivity: { activityDate: now + i, activityType: "CONTACT_ACTIVITY_TYPE_CONTACT_CREATED" },
        info: { name: { first: i % 2 ? "even" : "odd" } },
      }));
      await t.server.db.transaction((trx) => insertContacts(trx, tenant, bulk));
      const all = await cap.contacts.queryContacts({});
      expect(all.contacts.length).toBe(50);
      expect(all.contacts[0]?.info?.name?.first).toBe("first");
      expect(all.pagingMetadata).toMatchObject({ count: 50, offset: 0, total: 10_000, tooManyToCount: true, hasNext: true });
      const half = await cap.contacts.queryContacts({
        query: { filter: { "info.name.first": "odd" }, pagingMethod: { case: "paging", value: { limit: 10, offset: 4_995 } } },
      });
      expect(half.pagingMetadata).toMatchObject({ count: 5, offset: 4_995, total: 5_000, tooManyToCount: false, hasNext: false });
      const last = await cap.contacts.listContacts({ paging: { limit: 1000, offset: 9_500 } });
      expect(last.pagingMetadata).toMatchObject({ count: 501, total: 10_000, tooManyToCount: true, hasNext: false });
      expect(last.contacts.at(-1)?.info?.name?.first).toBe("odd");
      // Pages at or beyond the cap: one with rows shows the total is over the cap by itself; an
      // empty one is counted.
      const page = async (offset: number, limit: number, filter?: JsonObject) =>
        (await cap.contacts.queryContacts({ query: { ...(filter ? { filter } : {}), pagingMethod: { case: "paging", value: { limit, offset } } } }))
          .pagingMetadata;
      expect(await page(10_000, 50)).toMatchObject({ count: 1, offset: 10_000, total: 10_000, tooManyToCount: true, hasNext: false });
      expect(await page(10_000, 1)).toMatchObject({ count: 1, total: 10_000, tooManyToCount: true, hasNext: false });
      expect(await page(9_999, 1)).toMatchObject({ count: 1, total: 10_000, tooManyToCount: true, hasNext: true });
      expect(await page(10_001, 50)).toMatchObject({ count: 0, total: 10_000, tooManyToCount: true, hasNext: false });
      expect(await page(10_000, 50, { "info.name.first": "odd" })).toMatchObject({ count: 0, total: 5_000, tooManyToCount: false, hasNext: false });
      expect(await page(20_000, 50, { "info.name.first": { $ne: "nobody" } })).toMatchObject({ count: 0, total: 10_000, tooManyToCount: true });
    }, 120_000);

    // On MariaDB a search word matching more contacts than are sorted at once (5,000), through
    // few distinct words, pages as a merge of each word's run of contacts; a contact with two of
    // the words is in two runs and must come once. Creation dates tie in pairs (the id decides).
    it("a search word matching thousands of contacts through a few words pages in order, each contact once", async () => {
      const tenant = "search-dense";
      const dense = t.clients(tenant);
      const now = Date.now() - 100_000;
      const firsts = ["stan", "stella", "stephen", "steve", "bob"];
      const bulk: StoredContact[] = Array.from({ length: 7_000 }, (_, i) => ({
        id: randomUUID(),
        revision: 1,
        createdDate: now + Math.floor(i / 2),
        updatedDate: now,
        source: { sourceType: "CONTACT_SOURCE_TYPE_ADMIN" },
        lastActivity: { activityDate: now, activityType: "CONTACT_ACTIVITY_TYPE_CONTACT_CREATED" },
        info: { name: { first: firsts[i % 5] as string, last: i % 3 === 0 ? "stone" : `x${i}` } },
      }));
      await t.server.db.transaction((trx) => insertContacts(trx, tenant, bulk));
      if (store === "mysql") await t.server.db.raw("analyze table contact_search_tokens");
      const expected = bulk
        .filter((b) => b.info.name?.first !== "bob" || b.info.name.last === "stone")
        .sort((a, b) => b.createdDate - a.createdDate || (a.id < b.id ? 1 : -1))
        .map((b) => b.id);
      expect(expected.length).toBeGreaterThan(5_000);
      const offsetPage = async (offset: number) =>
        await dense.contacts.queryContacts({ search: "ST", query: { pagingMethod: { case: "paging", value: { limit: 50, offset } } } });
      const first = await offsetPage(0);
      expect(first.contacts.map((x) => x.id)).toEqual(expected.slice(0, 50));
      expect(first.pagingMetadata).toMatchObject({ count: 50, total: expected.length, tooManyToCount: false, hasNext: true });
      expect((await offsetPage(1_201)).contacts.map((x) => x.id)).toEqual(expected.slice(1_201, 1_251));
      let cursor: string | undefined;
      const seen: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await dense.contacts.queryContacts({
          search: "st",
          query: { pagingMethod: { case: "cursorPaging", value: { limit: 100, ...(cursor ? { cursor } : {}) } } },
        });
        seen.push(...res.contacts.map((x) => x.id));
        cursor = res.pagingMetadata?.cursors?.next;
      }
      expect(seen).toEqual(expected.slice(0, 300));
      // Two words matching the same contacts: offset paging finds them all once with their
      // creation dates (up to the 10,000 it counts) and sorts them; cursor paging, which looks for
      // no more than 5,000, finds more and pages by intersecting the words in the page query.
      const twoWords = await dense.contacts.queryContacts({ search: "st s", query: { pagingMethod: { case: "paging", value: { limit: 50, offset: 5_000 } } } });
      expect(twoWords.contacts.map((x) => x.id)).toEqual(expected.slice(5_000, 5_050));
      expect(twoWords.pagingMetadata).toMatchObject({ count: 50, total: expected.length, tooManyToCount: false, hasNext: true });
      const stones = new Set(bulk.filter((b) => b.info.name?.last === "stone").map((b) => b.id));
      const stone = expected.filter((id) => stones.has(id));
      const last = await dense.contacts.queryContacts({
        search: "sto st",
        query: { pagingMethod: { case: "paging", value: { limit: 50, offset: stone.length - 20 } } },
      });
      expect(last.contacts.map((x) => x.id)).toEqual(stone.slice(-20));
      expect(last.pagingMetadata).toMatchObject({ count: 20, total: stone.length, hasNext: false });
      cursor = undefined;
      seen.length = 0;
      for (let i = 0; i < 3; i++) {
        const res = await dense.contacts.queryContacts({
          search: "s st",
          query: {
            sort: [{ fieldName: "createdDate", order: SortOrder.ASC }],
            pagingMethod: { case: "cursorPaging", value: { limit: 100, ...(cursor ? { cursor } : {}) } },
          },
        });
        seen.push(...res.contacts.map((x) => x.id));
        cursor = res.pagingMetadata?.cursors?.next;
      }
      expect(seen).toEqual([...expected].reverse().slice(0, 300));
    }, 120_000);
  });

  describe("errors name the offending path", () => {
    const bad = (reason: string, field: string) => ({ code: Code.InvalidArgument, reason, field });
    const q = (filter: JsonObject) => c.contacts.queryContacts({ query: { filter } });

    it("MALFORMED_FILTER", async () => {
      await expectError(q({ $and: [] }), bad("MALFORMED_FILTER", "query.filter.$and"));
      await expectError(q({ $or: { "info.company": "x" } }), bad("MALFORMED_FILTER", "query.filter.$or"));
      await expectError(q({ $and: ["x"] }), bad("MALFORMED_FILTER", "query.filter.$and[0]"));
      await expectError(q({ $not: 5 }), bad("MALFORMED_FILTER", "query.filter.$not"));
      await expectError(q({ "info.company": {} }), bad("MALFORMED_FILTER", "query.filter.info.company"));
      await expectError(q({ $eq: "x" }), bad("MALFORMED_FILTER", "query.filter.$eq"));
      let deep: JsonObject = { "info.company": "x" };
      for (let i = 0; i < 20; i++) deep = { $not: deep };
      await expectError(q(deep), { code: Code.InvalidArgument, reason: "MALFORMED_FILTER" });
    });

    it("UNSUPPORTED_FILTER_FIELD_UNKNOWN", async () => {
      await expectError(q({ "info.nope": "x" }), bad("UNSUPPORTED_FILTER_FIELD_UNKNOWN", "query.filter.info.nope"));
      await expectError(q({ $or: [{ "info.company": "x" }, { updated: 1 }] }), bad("UNSUPPORTED_FILTER_FIELD_UNKNOWN", "query.filter.$or[1].updated"));
      await expectError(q({ "info.extendedFields.custom.nope": "x" }), bad("UNSUPPORTED_FILTER_FIELD_UNKNOWN", "query.filter.info.extendedFields.custom.nope"));
      await expectError(
        q({ "info.extendedFields.contacts.displayByLastName": { $exists: true } }),
        bad("UNSUPPORTED_FILTER_FIELD_UNKNOWN", "query.filter.info.extendedFields.contacts.displayByLastName"),
      );
    });

    it("UNSUPPORTED_FILTER_OPERATOR", async () => {
      await expectError(q({ "info.company": { $gt: "a" } }), bad("UNSUPPORTED_FILTER_OPERATOR", "query.filter.info.company.$gt"));
      await expectError(q({ "info.labelKeys": "custom.vip" }), bad("UNSUPPORTED_FILTER_OPERATOR", "query.filter.info.labelKeys"));
      await expectError(q({ "info.locale": { $startsWith: "en" } }), bad("UNSUPPORTED_FILTER_OPERATOR", "query.filter.info.locale.$startsWith"));
      await expectError(q({ id: { $regex: "x" } }), bad("UNSUPPORTED_FILTER_OPERATOR", "query.filter.id.$regex"));
      await expectError(
        q({ "info.extendedFields.custom.score": { $in: [1] } }),
        bad("UNSUPPORTED_FILTER_OPERATOR", "query.filter.info.extendedFields.custom.score.$in"),
      );
      await expectError(
        q({ "info.extendedFields.custom.notes": { $exists: true } }),
        bad("UNSUPPORTED_FILTER_OPERATOR", "query.filter.info.extendedFields.custom.notes.$exists"),
      );
      await expectError(q({ $nor: [] }), bad("UNSUPPORTED_FILTER_OPERATOR", "query.filter.$nor"));
    });

    it("UNSUPPORTED_FILTER_VALUE", async () => {
      await expectError(q({ "info.birthdate": { $gt: "1990-13" } }), bad("UNSUPPORTED_FILTER_VALUE", "query.filter.info.birthdate.$gt"));
      await expectError(q({ createdDate: { $gt: "yesterday" } }), bad("UNSUPPORTED_FILTER_VALUE", "query.filter.createdDate.$gt"));
      await expectError(q({ "info.company": { $in: [] } }), bad("UNSUPPORTED_FILTER_VALUE", "query.filter.info.company.$in"));
      await expectError(q({ "primaryEmail.subscriptionStatus": "MAYBE" }), bad("UNSUPPORTED_FILTER_VALUE", "query.filter.primaryEmail.subscriptionStatus"));
      await expectError(q({ "info.name.first": { $startsWith: "" } }), bad("UNSUPPORTED_FILTER_VALUE", "query.filter.info.name.first.$startsWith"));
      await expectError(q({ "info.labelKeys": { $hasAll: [] } }), bad("UNSUPPORTED_FILTER_VALUE", "query.filter.info.labelKeys.$hasAll"));
    });

    it("UNSUPPORTED_FILTER_VALUE_TYPE", async () => {
      await expectError(q({ "info.company": 5 }), bad("UNSUPPORTED_FILTER_VALUE_TYPE", "query.filter.info.company"));
      await expectError(
        q({ "info.extendedFields.custom.score": { $gt: "5" } }),
        bad("UNSUPPORTED_FILTER_VALUE_TYPE", "query.filter.info.extendedFields.custom.score.$gt"),
      );
      await expectError(q({ "info.name.first": { $exists: "yes" } }), bad("UNSUPPORTED_FILTER_VALUE_TYPE", "query.filter.info.name.first.$exists"));
      await expectError(q({ "info.company": { $in: "x" } }), bad("UNSUPPORTED_FILTER_VALUE_TYPE", "query.filter.info.company.$in"));
      await expectError(q({ "info.company": { $in: ["x", 1] } }), bad("UNSUPPORTED_FILTER_VALUE_TYPE", "query.filter.info.company.$in[1]"));
      await expectError(q({ "info.company": null }), bad("UNSUPPORTED_FILTER_VALUE_TYPE", "query.filter.info.company"));
      await expectError(q({ createdDate: { $lt: 5 } }), bad("UNSUPPORTED_FILTER_VALUE_TYPE", "query.filter.createdDate.$lt"));
    });

    it("UNSUPPORTED_SORT_FIELD, also for two sort entries", async () => {
      const sort = (entries: string[]) => c.contacts.queryContacts({ query: { sort: entries.map((fieldName) => ({ fieldName })) } });
      await expectError(sort(["updatedDate"]), bad("UNSUPPORTED_SORT_FIELD", "query.sort[0].field_name"));
      await expectError(sort(["info.locale"]), bad("UNSUPPORTED_SORT_FIELD", "query.sort[0].field_name"));
      await expectError(sort(["nope"]), bad("UNSUPPORTED_SORT_FIELD", "query.sort[0].field_name"));
      await expectError(sort(["info.name.first", "info.name.last"]), bad("UNSUPPORTED_SORT_FIELD", "query.sort"));
      await expectError(c.contacts.listContacts({ sort: { fieldName: "info.labelKeys" } }), bad("UNSUPPORTED_SORT_FIELD", "sort[0].field_name"));
    });

    it("ILLEGAL_LIMIT (1001 and -1)", async () => {
      await expectError(
        c.contacts.queryContacts({ query: { pagingMethod: { case: "paging", value: { limit: 1001 } } } }),
        bad("ILLEGAL_LIMIT", "query.paging.limit"),
      );
      await expectError(
        c.contacts.queryContacts({ query: { pagingMethod: { case: "paging", value: { limit: -1 } } } }),
        bad("ILLEGAL_LIMIT", "query.paging.limit"),
      );
      await expectError(
        c.contacts.queryContacts({ query: { pagingMethod: { case: "cursorPaging", value: { limit: 1001 } } } }),
        bad("ILLEGAL_LIMIT", "query.cursor_paging.limit"),
      );
      await expectError(c.contacts.listContacts({ paging: { limit: 1001 } }), bad("ILLEGAL_LIMIT", "paging.limit"));
      await expectError(c.contacts.listContacts({ paging: { limit: -1 } }), bad("ILLEGAL_LIMIT", "paging.limit"));
      expect((await c.contacts.queryContacts({ query: { pagingMethod: { case: "paging", value: { limit: 1000 } } } })).contacts.length).toBe(ALL.length);
    });

    it("INVALID_CURSOR: garbage, or a cursor of another query", async () => {
      await expectError(
        c.contacts.queryContacts({ query: { pagingMethod: { case: "cursorPaging", value: { cursor: "not-a-cursor" } } } }),
        bad("INVALID_CURSOR", "query.cursor_paging.cursor"),
      );
      const first = await c.contacts.queryContacts({ query: { pagingMethod: { case: "cursorPaging", value: { limit: 2 } } } });
      const cursor = first.pagingMetadata?.cursors?.next as string;
      expect(cursor).toBeTruthy();
      await expectError(
        c.contacts.queryContacts({
          query: { filter: { "info.company": { $exists: true } }, pagingMethod: { case: "cursorPaging", value: { limit: 2, cursor } } },
        }),
        bad("INVALID_CURSOR", "query.cursor_paging.cursor"),
      );
      await expectError(
        c.contacts.queryContacts({ query: { sort: [{ fieldName: "info.name.first" }], pagingMethod: { case: "cursorPaging", value: { limit: 2, cursor } } } }),
        bad("INVALID_CURSOR", "query.cursor_paging.cursor"),
      );
      await expectError(c.contacts.listContacts({ cursorPaging: { cursor: "eyJhIjpbMV19" } }), bad("INVALID_CURSOR", "cursor_paging.cursor"));
    });

    it("INVALID_SEARCH (101 characters)", async () => {
      await expectError(c.contacts.queryContacts({ search: "a".repeat(101) }), bad("INVALID_SEARCH", "search"));
      await expectError(c.contacts.queryContacts({ search: "😀".repeat(101) }), bad("INVALID_SEARCH", "search"));
      expect((await c.contacts.queryContacts({ search: "a".repeat(100) })).contacts).toEqual([]);
    });
  });

  describe("facets", () => {
    /** Checks that each facet's ready filter selects exactly `count` contacts, and the right ones. */
    async function filtersSelectCounts(facets: { facetKey: string; count: number; queryFilter?: JsonObject }[], and?: JsonObject) {
      for (const f of facets) {
        const filter = (and ? { $and: [and, f.queryFilter ?? {}] } : f.queryFilter) as JsonObject;
        const res = await c.contacts.queryContacts({ query: { filter, pagingMethod: { case: "paging", value: { limit: 1000 } } } });
        expect(res.pagingMetadata?.total, f.facetKey).toBe(f.count);
        expect(res.contacts.length, f.facetKey).toBe(f.count);
      }
    }

    it("ListFacets: all, not labelled, one per label, subscription status; ready filters select the counted contacts", async () => {
      const res = await c.contacts.listFacets({});
      const byKey = new Map(res.facets.map((f) => [f.facetKey, f]));
      expect(byKey.get("all")).toMatchObject({ facetType: FacetType.ALL_CONTACTS, count: ALL.length });
      expect(byKey.get("not-labeled")).toMatchObject({ facetType: FacetType.NOT_LABELED, count: 4 });
      expect(byKey.get("custom.vip")).toMatchObject({
        facetType: FacetType.LABEL,
        count: 2,
        facetDisplayName: "VIP",
        queryFilter: { "info.labelKeys": { $hasSome: ["custom.vip"] } },
      });
      expect(byKey.get("custom.math")).toMatchObject({ count: 2 });
      expect(byKey.get("custom.unused")).toMatchObject({ count: 0 });
      expect(byKey.get("contacts.customers")).toMatchObject({ count: 1 });
      expect(byKey.get("contacts.contacted-me")).toMatchObject({ count: 0 });
      expect(byKey.get("NOT_SET")).toMatchObject({ facetType: FacetType.SUBSCRIPTION_STATUS, count: 6 });
      expect(res.pagingMetadata).toMatchObject({ count: res.facets.length, total: res.facets.length, hasNext: false });
      await filtersSelectCounts(res.facets);
      const vip = await c.contacts.queryContacts({ query: { filter: byKey.get("custom.vip")?.queryFilter } });
      expect(vip.contacts.map((x) => handleOf.get(x.id)).sort()).toEqual(["ada", "grace"]);
      const notLabeled = await c.contacts.queryContacts({ query: { filter: byKey.get("not-labeled")?.queryFilter } });
      expect(notLabeled.contacts.map((x) => handleOf.get(x.id)).sort()).toEqual(["ada2", "long1", "long2", "nobody"]);
      const paged = await c.contacts.listFacets({ paging: { limit: 2, offset: 1 } });
      expect(paged.facets.map((f) => f.facetKey)).toEqual(res.facets.slice(1, 3).map((f) => f.facetKey));
      expect(paged.pagingMetadata).toMatchObject({ count: 2, offset: 1, total: res.facets.length, hasNext: true });
    });

    it("a facet per subscription status and per membership status (members.membershipStatus), whose ready filters select the counted contacts", async () => {
      const m = t.clients("facets-members");
      const statuses = [MemberStatus.ACTIVE, MemberStatus.PENDING, MemberStatus.BLOCKED, MemberStatus.OFFLINE, MemberStatus.DELETED];
      const ids: string[] = [];
      for (const [i, status] of statuses.entries()) {
        const { contact } = await m.contacts.createContact({ info: { name: { first: `M${i}` }, emails: { items: [{ email: `m${i}@facets.example` }] } } });
        ids.push(contact?.id ?? "");
        await m.contacts.updateMemberInfo({ contactId: contact?.id ?? "", memberInfo: { memberId: `m${i}`, status } });
      }
      await m.contacts.createContact({ info: { name: { first: "Not a member" } } });
      const res = await m.contacts.listFacets({});
      const of = (type: FacetType) => Object.fromEntries(res.facets.filter((f) => f.facetType === type).map((f) => [f.facetKey, f.count]));
      expect(of(FacetType.MEMBERSHIP_STATUS)).toEqual({ APPROVED: 1, PENDING: 1, DENIED: 1, INACTIVE: 2 });
      expect(of(FacetType.SUBSCRIPTION_STATUS)).toEqual({ NOT_SET: 5, PENDING: 0, SUBSCRIBED: 0, UNSUBSCRIBED: 0 });
      for (const f of res.facets) {
        const found = await m.contacts.queryContacts({ query: { filter: f.queryFilter, pagingMethod: { case: "paging", value: { limit: 1000 } } } });
        expect(found.pagingMetadata?.total, f.facetKey).toBe(f.count);
      }
      // The value is readable on the contact, as a system extended field.
      const approved = (await m.contacts.getContact({ id: ids[0] as string })).contact;
      expect(toJson(ValueSchema, approved?.info?.extendedFields?.items["members.membershipStatus"] as Value)).toBe("APPROVED");
      const none = await m.contacts.queryContacts({
        query: { filter: { "info.extendedFields.members.membershipStatus": { $nin: ["APPROVED", "PENDING", "DENIED"] } } },
      });
      expect(none.contacts.map((x) => x.info?.name?.first).sort()).toEqual(["M3", "M4", "Not a member"]);
    });

    it("QueryFacets counts among the filtered contacts; its paths only", async () => {
      const filter = { "info.extendedFields.emailSubscriptions.effectiveEmail": { $exists: false } };
      const res = await c.contacts.queryFacets({ filter });
      const byKey = new Map(res.facets.map((f) => [f.facetKey, f]));
      expect(byKey.get("all")?.count).toBe(2); // nobody, long1
      expect(byKey.get("not-labeled")?.count).toBe(2);
      expect(byKey.get("custom.vip")?.count).toBe(0);
      expect(byKey.get("NOT_SET")?.count).toBe(0);
      await filtersSelectCounts(res.facets, filter);
      const subscribed = await c.contacts.queryFacets({ filter: { "info.extendedFields.emailSubscriptions.subscriptionStatus": { $in: ["NOT_SET"] } } });
      expect(new Map(subscribed.facets.map((f) => [f.facetKey, f.count])).get("custom.vip")).toBe(2);
      await filtersSelectCounts(subscribed.facets, { "info.extendedFields.emailSubscriptions.subscriptionStatus": { $in: ["NOT_SET"] } });
      await expectError(c.contacts.queryFacets({ filter: { "info.company": "x" } }), {
        code: Code.InvalidArgument,
        reason: "UNSUPPORTED_FILTER_FIELD_UNKNOWN",
        field: "filter.info.company",
      });
      await expectError(c.contacts.queryFacets({ filter: { "info.extendedFields.emailSubscriptions.subscriptionStatus": { $startsWith: "N" } } }), {
        code: Code.InvalidArgument,
        reason: "UNSUPPORTED_FILTER_OPERATOR",
        field: "filter.info.extendedFields.emailSubscriptions.subscriptionStatus.$startsWith",
      });
    });
  });
});
