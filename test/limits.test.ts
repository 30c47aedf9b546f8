/**
 * RELIABILITY scenario 11 (limits): a request body over the read limit, every repeated field at
 * its maximum + 1, every bounded string at its maximum + 1, page sizes −1 and 10⁶. Each case must
 * get its documented error: RESOURCE_EXHAUSTED for the body, INVALID_ARGUMENT with the expected
 * ErrorInfo reason (domain `contacts.v1`) and a BadRequest violation naming the exact field for
 * the rest; page sizes above the maximum are coerced to it (labels 2000, extended fields 1000),
 * which is checked with more rows than the maximum. The server runs in this process, so its RSS
 * growth over the whole run (from after a warm-up of every path, with forced collections) is
 * measured here and must stay under 50 MB. Also: every bounded string is accepted at exactly its
 * maximum, on both stores, and regressions of INTERNALs found at those maxima.
 *
 * "Documented" = the code, and for INVALID_ARGUMENT the reason and field path asserted here (the
 * server's reasons; README's error table lists only some of them). The read-limit refusal comes
 * from grpc-js / connect-node before any handler runs: RESOURCE_EXHAUSTED without an ErrorInfo.
 *
 * At the end: one HTTP/2 connection keeps serving after 15 bodies over the read limit.
 *
 * Prints `[scenario 11] cases=N documented=N (100%) rssGrowthMB=…`.
 */
import v8 from "node:v8";
import vm from "node:vm";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContactFieldSet, ContactsService } from "../gen/contacts/v1/contacts_service_pb.js";
import { FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { SortOrder } from "../gen/contacts/v1/common_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { CONTACT_LIMITS } from "../server/src/domain/contact-info.js";
import { FIELD_LIMITS } from "../server/src/domain/extended-fields.js";
import { LABEL_LIMITS } from "../server/src/domain/labels.js";
import type { Db } from "../server/src/store/db.js";
import { extendedFieldToRow } from "../server/src/store/extended-fields.js";
import { labelToRow } from "../server/src/store/labels.js";
import { startTestServer, type StoreName, type TestServer } from "./support/server.js";

/** Small enough to reach cheaply, big enough for a page of 2000 labels (≈150 KB) to be sent back. */
const READ_LIMIT = 256 * 1024;
const MB = 1024 * 1024;
const LABELS_MAX_PAGE = 2000;
const FIELDS_MAX_PAGE = 1000;

const s = (n: number, c = "a") => c.repeat(n);
const email = (n: number) => `${s(n - "@example.com".length)}@example.com`;

/**
 * A full collection before each RSS reading: `global.gc` when the runner exposes it, otherwise
 * the flag is switched on at run time and `gc` taken from a fresh context (a V8 idiom).
 */
const gc: (() => void) | undefined = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  try {
    v8.setFlagsFromString("--expose-gc");
    return vm.runInNewContext("gc") as () => void;
  } catch {
    return undefined;
  }
})();

/** Full collections with pauses between, so V8's background sweeping and unmapping can return pages. */
async function collect(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 25));
  }
}

function connectClient(t: TestServer, tenantId: string) {
  const tenantHeader: Interceptor = (next) => (req) => {
    req.header.set("x-tenant-id", tenantId);
    return next(req);
  };
  return createClient(ContactsService, createConnectTransport({ baseUrl: t.httpUrl, httpVersion: "1.1", interceptors: [tenantHeader] }));
}

/** What a failed call answered, or "OK". */
interface Outcome {
  code: string;
  reason?: string | undefined;
  domain?: string | undefined;
  fields: string[];
}

async function outcomeOf(call: Promise<unknown>): Promise<Outcome> {
  try {
    await call;
    return { code: "OK", fields: [] };
  } catch (err) {
    if (!(err instanceof ConnectError)) throw err;
    const info = err.findDetails(ErrorInfoSchema)[0];
    return {
      code: Code[err.code],
      reason: info?.reason,
      domain: info?.domain,
      fields: err.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => v.field)),
    };
  }
}

/** RSS after the first server's warm-up: the baseline of the growth figure. */
let rssBefore = 0;
let heapBefore = 0;

/** Scenario-wide tally for the figure line. */
const tally = { cases: 0, documented: 0, failures: [] as string[] };

function record(name: string, ok: boolean, got: unknown): void {
  tally.cases++;
  if (ok) tally.documented++;
  else tally.failures.push(`${name}: ${JSON.stringify(got)}`);
}

/** Checks an INVALID_ARGUMENT case: reason, domain and the field violation's path. */
async function expectInvalid(name: string, call: Promise<unknown>, reason: string, field: string): Promise<void> {
  const got = await outcomeOf(call);
  const ok = got.code === "InvalidArgument" && got.reason === reason && got.domain === "contacts.v1" && got.fields.includes(field);
  record(name, ok, got);
  expect(got, name).toMatchObject({ code: "InvalidArgument", reason, domain: "contacts.v1" });
  expect(got.fields, name).toContain(field);
}

/** Inserts `n` custom labels straight into the table (the quota would stop the API at 1000). */
async function seedLabels(db: Db, tenantId: string, n: number): Promise<void> {
  const now = new Date();
  const rows = Array.from({ length: n }, (_, i) =>
    labelToRow(tenantId, {
      namespace: "custom",
      namespaceDisplayName: "Custom",
      key: `custom.seed-${i}`,
      displayName: `Seed ${i}`,
      labelType: "USER_DEFINED",
      createdDate: now,
      updatedDate: now,
    }),
  );
  for (let i = 0; i < rows.length; i += 200) await db("labels").insert(rows.slice(i, i + 200));
}

