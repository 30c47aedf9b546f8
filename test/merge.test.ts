/**
 * MergeContacts and PreviewMergeContacts (reference §2.3–2.4, API.md "Decisions" → Merge), rule by
 * rule, through gRPC on both stores: what the merged target holds, what happens to the sources
 * and their ids, every error code (each leaving the data and the outbox untouched), preview =
 * merge, the merge's events and request_id idempotency.
 */
import { Code } from "@connectrpc/connect";
import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { type Value, ValueSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { type Contact, ContactSchema, MemberRole } from "../gen/contacts/v1/contact_pb.js";
import { GetContactResponseType } from "../gen/contacts/v1/contacts_service_pb.js";
import { FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { expectError } from "./support/errors.js";
import { STORES, suiteWithTenants, type TestServer } from "./support/server.js";

type Clients = ReturnType<TestServer["clients"]>;
type InfoInit = Parameters<Clients["contacts"]["createContact"]>[0]["info"];

/** Extended field values as plain JSON (they travel as google.protobuf.Value). */
function ext(contact: Contact | undefined): Record<string, JsonValue> {
  return Object.fromEntries(Object.entries(contact?.info?.extendedFields?.items ?? {}).map(([k, v]) => [k, toJson(ValueSchema, v)]));
}
function values(items: Record<string, JsonValue>): Record<string, Value> {
  return Object.fromEntries(Object.entries(items).map(([k, v]) => [k, fromJson(ValueSchema, v)]));
}
function json(contact: Contact | undefined): Record<string, unknown> {
  if (!contact) throw new Error("no contact");
  return toJson(ContactSchema, contact) as Record<string, unknown>;
}
/** A contact without the parts a merge changes by definition (revision and dates). */
function timeless(contact: Contact | undefined): Record<string, unknown> {
  const {
    revision: _r,
    updatedDate: _u,
    lastActivity,
    ...rest
  } = json(contact) as Record<string, unknown> & {
    lastActivity?: { activityType?: string };
  };
  return { ...rest, lastActivityType: lastActivity?.activityType };
}
const emailsOf = (c: Contact | undefined) => c?.info?.emails?.items.map((e) => [e.email, e.primary ?? false]);
const phonesOf = (c: Contact | undefined) => c?.info?.phones?.items.map((p) => [p.e164Phone || p.phone, p.primary ?? false]);

describe.each(STORES)("MergeContacts on %s", (store) => {
  const suite = suiteWithTenants(store, "m");
  /** A fresh tenant per test keeps duplicate checks, counts and event logs independent. */
  const tenant = suite.tenant;
  type Tenant = ReturnType<typeof tenant>;

  /** Creates a contact (duplicates allowed: merge sources usually are duplicates). */
  async function make(c: Tenant, info: InfoInit): Promise<Contact> {
    const { contact } = await c.contacts.createContact({ info, allowDuplicates: true });
    if (!contact) throw new Error("no contact created");
    return contact;
  }
  async function get(c: Tenant, id: string): Promise<Contact | undefined> {
    return (await c.contacts.getContact({ id })).contact;
  }
  async function label(c: Tenant, displayName: string): Promise<string> {
    return (await c.labels.findOrCreateLabel({ displayName })).label?.key ?? "";
  }
  /** Everything a failed call must leave untouched: rows, redirects and the outbox. */
  async function snapshot(tenantId: string) {
    const db = suite.t().server.db;
    const contacts = await db("contacts").where({ tenant_id: tenantId }).orderBy("id").select("id", "doc");
    const redirects = await db("contact_redirects").where({ tenant_id: tenantId }).orderBy("source_id").select("source_id", "target_id");
    const events = await db("events").where({ tenant_id: tenantId }).count({ n: "*" }).first();
    return { contacts: contacts.map((r) => [r.id, String(r.doc)]), redirects, events: Number(events?.n ?? 0) };
  }
  async function eventsSince(tenantId: string, afterSeq: number) {
    return suite.t().server.db("events").where({ tenant_id: tenantId }).andWhere("seq", ">", afterSeq).orderBy("seq");
  }
  async function lastSeq(tenantId: string): Promise<number> {
    const row = await suite.t().server.db("events").where({ tenant_id: tenantId }).max({ s: "seq" }).first();
    return Number(row?.s ?? 0);
  }

  describe("the merged target", () => {
    it("appends emails, phones and addresses in source order, skipping what is already there (emails case-insensitively, phones by E.164)", async () => {
      const c = tenant();
      const target = await make(c, {
        name: { first: "Target" },
        emails: { items: [{ email: "t@x.io" }] },
        phones: { items: [{ phone: "+1 201 555 0100" }] },
        addresses: { items: [{ address: { city: "Paris", country: "FR" } }] },
      });
      const s1 = await make(c, {
        emails: { items: [{ email: "  T@X.IO " }, { email: "s1@x.io", primary: true }] },
        phones: { items: [{ phone: "(201) 555-0100", countryCode: "US" }, { phone: "+44 20 7946 0958" }] },
        addresses: { items: [{ address: { city: "Paris", country: "FR" } }, { address: { city: "Lyon", country: "FR" } }] },
      });
      const s2 = await make(c, {
        emails: { items: [{ email: "s2@x.io" }, { email: "S1@x.io" }] },
        phones: { items: [{ phone: "020 7946 0958", countryCode: "GB" }, { phone: "+1 212 555 0199" }] },
        addresses: { items: [{ address: { city: "Nice", country: "FR" } }, { address: { city: "Lyon", country: "FR" } }] },
      });
      const { contact } = await c.contacts.mergeContacts({
        targetContactId: target.id,
        targetContactRevision: 1,
        sourceContactIds: [s1.id, s2.id],
      });
      // The target's items first and untouched, then source 1's new ones, then source 2's.
      expect(emailsOf(contact)).toEqual([
        ["t@x.io", true],
        ["s1@x.io", false],
        ["s2@x.io", false],
      ]);
      expect(phonesOf(contact)).toEqual([
        ["+12015550100", true],
        ["+442079460958", false],
        ["+12125550199", false],
      ]);
      expect(contact?.info?.addresses?.items.map((a) => a.address?.city)).toEqual(["Paris", "Lyon", "Nice"]);
      // Items keep their identity (ids) from where they came.
      expect(contact?.info?.emails?.items[0]?.id).toBe(target.info?.emails?.items[0]?.id);
      expect(contact?.info?.emails?.items[1]?.id).toBe(s1.info?.emails?.items[1]?.id);
      expect(contact?.primaryInfo).toMatchObject({ email: "t@x.io", phone: "+1 201 555 0100" });
      expect(await get(c, target.id)).toEqual(contact);
    });

    it("a target without emails (or phones) gets the first appended one as primary, the rest not", async () => {
      const c = tenant();
      const target = await make(c, { name: { first: "Nomail" } });
      const s1 = await make(c, {
        emails: { items: [{ email: "a@x.io" }, { email: "b@x.io", primary: true }] },
        phones: { items: [{ phone: "+1 201 555 0101" }, { phone: "+1 201 555 0102", primary: true }] },
      });
      const s2 = await make(c, { emails: { items: [{ email: "c@x.io", primary: true }] } });
      const { contact } = await c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [s1.id, s2.id] });
      expect(emailsOf(contact)).toEqual([
        ["a@x.io", true],
        ["b@x.io", false],
        ["c@x.io", false],
      ]);
      expect(phonesOf(contact)).toEqual([
        ["+12015550101", true],
        ["+12015550102", false],
      ]);
      expect(contact?.primaryEmail?.email).toBe("a@x.io");
      expect(contact?.primaryPhone?.e164Phone).toBe("+12015550101");
    });

    it("keeps a non-first primary of the target primary", async () => {
      const c = tenant();
      const target = await make(c, { emails: { items: [{ email: "t1@x.io" }, { email: "t2@x.io", primary: true }] } });
      const s1 = await make(c, { emails: { items: [{ email: "s@x.io", primary: true }] } });
      const { contact } = await c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [s1.id] });
      expect(emailsOf(contact)).toEqual([
        ["t1@x.io", false],
        ["t2@x.io", true],
        ["s@x.io", false],
      ]);
      expect(contact?.primaryInfo?.email).toBe("t2@x.io");
    });

    it("unites labels: the target's first, then each source's new ones in order", async () => {
      const c = tenant();
      const [l1, l2, l3, l4] = [await label(c, "One"), await label(c, "Two"), await label(c, "Three"), await label(c, "Four")];
      const target = await make(c, { name: { first: "T" }, labelKeys: { items: [l1 ?? "", l2 ?? ""] } });
      const s1 = await make(c, { name: { first: "S1" }, labelKeys: { items: [l2 ?? "", l3 ?? ""] } });
      const s2 = await make(c, { name: { first: "S2" }, labelKeys: { items: [l4 ?? "", l1 ?? "", "contacts.customers"] } });
      const { contact } = await c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [s1.id, s2.id] });
      expect(contact?.info?.labelKeys?.items).toEqual([l1, l2, l3, l4, "contacts.customers"]);
      // The label index follows: a label query finds the target.
      const found = await c.contacts.queryContacts({ query: { filter: { "info.labelKeys": { $hasSome: [l3 ?? ""] } } } });
      expect(found.contacts.map((x) => x.id)).toEqual([target.id]);
    });

    it("fills scalars only where the target has none, the first source that has one winning", async () => {
      const c = tenant();
      const target = await make(c, { name: { first: "Tara" }, company: "Target Co" });
      const s1 = await make(c, {
        name: { first: "Sam", last: "One" },
        company: "Source One Co",
        locale: "en-GB",
        emails: { items: [{ email: "s1@x.io" }] },
      });
      const s2 = await make(c, {
        name: { first: "Sue", last: "Two" },
        company: "Source Two Co",
        jobTitle: "Engineer",
        birthdate: "1990-02-03",
        locale: "fr-FR",
        picture: { image: "https://img.example/s2.png" },
      });
      const s3 = await make(c, { name: { last: "Three" }, jobTitle: "Manager", picture: { image: "https://img.example/s3.png" } });
      const { contact } = await c.contacts.mergeContacts({
        targetContactId: target.id,
        targetContactRevision: 1,
        sourceContactIds: [s1.id, s2.id, s3.id],
      });
      const info = contact?.info;
      expect({
        name: { first: info?.name?.first, last: info?.name?.last },
        company: info?.company,
        jobTitle: info?.jobTitle,
        birthdate: info?.birthdate,
        locale: info?.locale,
        picture: info?.picture?.image,
      }).toEqual({
        name: { first: "Tara", last: "One" },
        company: "Target Co",
        jobTitle: "Engineer",
        birthdate: "1990-02-03",
        locale: "en-GB",
        picture: "https://img.example/s2.png",
      });
      // The computed display names follow the merged name.
      expect(ext(contact)["contacts.displayByFirstName"]).toBe("Tara One");
    });

    it("fills extended field values only where the target has none, first source first", async () => {
      const c = tenant();
      const key = async (displayName: string, dataType: FieldDataType) =>
        (await c.fields.findOrCreateExtendedField({ displayName, dataType })).field?.key ?? "";
      const a = await key("Colour", FieldDataType.TEXT);
      const b = await key("Size", FieldDataType.NUMBER);
      const d = await key("Since", FieldDataType.DATE);
      const target = await make(c, { name: { first: "T" }, extendedFields: { items: values({ [a]: "red" }) } });
      const s1 = await make(c, { name: { first: "S1" }, extendedFields: { items: values({ [a]: "blue", [b]: 41 }) } });
      const s2 = await make(c, { name: { first: "S2" }, extendedFields: { items: values({ [b]: 44, [d]: "2020-01-01" }) } });
      const { contact } = await c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [s1.id, s2.id] });
      expect(ext(contact)).toMatchObject({ [a]: "red", [b]: 41, [d]: "2020-01-01" });
      const byValue = await c.contacts.queryContacts({ query: { filter: { [`info.extendedFields.${b}`]: { $eq: 41 } } } });
      expect(byValue.contacts.map((x) => x.id)).toEqual([target.id]);
    });

    it("bumps the revision once, sets last_activity CONTACT_MERGED and updated_date, keeps id, created_date and source", async () => {
      const c = tenant();
      const target = await make(c, { name: { first: "T" } });
      await c.contacts.updateContact({ contactId: target.id, revision: 1, info: { company: "Twice" } });
      const sources = [await make(c, { name: { first: "A" } }), await make(c, { name: { first: "B" } }), await make(c, { name: { first: "C" } })];
      const before = Date.now();
      const { contact } = await c.contacts.mergeContacts({
        targetContactId: target.id,
        targetContactRevision: 2,
        sourceContactIds: sources.map((s) => s.id),
      });
      expect(contact?.revision).toBe(3);
      expect(contact?.lastActivity?.activityType).toBe(34 /* CONTACT_MERGED */);
      expect(Number(contact?.lastActivity?.activityDate?.seconds) * 1000).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(contact?.updatedDate).toEqual(contact?.lastActivity?.activityDate);
      expect({ id: contact?.id, created: contact?.createdDate, source: contact?.source }).toEqual({
        id: target.id,
        created: target.createdDate,
        source: target.source,
      });
    });

    it("a member can be the target", async () => {
      const c = tenant();
      const target = await make(c, { name: { first: "Member" }, emails: { items: [{ email: "m@x.io" }] } });
      await c.contacts.updateMemberInfo({ contactId: target.id, memberInfo: { memberId: "mem-1", role: MemberRole.OWNER } });
      const s = await make(c, { emails: { items: [{ email: "other@x.io" }] } });
      const { contact } = await c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 2, sourceContactIds: [s.id] });
      expect(contact?.memberInfo?.memberId).toBe("mem-1");
      expect(emailsOf(contact)).toEqual([
        ["m@x.io", true],
        ["other@x.io", false],
      ]);
    });
  });

  describe("merged-away ids", () => {
    it("the sources are deleted; GetContact of one returns the target with MERGED; every other method says CONTACT_NOT_FOUND", async () => {
      const c = tenant();
      const key = await label(c, "Lbl");
      const target = await make(c, { name: { first: "T" }, emails: { items: [{ email: "t@x.io" }] } });
      const s1 = await make(c, { name: { first: "S1" }, emails: { items: [{ email: "s1@x.io" }] } });
      const s2 = await make(c, { name: { first: "S2" } });
      const other = await make(c, { name: { first: "Other" } });
      const merged = (await c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [s1.id, s2.id] })).contact;
      expect(await suite.t().server.db("contacts").where({ tenant_id: c.id }).pluck("id")).toEqual(expect.arrayContaining([target.id, other.id]));
      expect(await suite.t().server.db("contacts").where({ tenant_id: c.id }).count({ n: "*" }).first()).toMatchObject({ n: 2 });

      for (const id of [s1.id, s2.id]) {
        const res = await c.contacts.getContact({ id });
        expect(res.responseType).toBe(GetContactResponseType.MERGED);
        expect(res.contact).toEqual(merged);
      }
      expect((await c.contacts.getContact({ id: target.id })).responseType).toBe(GetContactResponseType.REGULAR);

      const before = await snapshot(c.id);
      const notFound = { code: Code.NotFound, reason: "CONTACT_NOT_FOUND", metadata: { contactId: s1.id } };
      await expectError(c.contacts.updateContact({ contactId: s1.id, revision: 1, info: { company: "x" } }), notFound);
      await expectError(c.contacts.deleteContact({ contactId: s1.id }), notFound);
      await expectError(c.contacts.labelContact({ contactId: s1.id, labelKeys: [key] }), notFound);
      await expectError(c.contacts.unlabelContact({ contactId: s1.id, labelKeys: [key] }), notFound);
      await expectError(c.contacts.updateMemberInfo({ contactId: s1.id, memberInfo: { memberId: "m" } }), notFound);
      await expectError(c.contacts.mergeContacts({ targetContactId: s1.id, targetContactRevision: 1, sourceContactIds: [other.id] }), notFound);
      await expectError(c.contacts.mergeContacts({ targetContactId: other.id, targetContactRevision: 1, sourceContactIds: [s1.id] }), notFound);
      await expectError(c.contacts.previewMergeContacts({ targetContactId: s1.id, sourceContactIds: [other.id] }), notFound);
      await expectError(c.contacts.previewMergeContacts({ targetContactId: other.id, sourceContactIds: [s1.id] }), notFound);
      // Queries list the target only, once.
      const all = await c.contacts.queryContacts({});
      expect(all.contacts.map((x) => x.id).sort()).toEqual([target.id, other.id].sort());
      expect(await snapshot(c.id)).toEqual(before);
      // The source's email now belongs to the target.
      await expectError(c.contacts.createContact({ info: { emails: { items: [{ email: "S1@x.io" }] } } }), {
        code: Code.AlreadyExists,
        reason: "DUPLICATE_CONTACT_EXISTS",
        metadata: { duplicateContactId: target.id },
      });
    });

    it("chains resolve: A→B, then B→C: GetContact(A) and GetContact(B) return C; deleting C makes them not found", async () => {
      const c = tenant();
      const a = await make(c, { name: { first: "A" }, emails: { items: [{ email: "a@x.io" }] } });
      const b = await make(c, { name: { first: "B" } });
      const cc = await make(c, { name: { first: "C" } });
      await c.contacts.mergeContacts({ targetContactId: b.id, targetContactRevision: 1, sourceContactIds: [a.id] });
      expect((await c.contacts.getContact({ id: a.id })).contact?.id).toBe(b.id);
      const last = (await c.contacts.mergeContacts({ targetContactId: cc.id, targetContactRevision: 1, sourceContactIds: [b.id] })).contact;
      expect(emailsOf(last)).toEqual([["a@x.io", true]]);
      for (const id of [a.id, b.id]) {
        const res = await c.contacts.getContact({ id });
        expect(res.responseType).toBe(GetContactResponseType.MERGED);
        expect(res.contact).toEqual(last);
      }
      // A third hop: C→D.
      const d = await make(c, { name: { first: "D" } });
      const final = (await c.contacts.mergeContacts({ targetContactId: d.id, targetContactRevision: 1, sourceContactIds: [cc.id] })).contact;
      for (const id of [a.id, b.id, cc.id]) expect((await c.contacts.getContact({ id })).contact?.id).toBe(final?.id);
      await c.contacts.deleteContact({ contactId: d.id });
      for (const id of [a.id, b.id, cc.id, d.id]) {
        await expectError(c.contacts.getContact({ id }), { code: Code.NotFound, reason: "CONTACT_NOT_FOUND" });
      }
    });
  });

  describe("limits", () => {
    const many = (prefix: string, count: number, from = 0) => ({
      items: Array.from({ length: count }, (_, i) => ({ email: `${prefix}${i + from}@x.io` })),
    });

    it("a merge that would exceed 50 emails fails with MERGE_LIMIT_EXCEEDED and changes nothing; exactly 50 after de-duplication is fine", async () => {
      const c = tenant();
      const target = await make(c, { emails: many("e", 30) });
      // e0–e29, then e25–e49: 5 already on the target, so 30 + 20 = 50 distinct; one more is 51.
      const over = await make(c, { emails: many("e", 25, 25) });
      const extra = await make(c, { emails: many("z", 1) });
      const before = await snapshot(c.id);
      const err = await expectError(c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [over.id, extra.id] }), {
        code: Code.FailedPrecondition,
        reason: "MERGE_LIMIT_EXCEEDED",
        metadata: { field: "info.emails", count: "51", limit: "50" },
      });
      expect(err.rawMessage).toMatch(/Nothing was merged/);
      await expectError(c.contacts.previewMergeContacts({ targetContactId: target.id, sourceContactIds: [over.id, extra.id] }), {
        code: Code.FailedPrecondition,
        reason: "MERGE_LIMIT_EXCEEDED",
      });
      expect(await snapshot(c.id)).toEqual(before);

      const { contact } = await c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [over.id] });
      expect(contact?.info?.emails?.items).toHaveLength(50);
    });

    it("phones and addresses hold the same limit", async () => {
      const c = tenant();
      const phones = (from: number, count: number) => ({
        items: Array.from({ length: count }, (_, i) => ({ phone: `+1 201 555 ${String(1000 + from + i)}` })),
      });
      const target = await make(c, { name: { first: "T" }, phones: phones(0, 40) });
      const s = await make(c, { name: { first: "S" }, phones: phones(40, 11) });
      await expectError(c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [s.id] }), {
        code: Code.FailedPrecondition,
        reason: "MERGE_LIMIT_EXCEEDED",
        metadata: { field: "info.phones" },
      });
      const addresses = (from: number, count: number) => ({
        items: Array.from({ length: count }, (_, i) => ({ address: { city: `City ${from + i}` } })),
      });
      const t2 = await make(c, { name: { first: "T2" }, addresses: addresses(0, 26) });
      const s2 = await make(c, { name: { first: "S2" }, addresses: addresses(26, 25) });
      await expectError(c.contacts.mergeContacts({ targetContactId: t2.id, targetContactRevision: 1, sourceContactIds: [s2.id] }), {
        code: Code.FailedPrecondition,
        reason: "MERGE_LIMIT_EXCEEDED",
        metadata: { field: "info.addresses" },
      });
      expect(await get(c, s.id)).toBeDefined();
      expect((await get(c, t2.id))?.revision).toBe(1);
    });
  });

  describe("errors, each leaving everything as it was", () => {
    it("unknown target or source → CONTACT_NOT_FOUND (NOT_FOUND), for merge and preview", async () => {
      const c = tenant();
      const a = await make(c, { name: { first: "A" } });
      const b = await make(c, { name: { first: "B" } });
      const missing = "00000000-0000-4000-8000-000000000000";
      const before = await snapshot(c.id);
      const nf = (id: string) => ({ code: Code.NotFound, reason: "CONTACT_NOT_FOUND", metadata: { contactId: id } });
      await expectError(c.contacts.mergeContacts({ targetContactId: missing, targetContactRevision: 1, sourceContactIds: [a.id] }), nf(missing));
      await expectError(c.contacts.mergeContacts({ targetContactId: a.id, targetContactRevision: 1, sourceContactIds: [b.id, missing] }), nf(missing));
      await expectError(c.contacts.previewMergeContacts({ targetContactId: missing, sourceContactIds: [a.id] }), nf(missing));
      await expectError(c.contacts.previewMergeContacts({ targetContactId: a.id, sourceContactIds: [missing, b.id] }), nf(missing));
      // Another tenant's contact is as missing as a made-up id.
      const other = tenant();
      const foreign = await make(other, { name: { first: "Foreign" } });
      await expectError(c.contacts.mergeContacts({ targetContactId: a.id, targetContactRevision: 1, sourceContactIds: [foreign.id] }), nf(foreign.id));
      await expectError(c.contacts.mergeContacts({ targetContactId: foreign.id, targetContactRevision: 1, sourceContactIds: [a.id] }), nf(foreign.id));
      expect(await snapshot(c.id)).toEqual(before);
      expect(await get(other, foreign.id)).toEqual(foreign);
    });

    it("a stale target revision → CONTACT_ALREADY_CHANGED (ABORTED)", async () => {
      const c = tenant();
      const target = await make(c, { name: { first: "T" } });
      await c.contacts.updateContact({ contactId: target.id, revision: 1, info: { company: "v2" } });
      const s = await make(c, { name: { first: "S" } });
      const before = await snapshot(c.id);
      for (const revision of [1, 3]) {
        await expectError(c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: revision, sourceContactIds: [s.id] }), {
          code: Code.Aborted,
          reason: "CONTACT_ALREADY_CHANGED",
          metadata: { contactId: target.id, currentRevision: "2" },
        });
      }
      expect(await snapshot(c.id)).toEqual(before);
    });

    it.each([
      ["member", MemberRole.MEMBER],
      ["owner", MemberRole.OWNER],
      ["contributor", MemberRole.CONTRIBUTOR],
    ])("a %s source → ILLEGAL_MERGE (FAILED_PRECONDITION), for merge and preview", async (_name, role) => {
      const c = tenant();
      const target = await make(c, { name: { first: "T" } });
      const plain = await make(c, { name: { first: "Plain" } });
      const member = await make(c, { name: { first: "Member" } });
      await c.contacts.updateMemberInfo({ contactId: member.id, memberInfo: { memberId: `m-${role}`, role } });
      const before = await snapshot(c.id);
      const illegal = { code: Code.FailedPrecondition, reason: "ILLEGAL_MERGE", metadata: { contactId: member.id } };
      await expectError(c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [plain.id, member.id] }), illegal);
      await expectError(c.contacts.previewMergeContacts({ targetContactId: target.id, sourceContactIds: [member.id] }), illegal);
      expect(await snapshot(c.id)).toEqual(before);
    });

    it("the target among the sources, or a source listed twice → ILLEGAL_MERGE", async () => {
      const c = tenant();
      const target = await make(c, { name: { first: "T" } });
      const s = await make(c, { name: { first: "S" } });
      const before = await snapshot(c.id);
      const illegal = { code: Code.FailedPrecondition, reason: "ILLEGAL_MERGE" };
      await expectError(c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [target.id] }), illegal);
      await expectError(c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [s.id, target.id] }), illegal);
      await expectError(c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [s.id, s.id] }), illegal);
      await expectError(c.contacts.previewMergeContacts({ targetContactId: target.id, sourceContactIds: [target.id] }), illegal);
      await expectError(c.contacts.previewMergeContacts({ targetContactId: target.id, sourceContactIds: [s.id, s.id] }), illegal);
      expect(await snapshot(c.id)).toEqual(before);
    });

    it("no source, or more than 5 → INVALID_ARGUMENT on source_contact_ids", async () => {
      const c = tenant();
      const target = await make(c, { name: { first: "T" } });
      const six = [];
      for (let i = 0; i < 6; i++) six.push((await make(c, { name: { first: `S${i}` } })).id);
      const before = await snapshot(c.id);
      for (const sourceContactIds of [[], six]) {
        const bad = { code: Code.InvalidArgument, reason: "INVALID_SOURCE_CONTACT_IDS", field: "source_contact_ids" };
        await expectError(c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds }), bad);
        await expectError(c.contacts.previewMergeContacts({ targetContactId: target.id, sourceContactIds }), bad);
      }
      await expectError(c.contacts.mergeContacts({ targetContactId: "", targetContactRevision: 1, sourceContactIds: [six[0] ?? ""] }), {
        code: Code.InvalidArgument,
        reason: "INVALID_CONTACT_ID",
        field: "target_contact_id",
      });
      expect(await snapshot(c.id)).toEqual(before);
      // Five is allowed.
      const { contact } = await c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: six.slice(0, 5) });
      expect(contact?.revision).toBe(2);
    });
  });

  describe("PreviewMergeContacts", () => {
    it("returns exactly what the merge then stores (but the revision and dates), stores nothing and writes no events", async () => {
      const c = tenant();
      const l1 = await label(c, "Alpha");
      const l2 = await label(c, "Beta");
      const f = (await c.fields.findOrCreateExtendedField({ displayName: "Tier", dataType: FieldDataType.TEXT })).field?.key ?? "";
      const target = await make(c, {
        name: { first: "Tom" },
        emails: { items: [{ email: "tom@x.io" }] },
        labelKeys: { items: [l1] },
      });
      await c.contacts.updateContact({ contactId: target.id, revision: 1, info: { jobTitle: "Boss" } });
      const s1 = await make(c, {
        name: { first: "Thomas", last: "Jones" },
        emails: { items: [{ email: "TOM@x.io" }, { email: "tj@x.io" }] },
        phones: { items: [{ phone: "+1 201 555 0111" }] },
        addresses: { items: [{ address: { street: { case: "addressLine", value: "1 Main St" }, city: "Springfield" } }] },
        labelKeys: { items: [l2, l1] },
        extendedFields: { items: values({ [f]: "gold" }) },
        company: "Jones Inc",
      });
      const s2 = await make(c, {
        phones: { items: [{ phone: "201 555 0111", countryCode: "US" }, { phone: "+1 201 555 0122" }] },
        birthdate: "1980-05-06",
        locale: "en-US",
        picture: { image: "https://img.example/p.png" },
      });
      const before = await snapshot(c.id);
      const preview = (await c.contacts.previewMergeContacts({ targetContactId: target.id, sourceContactIds: [s1.id, s2.id] })).contact;
      expect(preview?.revision).toBe(2);
      expect(preview?.lastActivity?.activityType).toBe(34 /* CONTACT_MERGED */);
      expect(await snapshot(c.id)).toEqual(before);
      // Previewing again gives the same answer (nothing moved).
      expect(timeless((await c.contacts.previewMergeContacts({ targetContactId: target.id, sourceContactIds: [s1.id, s2.id] })).contact)).toEqual(
        timeless(preview),
      );
      const merged = (await c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 2, sourceContactIds: [s1.id, s2.id] })).contact;
      expect(merged?.revision).toBe(3);
      expect(timeless(merged)).toEqual(timeless(preview));
      expect(timeless(await get(c, target.id))).toEqual(timeless(preview));
      // A sanity check that the comparison compares something.
      expect(emailsOf(preview)).toEqual([
        ["tom@x.io", true],
        ["tj@x.io", false],
      ]);
      expect(preview?.info?.labelKeys?.items).toEqual([l1, l2]);
      expect(ext(preview)[f]).toBe("gold");
    });
  });

  describe("events", () => {
    it("the merge appends, in one run: target contact_updated (originated_from merge), contact_deleted per source (merge), then contact_merged", async () => {
      const c = tenant();
      const target = await make(c, { name: { first: "T" }, emails: { items: [{ email: "t@x.io" }] } });
      const s1 = await make(c, { name: { first: "S1" }, company: "One", emails: { items: [{ email: "s1@x.io" }] } });
      const s2 = await make(c, { name: { first: "S2" }, phones: { items: [{ phone: "+1 201 555 0133" }] } });
      const from = await lastSeq(c.id);
      const merged = (await c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [s2.id, s1.id] })).contact;
      const rows = await eventsSince(c.id, from);
      expect(rows.map((r) => [Number(r.seq) - from, r.event_type, r.slug, r.entity_id, r.originated_from ?? null])).toEqual([
        [1, "contact_updated", "updated", target.id, "merge"],
        [2, "contact_deleted", "deleted", s2.id, "merge"],
        [3, "contact_deleted", "deleted", s1.id, "merge"],
        [4, "contact_merged", "merged", target.id, null],
      ]);
      const [updated, del2, del1, mergedEvent] = rows.map((r) => JSON.parse(String(r.payload)));
      const mergedJson = json(merged);
      const asProto = (c: unknown) => toJson(ContactSchema, fromJson(ContactSchema, c as JsonValue));
      expect(asProto(updated.contact)).toEqual(mergedJson);
      expect(JSON.parse(String(rows[0].modified_fields))).toEqual(expect.arrayContaining(["info.emails", "info.phones", "info.company", "lastActivity"]));
      // Deleted events carry the source as it was.
      expect(asProto(del2.contact)).toEqual(json(s2));
      expect(asProto(del1.contact)).toEqual(json(s1));
      expect(mergedEvent).toMatchObject({ kind: "contactMerged", targetContactId: target.id, sourceContactIds: [s2.id, s1.id] });
      expect(asProto(mergedEvent.targetContact)).toEqual(mergedJson);
      // Per-entity sequences: the target's created(1), updated(2), merged(3); each source's deleted follows its created.
      expect(rows.map((r) => Number(r.entity_seq))).toEqual([2, 2, 2, 3]);
    });

    it("a failed merge writes no events", async () => {
      const c = tenant();
      const target = await make(c, { name: { first: "T" } });
      const s = await make(c, { name: { first: "S" } });
      const from = await lastSeq(c.id);
      await expectError(c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 9, sourceContactIds: [s.id] }), {
        code: Code.Aborted,
        reason: "CONTACT_ALREADY_CHANGED",
      });
      await c.contacts.previewMergeContacts({ targetContactId: target.id, sourceContactIds: [s.id] });
      expect(await eventsSince(c.id, from)).toHaveLength(0);
    });
  });

  it("a request_id makes a merge idempotent: the repeat returns the first response and changes nothing", async () => {
    const c = tenant();
    const target = await make(c, { name: { first: "T" } });
    const s = await make(c, { name: { first: "S" }, emails: { items: [{ email: "s@x.io" }] } });
    const req = { targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [s.id], requestId: "merge-1" };
    const first = await c.contacts.mergeContacts(req);
    const after = await snapshot(c.id);
    const again = await c.contacts.mergeContacts(req);
    expect(again).toEqual(first);
    expect(await snapshot(c.id)).toEqual(after);
    expect((await get(c, target.id))?.revision).toBe(2);
    // The same request id with another body is refused.
    await expectError(c.contacts.mergeContacts({ ...req, targetContactRevision: 2 }), { code: Code.InvalidArgument, reason: "REQUEST_ID_REUSED" });
    // Without the id, the repeat is a new merge whose source is gone.
    await expectError(c.contacts.mergeContacts({ ...req, requestId: "" }), { code: Code.NotFound, reason: "CONTACT_NOT_FOUND" });
    // Concurrent repeats of a new id: one merge.
    const t2 = await make(c, { name: { first: "T2" } });
    const s2 = await make(c, { name: { first: "S2" } });
    const req2 = { targetContactId: t2.id, targetContactRevision: 1, sourceContactIds: [s2.id], requestId: "merge-2" };
    const all = await Promise.all(Array.from({ length: 5 }, () => c.contacts.mergeContacts(req2)));
    for (const r of all) expect(r).toEqual(all[0]);
    expect((await get(c, t2.id))?.revision).toBe(2);
    const merges = await suite.t().server.db("events").where({ tenant_id: c.id, event_type: "contact_merged" }).count({ n: "*" }).first();
    expect(Number(merges?.n)).toBe(2);
  });
});