async function seedFields(db: Db, tenantId: string, n: number): Promise<void> {
  const now = new Date();
  const rows = Array.from({ length: n }, (_, i) =>
    extendedFieldToRow(tenantId, {
      namespace: "custom",
      key: `custom.seed-${i}`,
      displayName: `Seed ${i}`,
      dataType: "TEXT",
      fieldType: "USER_DEFINED",
      createdDate: now,
      updatedDate: now,
    }),
  );
  for (let i = 0; i < rows.length; i += 200) await db("extended_fields").insert(rows.slice(i, i + 200));
}

/**
 * Every bounded string at exactly its maximum is accepted. (A street's number and name are at
 * their maxima in separate addresses: both at once is a known MariaDB bug, tested below.)
 */
async function acceptsMaxima(t: TestServer, tenantId: string): Promise<void> {
  const { contacts, labels, fields } = t.clients(tenantId);
  const L = CONTACT_LIMITS;
  const street = (value: { number?: string; name?: string; apt?: string }) => ({
    address: { street: { case: "streetAddress" as const, value: { number: "1", name: "Main", ...value } }, city: s(L.city), hint: s(L.hint) },
  });
  const { contact } = await contacts.createContact({
    info: {
      name: { first: "😀".repeat(L.name), last: s(L.name) },
      emails: { items: Array.from({ length: L.items }, (_, i) => ({ email: email(L.email).replace(/^a{3}/, String(i).padStart(3, "0")) })) },
      phones: { items: [{ phone: s(L.phone, "1") }] },
      company: s(L.company),
      jobTitle: s(L.jobTitle),
      picture: { image: s(L.picture) },
      addresses: {
        items: [
          street({ number: s(L.street.number, "1"), apt: s(L.street.apt) }),
          street({ name: s(L.street.name) }),
          {
            address: {
              street: { case: "addressLine", value: s(L.addressLine) },
              addressLine2: s(L.addressLine),
              postalCode: s(L.postalCode),
              subdivision: s(L.subdivision),
            },
          },
          { address: { formattedAddress: s(L.formattedAddress) } },
        ],
      },
      assignedUserIds: { items: Array.from({ length: L.idList }, (_, i) => `${i}`.padStart(100, "u")) },
      locations: { items: Array.from({ length: L.idList }, (_, i) => `${i}`.padStart(100, "l")) },
    },
  });
  expect(contact?.info?.emails?.items).toHaveLength(L.items);
  const id = contact?.id ?? "";
  const member = await contacts.updateMemberInfo({ contactId: id, memberInfo: { memberId: s(100) }, requestId: s(64) });
  expect(member.contact?.memberInfo?.memberId).toBe(s(100));
  expect((await labels.findOrCreateLabel({ displayName: "😀".repeat(LABEL_LIMITS.displayNameMax) })).newLabel).toBe(true);
  expect((await labels.findOrCreateLabel({ displayName: s(LABEL_LIMITS.displayNameMax) })).newLabel).toBe(true);
  expect((await fields.findOrCreateExtendedField({ displayName: s(FIELD_LIMITS.displayNameMax), dataType: FieldDataType.TEXT })).newField).toBe(true);
  const notes = (await fields.findOrCreateExtendedField({ displayName: "Notes", dataType: FieldDataType.TEXT })).field?.key ?? "";
  const updated = await contacts.updateContact({
    contactId: id,
    revision: 2,
    info: { extendedFields: { items: { [notes]: { kind: { case: "stringValue", value: s(L.extendedFieldText) } } } } },
  });
  expect(updated.contact?.revision).toBe(3);
}

/**
 * Search tokens are cut to 100 characters; two different words (or an email and its local part)
 * that share their first 100 characters used to give the same token twice, a primary-key
 * violation and INTERNAL. On MariaDB, a cut in the middle of a surrogate pair also collided.
 */
async function acceptsLongSharedPrefixes(t: TestServer, tenantId: string): Promise<void> {
  const { contacts } = t.clients(tenantId);
  const infos = [
    { emails: { items: [{ email: email(CONTACT_LIMITS.email) }] } },
    { name: { first: s(150), last: s(151) } },
    { name: { first: `${s(99)}𝐀`, last: `${s(99)}𠀀` } },
  ];
  for (const info of infos) expect((await contacts.createContact({ info, allowDuplicates: true })).contact?.revision).toBe(1);
}

/**
 * Keys are `custom.<slug>` cut to 80 characters, `-2`, `-3`, … on collisions. Names whose slugs
 * share their first 73 characters collide; the third one used to be given `-2` again (the taken
 * keys were looked up by the first candidate's prefix, which the shorter `-n` candidates do not
 * share): a primary-key violation and INTERNAL.
 */
async function distinctKeysForLongNames(t: TestServer, tenantId: string): Promise<void> {
  const { labels, fields } = t.clients(tenantId);
  const labelKeys = [];
  const fieldKeys = [];
  for (const n of [80, 81, 82, 83, LABEL_LIMITS.displayNameMax]) {
    const label = await labels.findOrCreateLabel({ displayName: s(n, "1") });
    expect(label.newLabel).toBe(true);
    labelKeys.push(label.label?.key);
  }
  for (const n of [80, 81, 82, 83, FIELD_LIMITS.displayNameMax]) {
    const field = await fields.findOrCreateExtendedField({ displayName: s(n, "1"), dataType: FieldDataType.TEXT });
    expect(field.newField).toBe(true);
    fieldKeys.push(field.field?.key);
  }
  expect(new Set(labelKeys).size).toBe(5);
  expect(new Set(fieldKeys).size).toBe(5);
  expect(labelKeys.every((k) => (k?.length ?? 0) <= LABEL_LIMITS.keyMax)).toBe(true);
}

/**
 * Sends bodies over the read limit on both ports; each must fail cleanly and the server keep
 * serving. The calls use their own connections, closed afterwards (see the known-bug test below
 * for what repeated oversized bodies do to one HTTP/2 connection).
 */
async function bodyOverLimit(t: TestServer, tenantId: string, rounds: number, count = true): Promise<void> {
  const tenantHeader: Interceptor = (next) => (req) => {
    req.header.set("x-tenant-id", tenantId);
    return next(req);
  };
  const session = new Http2SessionManager(t.grpcUrl);
  const grpc = createClient(ContactsService, createGrpcTransport({ baseUrl: t.grpcUrl, sessionManager: session, interceptors: [tenantHeader] }));
  const connect = connectClient(t, tenantId);
  try {
    for (let i = 0; i < rounds; i++) {
      // A fresh string per round, so nothing is shared between calls.
      const body = { info: { name: { first: "Big" }, company: s(READ_LIMIT + 1024 * (i + 1), String.fromCharCode(97 + (i % 26))) } };
      for (const [port, client] of [
        ["grpc", grpc],
        ["connect", connect],
      ] as const) {
        const got = await outcomeOf(client.createContact(body));
        // grpc-js and connect-node refuse the body before any handler runs: no ErrorInfo, the code is the contract.
        if (count) record(`body over read limit (${port} port)`, got.code === "ResourceExhausted", got);
        expect(got.code, `${port} port`).toBe("ResourceExhausted");
      }
    }
    // Still serving, on the same connections and on new ones.
    expect((await grpc.createContact({ info: { name: { first: "after" } } })).contact?.revision).toBe(1);
    expect((await connect.createContact({ info: { name: { first: "after" } } })).contact?.revision).toBe(1);
    expect((await t.clients(tenantId).contacts.createContact({ info: { name: { first: "after" } } })).contact?.revision).toBe(1);
  } finally {
    session.abort();
  }
}

describe("scenario 11: limits on SQLite", () => {
  let t: TestServer;
  let contactId = "";
  beforeAll(async () => {
    t = await startTestServer("sqlite", { maxMessageBytes: READ_LIMIT });
    const { contacts, fields } = t.clients("lim");
    // Warm up every path once before the baseline (a big body on each port, a page of 2000 labels),
    // so lazy module loads, caches and V8's young generation growing to its working size don't
    // count as growth: what is left to measure is what accumulates.
    contactId = (await contacts.createContact({ info: { name: { first: "Limit" } } })).contact?.id ?? "";
    await fields.findOrCreateExtendedField({ displayName: "Notes", dataType: FieldDataType.TEXT });
    await contacts.getContact({ id: contactId });
    await bodyOverLimit(t, "lim", 2, false);
    await t.clients("warm").labels.listLabels({});
    await seedLabels(t.server.db, "warm", LABELS_MAX_PAGE + 10);
    await t.clients("warm").labels.listLabels({ paging: { limit: LABELS_MAX_PAGE } });
    await collect();
    ({ rss: rssBefore, heapUsed: heapBefore } = process.memoryUsage());
  });
  afterAll(async () => {
    await t?.close();
  });

  it("a body over the read limit is RESOURCE_EXHAUSTED on the gRPC port and on the Connect port", async () => {
    await bodyOverLimit(t, "lim", 10);
  });

  describe("repeated fields at max + 1 are TOO_MANY_ITEMS (or the method's reason) at their path", () => {
    const items = CONTACT_LIMITS.items + 1;
    it("CreateContact info.emails / phones / addresses: 51 items", async () => {
      const { contacts } = t.clients("lim");
      const emails = Array.from({ length: items }, (_, i) => ({ email: `e${i}@example.com` }));
      const phones = Array.from({ length: items }, (_, i) => ({ phone: `+1201555${String(i).padStart(4, "0")}` }));
      const addresses = Array.from({ length: items }, () => ({ address: { city: "Paris" } }));
      await expectInvalid("emails 51", contacts.createContact({ info: { emails: { items: emails } } }), "TOO_MANY_ITEMS", "info.emails.items");
      await expectInvalid("phones 51", contacts.createContact({ info: { phones: { items: phones } } }), "TOO_MANY_ITEMS", "info.phones.items");
      await expectInvalid(
        "addresses 51",
        contacts.createContact({ info: { name: { first: "A" }, addresses: { items: addresses } } }),
        "TOO_MANY_ITEMS",
        "info.addresses.items",
      );
      // The same limits on update.
      await expectInvalid(
        "update emails 51",
        contacts.updateContact({ contactId, revision: 1, info: { emails: { items: emails } } }),
        "TOO_MANY_ITEMS",
        "info.emails.items",
      );
    });

    it("CreateContact info.label_keys: 2001 keys; assigned_user_ids and locations: 51", async () => {
      const { contacts } = t.clients("lim");
      const keys = Array.from({ length: CONTACT_LIMITS.labelKeys + 1 }, (_, i) => `custom.k-${i}`);
      const ids = Array.from({ length: CONTACT_LIMITS.idList + 1 }, (_, i) => `id-${i}`);
      const name = { first: "A" };
      await expectInvalid("label_keys 2001", contacts.createContact({ info: { name, labelKeys: { items: keys } } }), "TOO_MANY_ITEMS", "info.label_keys.items");
      await expectInvalid(
        "assigned_user_ids 51",
        contacts.createContact({ info: { name, assignedUserIds: { items: ids } } }),
        "TOO_MANY_ITEMS",
        "info.assigned_user_ids.items",
      );
      await expectInvalid("locations 51", contacts.createContact({ info: { name, locations: { items: ids } } }), "TOO_MANY_ITEMS", "info.locations.items");
    });

    it("LabelContact and UnlabelContact: 101 label keys", async () => {
      const { contacts } = t.clients("lim");
      const keys = Array.from({ length: 101 }, (_, i) => `custom.k-${i}`);
      await expectInvalid("LabelContact 101", contacts.labelContact({ contactId, labelKeys: keys }), "TOO_MANY_ITEMS", "label_keys");
      await expectInvalid("UnlabelContact 101", contacts.unlabelContact({ contactId, labelKeys: keys }), "TOO_MANY_ITEMS", "label_keys");
    });

    it("GetContact: 101 fields, 11 fieldsets", async () => {
      const { contacts } = t.clients("lim");
      await expectInvalid("fields 101", contacts.getContact({ id: contactId, fields: Array(101).fill("info.name") }), "INVALID_FIELDS", "fields");
      await expectInvalid(
        "fieldsets 11",
        contacts.getContact({ id: contactId, fieldsets: Array(11).fill(ContactFieldSet.BASIC) }),
        "INVALID_FIELDS",
        "fieldsets",
      );
    });

    it("QueryLabels: 101 sort entries; QueryExtendedFields: 2; a filter $in of 1001 values; a filter nested 17 deep", async () => {
      const { labels, fields } = t.clients("lim");
      const sort = (n: number) => Array.from({ length: n }, () => ({ fieldName: "displayName", order: SortOrder.ASC }));
      await expectInvalid("QueryLabels sort 101", labels.queryLabels({ query: { sort: sort(101) } }), "INVALID_SORT", "query.sort");
      await expectInvalid("QueryExtendedFields sort 2", fields.queryExtendedFields({ query: { sort: sort(2) } }), "INVALID_SORT", "query.sort");
      const many = Array.from({ length: 1001 }, (_, i) => `v${i}`);
      await expectInvalid(
        "$in 1001 values",
        labels.queryLabels({ query: { filter: { displayName: { $in: many } } } }),
        "UNSUPPORTED_FILTER_VALUE",
        "query.filter.displayName.$in",
      );
      let deep: Record<string, unknown> = { displayName: "x" };
      for (let i = 0; i < 17; i++) deep = { $and: [deep] };
      const got = await outcomeOf(fields.queryExtendedFields({ query: { filter: deep as never } }));
      record("filter nested 17 deep", got.code === "InvalidArgument" && got.reason === "MALFORMED_FILTER", got);
      expect(got).toMatchObject({ code: "InvalidArgument", reason: "MALFORMED_FILTER", domain: "contacts.v1" });
    });
  });

  describe("strings at max + 1", () => {
    it("CreateContact: every bounded string of info", async () => {
      const { contacts } = t.clients("lim");
      const L = CONTACT_LIMITS;
      const name = { first: "A" };
      const cases: [string, Parameters<typeof contacts.createContact>[0]["info"], string, string][] = [
        ["name.first 1001", { name: { first: s(L.name + 1) } }, "VALUE_TOO_LONG", "info.name.first"],
        ["name.last 1001", { name: { last: s(L.name + 1) } }, "VALUE_TOO_LONG", "info.name.last"],
        ["email 321", { emails: { items: [{ email: email(L.email + 1) }] } }, "VALUE_TOO_LONG", "info.emails.items[0].email"],
        ["phone 51", { phones: { items: [{ phone: s(L.phone + 1, "1") }] } }, "VALUE_TOO_LONG", "info.phones.items[0].phone"],
        ["company 1001", { name, company: s(L.company + 1) }, "VALUE_TOO_LONG", "info.company"],
        ["job_title 1001", { name, jobTitle: s(L.jobTitle + 1) }, "VALUE_TOO_LONG", "info.job_title"],
        ["locale 51", { name, locale: s(L.locale + 1) }, "VALUE_TOO_LONG", "info.locale"],
        ["picture.image 2001", { name, picture: { image: s(L.picture + 1) } }, "VALUE_TOO_LONG", "info.picture.image"],
        ["label key 81", { name, labelKeys: { items: [s(L.labelKey + 1)] } }, "VALUE_TOO_LONG", "info.label_keys.items[0]"],
        ["assigned user id 101", { name, assignedUserIds: { items: [s(101)] } }, "VALUE_TOO_LONG", "info.assigned_user_ids.items[0]"],
        ["location id 101", { name, locations: { items: [s(101)] } }, "VALUE_TOO_LONG", "info.locations.items[0]"],
      ];
      const street = (value: object) => ({
        name,
        addresses: { items: [{ address: { street: { case: "streetAddress" as const, value: { name: "Main", ...value } } } }] },
      });
      const address = (value: object) => ({ name, addresses: { items: [{ address: value }] } });
      const at = "info.addresses.items[0].address";
      cases.push(
        ["street number 101", street({ number: s(L.street.number + 1, "1") }), "VALUE_TOO_LONG", `${at}.street_address.number`],
        ["street name 1001", street({ name: s(L.street.name + 1) }), "VALUE_TOO_LONG", `${at}.street_address.name`],
        ["street apt 101", street({ apt: s(L.street.apt + 1) }), "VALUE_TOO_LONG", `${at}.street_address.apt`],
        ["address_line 1001", address({ street: { case: "addressLine", value: s(L.addressLine + 1) } }), "VALUE_TOO_LONG", `${at}.address_line`],
        ["address_line2 1001", address({ addressLine2: s(L.addressLine + 1) }), "VALUE_TOO_LONG", `${at}.address_line2`],
        ["city 1001", address({ city: s(L.city + 1) }), "VALUE_TOO_LONG", `${at}.city`],
        ["subdivision 101", address({ subdivision: s(L.subdivision + 1) }), "VALUE_TOO_LONG", `${at}.subdivision`],
        ["postal_code 101", address({ postalCode: s(L.postalCode + 1) }), "VALUE_TOO_LONG", `${at}.postal_code`],
        ["formatted_address 2001", address({ formattedAddress: s(L.formattedAddress + 1) }), "VALUE_TOO_LONG", `${at}.formatted_address`],
        ["hint 201", address({ hint: s(L.hint + 1) }), "VALUE_TOO_LONG", `${at}.hint`],
      );
      for (const [label, info, reason, field] of cases) {
        await expectInvalid(`CreateContact ${label}`, contacts.createContact({ info }), reason, field);
      }
      // Lengths count characters (code points), not UTF-16 units or bytes: 1001 emoji is too long.
      await expectInvalid(
        "name.first 1001 emoji",
        contacts.createContact({ info: { name: { first: "😀".repeat(L.name + 1) } } }),
        "VALUE_TOO_LONG",
        "info.name.first",
      );
    });

    it("every bounded string is accepted at exactly its maximum", async () => {
      await acceptsMaxima(t, "lim-max");
    });

    it("regression: long words sharing their first 100 characters (search tokens) are not INTERNAL", async () => {
      await acceptsLongSharedPrefixes(t, "lim-tokens");
    });

    it("regression: long display names sharing their first 73 characters get distinct keys", async () => {
      await distinctKeysForLongNames(t, "lim-keys");
    });

    it("ContactsService: ids, request_id, member_id, field paths and extended field text", async () => {
      const { contacts, fields } = t.clients("lim");
      const rid = s(65);
      const info = { name: { first: "A" } };
      await expectInvalid("GetContact id 101", contacts.getContact({ id: s(101) }), "INVALID_CONTACT_ID", "id");
      await expectInvalid("GetContact fields[0] 101", contacts.getContact({ id: contactId, fields: [s(101)] }), "INVALID_FIELDS", "fields[0]");
      await expectInvalid("UpdateContact contact_id 101", contacts.updateContact({ contactId: s(101), revision: 1, info }), "INVALID_CONTACT_ID", "contact_id");
      await expectInvalid("DeleteContact contact_id 101", contacts.deleteContact({ contactId: s(101) }), "INVALID_CONTACT_ID", "contact_id");
      await expectInvalid(
        "LabelContact contact_id 101",
        contacts.labelContact({ contactId: s(101), labelKeys: ["contacts.customers"] }),
        "INVALID_CONTACT_ID",
        "contact_id",
      );
      await expectInvalid(
        "UnlabelContact contact_id 101",
        contacts.unlabelContact({ contactId: s(101), labelKeys: ["contacts.customers"] }),
        "INVALID_CONTACT_ID",
        "contact_id",
      );
      await expectInvalid("UpdateMemberInfo contact_id 101", contacts.updateMemberInfo({ contactId: s(101) }), "INVALID_CONTACT_ID", "contact_id");
      await expectInvalid("LabelContact key 81", contacts.labelContact({ contactId, labelKeys: [s(81)] }), "VALUE_TOO_LONG", "label_keys[0]");
      await expectInvalid("UnlabelContact key 81", contacts.unlabelContact({ contactId, labelKeys: [s(81)] }), "VALUE_TOO_LONG", "label_keys[0]");
      await expectInvalid(
        "UpdateMemberInfo member_id 101",
        contacts.updateMemberInfo({ contactId, memberInfo: { memberId: s(101) } }),
        "VALUE_TOO_LONG",
        "member_info.member_id",
      );
      const notes = (await fields.findOrCreateExtendedField({ displayName: "Notes", dataType: FieldDataType.TEXT })).field?.key ?? "";
      await expectInvalid(
        "extended field TEXT 2001",
        contacts.createContact({ info: { ...info, extendedFields: { items: { [notes]: { kind: { case: "stringValue", value: s(2001) } } } } } }),
        "INVALID_EXTENDED_FIELD_VALUE",
        `info.extended_fields.items["${notes}"]`,
      );
      const mutations: [string, Promise<unknown>][] = [
        ["CreateContact", contacts.createContact({ info, requestId: rid })],
        ["UpdateContact", contacts.updateContact({ contactId, revision: 1, info, requestId: rid })],
        ["DeleteContact", contacts.deleteContact({ contactId, requestId: rid })],
        ["LabelContact", contacts.labelContact({ contactId, labelKeys: ["contacts.customers"], requestId: rid })],
        ["UnlabelContact", contacts.unlabelContact({ contactId, labelKeys: ["contacts.customers"], requestId: rid })],
        ["UpdateMemberInfo", contacts.updateMemberInfo({ contactId, requestId: rid })],
      ];
      for (const [method, call] of mutations) await expectInvalid(`${method} request_id 65`, call, "INVALID_REQUEST_ID", "request_id");
    });

    it("LabelsService and ExtendedFieldsService: display names, keys, namespaces, starts_with, request_id", async () => {
      const { labels, fields } = t.clients("lim");
      const rid = s(65);
      const LD = LABEL_LIMITS.displayNameMax + 1;
      const FD = FIELD_LIMITS.displayNameMax + 1;
      const K = LABEL_LIMITS.keyMax + 1;
      const cases: [string, Promise<unknown>, string, string][] = [
        ["FindOrCreateLabel display_name 181", labels.findOrCreateLabel({ displayName: s(LD) }), "INVALID_DISPLAY_NAME", "display_name"],
        ["RenameLabel display_name 181", labels.renameLabel({ label: { key: "custom.x", displayName: s(LD) } }), "INVALID_DISPLAY_NAME", "label.display_name"],
        ["RenameLabel key 81", labels.renameLabel({ label: { key: s(K), displayName: "x" } }), "INVALID_KEY", "label.key"],
        ["GetLabel key 81", labels.getLabel({ key: s(K) }), "INVALID_KEY", "key"],
        ["DeleteLabel key 81", labels.deleteLabel({ key: s(K) }), "INVALID_KEY", "key"],
        ["ListLabels namespace 26", labels.listLabels({ namespace: s(26) }), "INVALID_NAMESPACE", "namespace"],
        ["ListLabels starts_with 181", labels.listLabels({ startsWith: s(LD) }), "INVALID_STARTS_WITH", "starts_with"],
        ["FindOrCreateLabel request_id 65", labels.findOrCreateLabel({ displayName: "x", requestId: rid }), "INVALID_REQUEST_ID", "request_id"],
        ["RenameLabel request_id 65", labels.renameLabel({ label: { key: "custom.x", displayName: "y" }, requestId: rid }), "INVALID_REQUEST_ID", "request_id"],
        ["DeleteLabel request_id 65", labels.deleteLabel({ key: "custom.x", requestId: rid }), "INVALID_REQUEST_ID", "request_id"],
        ["FindOrCreateExtendedField display_name 151", fields.findOrCreateExtendedField({ displayName: s(FD) }), "INVALID_DISPLAY_NAME", "display_name"],
        [
          "RenameExtendedField display_name 151",
          fields.renameExtendedField({ field: { key: "custom.x", displayName: s(FD) } }),
          "INVALID_DISPLAY_NAME",
          "field.display_name",
        ],
        ["RenameExtendedField key 81", fields.renameExtendedField({ field: { key: s(K), displayName: "x" } }), "INVALID_KEY", "field.key"],
        ["GetExtendedField key 81", fields.getExtendedField({ key: s(K) }), "INVALID_KEY", "key"],
        ["DeleteExtendedField key 81", fields.deleteExtendedField({ key: s(K) }), "INVALID_KEY", "key"],
        ["ListExtendedFields namespace 26", fields.listExtendedFields({ namespace: s(26) }), "INVALID_NAMESPACE", "namespace"],
        ["ListExtendedFields starts_with 151", fields.listExtendedFields({ startsWith: s(FD) }), "INVALID_STARTS_WITH", "starts_with"],
        ["FindOrCreateExtendedField request_id 65", fields.findOrCreateExtendedField({ displayName: "x", requestId: rid }), "INVALID_REQUEST_ID", "request_id"],
        [
          "RenameExtendedField request_id 65",
          fields.renameExtendedField({ field: { key: "custom.x", displayName: "y" }, requestId: rid }),
          "INVALID_REQUEST_ID",
          "request_id",
        ],
        ["DeleteExtendedField request_id 65", fields.deleteExtendedField({ key: "custom.x", requestId: rid }), "INVALID_REQUEST_ID", "request_id"],
      ];
      for (const [label, call, reason, field] of cases) await expectInvalid(label, call, reason, field);
    });
  });

  describe("page sizes", () => {
    it("−1 is ILLEGAL_LIMIT (offset −1 ILLEGAL_OFFSET) at the paging path of every list and query", async () => {
      const { labels, fields } = t.clients("lim");
      const cases: [string, Promise<unknown>, string, string][] = [
        [
          "QueryLabels paging.limit -1",
          labels.queryLabels({ query: { pagingMethod: { case: "paging", value: { limit: -1 } } } }),
          "ILLEGAL_LIMIT",
          "query.paging.limit",
        ],
        [
          "QueryLabels cursor_paging.limit -1",
          labels.queryLabels({ query: { pagingMethod: { case: "cursorPaging", value: { limit: -1 } } } }),
          "ILLEGAL_LIMIT",
          "query.cursor_paging.limit",
        ],
        ["ListLabels paging.limit -1", labels.listLabels({ paging: { limit: -1 } }), "ILLEGAL_LIMIT", "paging.limit"],
        [
          "QueryExtendedFields paging.limit -1",
          fields.queryExtendedFields({ query: { pagingMethod: { case: "paging", value: { limit: -1 } } } }),
          "ILLEGAL_LIMIT",
          "query.paging.limit",
        ],
        [
          "QueryExtendedFields cursor_paging.limit -1",
          fields.queryExtendedFields({ query: { pagingMethod: { case: "cursorPaging", value: { limit: -1 } } } }),
          "ILLEGAL_LIMIT",
          "query.cursor_paging.limit",
        ],
        ["ListExtendedFields paging.limit -1", fields.listExtendedFields({ paging: { limit: -1 } }), "ILLEGAL_LIMIT", "paging.limit"],
        [
          "QueryLabels paging.offset -1",
          labels.queryLabels({ query: { pagingMethod: { case: "paging", value: { offset: -1 } } } }),
          "ILLEGAL_OFFSET",
          "query.paging.offset",
        ],
        ["ListExtendedFields paging.offset -1", fields.listExtendedFields({ paging: { offset: -1 } }), "ILLEGAL_OFFSET", "paging.offset"],
      ];
      for (const [label, call, reason, field] of cases) await expectInvalid(label, call, reason, field);
    });

    it("10⁶ is coerced to the maximum: 2000 labels, 1000 extended fields, with more rows than that stored", async () => {
      const { labels, fields } = t.clients("pages");
      await labels.listLabels({}); // creates the tenant and its system entries
      await seedLabels(t.server.db, "pages", LABELS_MAX_PAGE + 10);
      await seedFields(t.server.db, "pages", FIELDS_MAX_PAGE + 10);
      const huge = 1_000_000;
      const checks: [string, () => Promise<{ n: number; hasNext: boolean }>, number][] = [
        [
          "QueryLabels paging",
          async () => {
            const r = await labels.queryLabels({ query: { pagingMethod: { case: "paging", value: { limit: huge } } } });
            return { n: r.labels.length, hasNext: r.pagingMetadata?.hasNext ?? false };
          },
          LABELS_MAX_PAGE,
        ],
        [
          "QueryLabels cursor_paging",
          async () => {
            const r = await labels.queryLabels({ query: { pagingMethod: { case: "cursorPaging", value: { limit: huge } } } });
            return { n: r.labels.length, hasNext: r.pagingMetadata?.hasNext ?? false };
          },
          LABELS_MAX_PAGE,
        ],
        [
          "ListLabels",
          async () => {
            const r = await labels.listLabels({ paging: { limit: huge } });
            return { n: r.labels.length, hasNext: r.metadata?.hasNext ?? false };
          },
          LABELS_MAX_PAGE,
        ],
        [
          "QueryExtendedFields paging",
          async () => {
            const r = await fields.queryExtendedFields({ query: { pagingMethod: { case: "paging", value: { limit: huge } } } });
            return { n: r.fields.length, hasNext: r.pagingMetadata?.hasNext ?? false };
          },
          FIELDS_MAX_PAGE,
        ],
        [
          "QueryExtendedFields cursor_paging",
          async () => {
            const r = await fields.queryExtendedFields({ query: { pagingMethod: { case: "cursorPaging", value: { limit: huge } } } });
            return { n: r.fields.length, hasNext: r.pagingMetadata?.hasNext ?? false };
          },
          FIELDS_MAX_PAGE,
        ],
        [
          "ListExtendedFields",
          async () => {
            const r = await fields.listExtendedFields({ paging: { limit: huge } });
            return { n: r.fields.length, hasNext: r.metadata?.hasNext ?? false };
          },
          FIELDS_MAX_PAGE,
        ],
      ];
      for (const [label, run, max] of checks) {
        const got = await run();
        record(`${label} limit 10^6`, got.n === max && got.hasNext, got);
        expect(got, label).toEqual({ n: max, hasNext: true });
      }
    });
  });
});

describe("scenario 11: limits on MariaDB", () => {
  let t: TestServer;
  const store: StoreName = "mysql";
  beforeAll(async () => {
    t = await startTestServer(store, { maxMessageBytes: READ_LIMIT });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("body over the read limit, repeated and string limits, page sizes −1 and 10⁶", async () => {
    await bodyOverLimit(t, "lim-my", 3);
    const { contacts, labels } = t.clients("lim-my");
    const keys = Array.from({ length: CONTACT_LIMITS.labelKeys + 1 }, (_, i) => `custom.k-${i}`);
    await expectInvalid("MariaDB name.first 1001", contacts.createContact({ info: { name: { first: s(1001) } } }), "VALUE_TOO_LONG", "info.name.first");
    await expectInvalid(
      "MariaDB label_keys 2001",
      contacts.createContact({ info: { name: { first: "A" }, labelKeys: { items: keys } } }),
      "TOO_MANY_ITEMS",
      "info.label_keys.items",
    );
    await expectInvalid("MariaDB ListLabels -1", labels.listLabels({ paging: { limit: -1 } }), "ILLEGAL_LIMIT", "paging.limit");
    await seedLabels(t.server.db, "lim-my", LABELS_MAX_PAGE + 10);
    const r = await labels.queryLabels({ query: { pagingMethod: { case: "paging", value: { limit: 1_000_000 } } } });
    record("MariaDB QueryLabels limit 10^6", r.labels.length === LABELS_MAX_PAGE, { n: r.labels.length });
    expect(r.labels).toHaveLength(LABELS_MAX_PAGE);
    expect(r.pagingMetadata).toMatchObject({ count: LABELS_MAX_PAGE, hasNext: true });
  });

  it("every bounded string is accepted at exactly its maximum", async () => {
    await acceptsMaxima(t, "lim-my-max");
  });

  it("regression: long words sharing their first 100 characters (search tokens) are not INTERNAL", async () => {
    await acceptsLongSharedPrefixes(t, "lim-my-tokens");
  });

  it("regression: long display names sharing their first 73 characters get distinct keys", async () => {
    await distinctKeysForLongNames(t, "lim-my-keys");
  });

  // "number name" of a street at its limits is 100 + 1 + 1000 = 1101 characters
  // (contact_addresses.street is that wide since migration 003).
  it("a street number and name both at their maxima are accepted", async () => {
    const { contacts } = t.clients("lim-my-street");
    const value = { number: s(CONTACT_LIMITS.street.number, "1"), name: s(CONTACT_LIMITS.street.name) };
    await contacts.createContact({ info: { name: { first: "A" }, addresses: { items: [{ address: { street: { case: "streetAddress", value } } }] } } });
  });

  // Lower-casing can lengthen a string ("İ" → "i̇"): the lower-cased copies (contacts.primary_phone_lc,
  // contact_phones.phone_lc, contacts.primary_email, contact_emails.email_key) are twice as wide
  // as the original's limit since migration 003.
  it("a phone of 50 'İ' is accepted", async () => {
    await t.clients("lim-my-i").contacts.createContact({ info: { phones: { items: [{ phone: "İ".repeat(CONTACT_LIMITS.phone) }] } } });
  });
  it("an email of 320 characters with 'İ' is accepted", async () => {
    const local = "İ".repeat(CONTACT_LIMITS.email - "@example.com".length);
    await t.clients("lim-my-i").contacts.createContact({ info: { emails: { items: [{ email: `${local}@example.com` }] } } });
  });
});

describe("scenario 11: figure", () => {
  it("RSS grows by less than 50 MB over the whole run", async () => {
    await collect();
    const growthMB = (process.memoryUsage().rss - rssBefore) / MB;
    const heapGrowthMB = (process.memoryUsage().heapUsed - heapBefore) / MB;
    const pct = tally.cases === 0 ? 0 : (100 * tally.documented) / tally.cases;
    console.log(
      `[scenario 11] cases=${tally.cases} documented=${tally.documented} (${pct.toFixed(0)}%) rssGrowthMB=${growthMB.toFixed(1)} heapGrowthMB=${heapGrowthMB.toFixed(1)}` +
        `${gc ? "" : " (no gc available: measured without a forced collection)"}`,
    );
    expect(tally.failures).toEqual([]);
    expect(tally.documented).toBe(tally.cases);
    expect(growthMB).toBeLessThan(50);
  });
});

describe("scenario 11: repeated bodies over the read limit on one HTTP/2 connection", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer("sqlite", { maxMessageBytes: 64 * 1024 });
  });
  afterAll(async () => {
    await t?.close();
  });

  /**
   * Sends 15 bodies of 1 MiB (over a 64 KiB limit) and then a small valid call on the same
   * HTTP/2 connection; returns the codes seen and the small call's outcome.
   *
   * The client session gets room for them: Node's http2 *client* counts the unsent rest of each
   * refused body against its own session memory (10 MB by default) and, past it, refuses its own
   * new streams with ENHANCE_YOUR_CALM (seen as INTERNAL). That is the client's limit, not the
   * server's: with room on the client side the server keeps serving the connection.
   */
  async function oversizedThenSmall(baseUrl: string, kind: "grpc" | "connect"): Promise<{ codes: string[]; after: string }> {
    const session = new Http2SessionManager(baseUrl, undefined, { maxSessionMemory: 100 });
    const transport =
      kind === "grpc"
        ? createGrpcTransport({ baseUrl, sessionManager: session })
        : createConnectTransport({ baseUrl, httpVersion: "2", sessionManager: session });
    const contacts = createClient(ContactsService, transport);
    try {
      const codes: string[] = [];
      for (let i = 0; i < 15; i++) {
        codes.push((await outcomeOf(contacts.createContact({ info: { company: s(1024 * 1024 + i) } }, { timeoutMs: 5_000 }))).code);
      }
      const after = (await outcomeOf(contacts.createContact({ info: { name: { first: "small" } } }, { timeoutMs: 5_000 }))).code;
      return { codes: [...new Set(codes)], after };
    } finally {
      session.abort();
    }
  }

  it("gRPC port: the connection keeps serving after 15 bodies over the limit", async () => {
    expect(await oversizedThenSmall(t.grpcUrl, "grpc")).toEqual({ codes: ["ResourceExhausted"], after: "OK" });
  });
  it("Connect port (h2c): the connection keeps serving after 15 bodies over the limit", async () => {
    expect(await oversizedThenSmall(t.httpUrl, "connect")).toEqual({ codes: ["ResourceExhausted"], after: "OK" });
  });
});
