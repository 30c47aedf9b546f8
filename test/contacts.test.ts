import { Code } from "@connectrpc/connect";
import { create, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { type Value, ValueSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import type { Contact, ContactInfo } from "../gen/contacts/v1/contact_pb.js";
import { EmailTag, MemberRole, MemberStatus, PhoneTag } from "../gen/contacts/v1/contact_pb.js";
import { ContactFieldSet, GetContactResponseType } from "../gen/contacts/v1/contacts_service_pb.js";
import { FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { expectError } from "./support/errors.js";
import { STORES, suiteWithTenants, type TestServer } from "./support/server.js";

/** Extended field values as plain JSON (they travel as google.protobuf.Value). */
function ext(contact: Contact | undefined): Record<string, JsonValue> {
  return Object.fromEntries(Object.entries(contact?.info?.extendedFields?.items ?? {}).map(([k, v]) => [k, toJson(ValueSchema, v)]));
}
function values(items: Record<string, JsonValue>): Record<string, Value> {
  return Object.fromEntries(Object.entries(items).map(([k, v]) => [k, fromJson(ValueSchema, v)]));
}

type InfoInit = Parameters<ReturnType<TestServer["clients"]>["contacts"]["createContact"]>[0]["info"];

describe.each(STORES)("ContactsService on %s", (store) => {
  const suite = suiteWithTenants(store, "c");
  /** A fresh tenant per test keeps duplicate checks and counts independent. */
  const tenant = suite.tenant;

  async function stored(tenantId: string) {
    const count = async (table: string) => Number((await suite.t().server.db(table).where({ tenant_id: tenantId }).count({ n: "*" }).first())?.n ?? 0);
    return { contacts: await count("contacts"), events: await count("events") };
  }

  const ada: InfoInit = {
    name: { first: "Ada", last: "Lovelace" },
    emails: { items: [{ email: "Ada@Example.com", tag: EmailTag.WORK }] },
    phones: { items: [{ phone: "(201) 555-0123", countryCode: "US" }] },
  };

  describe("CreateContact", () => {
    it("sets every server field", async () => {
      const { contacts } = tenant();
      const before = Date.now();
      const { contact } = await contacts.createContact({ info: ada });
      expect(contact?.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(contact?.revision).toBe(1);
      expect(Number(contact?.createdDate?.seconds) * 1000).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(contact?.updatedDate).toEqual(contact?.createdDate);
      expect(contact?.lastActivity?.activityType).toBe(2 /* CONTACT_CREATED */);
      expect(contact?.source?.sourceType).toBe(2 /* ADMIN: a user in dev mode */);
      const email = contact?.info?.emails?.items[0];
      expect(email).toMatchObject({ email: "Ada@Example.com", tag: EmailTag.WORK, primary: true });
      expect(email?.id).toMatch(/^[0-9a-f-]{36}$/);
      const phone = contact?.info?.phones?.items[0];
      expect(phone).toMatchObject({
        phone: "(201) 555-0123",
        countryCode: "US",
        e164Phone: "+12015550123",
        formattedPhone: "+1 201 555 0123",
        tag: PhoneTag.UNTAGGED,
        primary: true,
      });
      expect(contact?.primaryInfo).toMatchObject({ email: "Ada@Example.com", phone: "(201) 555-0123" });
      expect(contact?.primaryEmail).toMatchObject({ email: "Ada@Example.com", subscriptionStatus: 2, deliverabilityStatus: 1 });
      expect(contact?.primaryPhone).toMatchObject({ e164Phone: "+12015550123", subscriptionStatus: 2 });
      const fields = ext(contact);
      expect(fields["contacts.displayByFirstName"]).toBe("Ada Lovelace");
      expect(fields["contacts.displayByLastName"]).toBe("Lovelace Ada");
      expect(fields["emailSubscriptions.effectiveEmail"]).toBe("Ada@Example.com");
      expect(fields["emailSubscriptions.subscriptionStatus"]).toBe("NOT_SET");
    });

    it("keeps an unparseable phone as typed, without E.164, and marks it NO_SUBSCRIPTION_STATUS", async () => {
      const { contacts } = tenant();
      const { contact } = await contacts.createContact({ info: { phones: { items: [{ phone: "call me maybe" }] } } });
      expect(contact?.info?.phones?.items[0]).toMatchObject({ phone: "call me maybe", e164Phone: "" });
      expect(contact?.primaryPhone?.subscriptionStatus).toBe(1 /* NO_SUBSCRIPTION_STATUS */);
      const plus = await contacts.createContact({ info: { phones: { items: [{ phone: "+44 20 7946 0958" }] } } });
      expect(plus.contact?.info?.phones?.items[0]?.e164Phone).toBe("+442079460958");
    });

    it("makes the first email and phone primary unless one is flagged, and refuses two", async () => {
      const { id, contacts } = tenant();
      const { contact } = await contacts.createContact({
        info: { emails: { items: [{ email: "a@x.io" }, { email: "b@x.io", primary: true }] } },
      });
      expect(contact?.info?.emails?.items.map((e) => e.primary)).toEqual([false, true]);
      expect(contact?.primaryInfo?.email).toBe("b@x.io");
      const before = await stored(id);
      await expectError(
        contacts.createContact({
          info: {
            emails: {
              items: [
                { email: "c@x.io", primary: true },
                { email: "d@x.io", primary: true },
              ],
            },
          },
        }),
        { code: Code.InvalidArgument, reason: "CANNOT_HAVE_MULTIPLE_PRIMARY_INFO", field: "info.emails.items" },
      );
      await expectError(
        contacts.createContact({
          info: {
            phones: {
              items: [
                { phone: "1", primary: true },
                { phone: "2", primary: true },
              ],
            },
          },
        }),
        { code: Code.InvalidArgument, reason: "CANNOT_HAVE_MULTIPLE_PRIMARY_INFO", field: "info.phones.items" },
      );
      expect(await stored(id)).toEqual(before);
    });

    it("needs a name, an email or a phone", async () => {
      const { id, contacts } = tenant();
      for (const info of [{}, { company: "ACME" }, { name: { first: "  " } }]) {
        await expectError(contacts.createContact({ info }), { code: Code.InvalidArgument, reason: "INSUFFICIENT_CONTACT_DATA" });
      }
      await expectError(contacts.createContact({}), { code: Code.InvalidArgument, reason: "INSUFFICIENT_CONTACT_DATA" });
      expect((await contacts.createContact({ info: { name: { last: "Solo" } } })).contact?.revision).toBe(1);
      expect((await stored(id)).contacts).toBe(1);
    });

    it("refuses a duplicate email (case-insensitive, any of the emails) unless allow_duplicates", async () => {
      const { contacts } = tenant();
      const first = await contacts.createContact({ info: { emails: { items: [{ email: "one@x.io" }, { email: "Two@X.io" }] } } });
      await expectError(contacts.createContact({ info: { emails: { items: [{ email: "  two@x.IO " }] } } }), {
        code: Code.AlreadyExists,
        reason: "DUPLICATE_CONTACT_EXISTS",
        metadata: { duplicateContactId: first.contact?.id ?? "", duplicateEmail: "two@x.io" },
      });
      const dup = await contacts.createContact({ info: { emails: { items: [{ email: "two@x.io" }] } }, allowDuplicates: true });
      expect(dup.contact?.id).not.toBe(first.contact?.id);
    });

    it("checks phones only when the contact has no email", async () => {
      const { contacts } = tenant();
      const first = await contacts.createContact({ info: { phones: { items: [{ phone: "201-555-0100", countryCode: "US" }] } } });
      await expectError(contacts.createContact({ info: { phones: { items: [{ phone: "+1 (201) 555 0100" }] } } }), {
        code: Code.AlreadyExists,
        reason: "DUPLICATE_CONTACT_EXISTS",
        metadata: { duplicateContactId: first.contact?.id ?? "", duplicatePhone: "+12015550100" },
      });
      // With an email the phone is not compared.
      const withEmail = await contacts.createContact({
        info: { emails: { items: [{ email: "p@x.io" }] }, phones: { items: [{ phone: "201-555-0100", countryCode: "US" }] } },
      });
      expect(withEmail.contact?.revision).toBe(1);
    });

    it("checks extended field values against the field's data type", async () => {
      const { id, contacts, fields } = tenant();
      await fields.findOrCreateExtendedField({ displayName: "Notes", dataType: FieldDataType.TEXT });
      await fields.findOrCreateExtendedField({ displayName: "Score", dataType: FieldDataType.NUMBER });
      await fields.findOrCreateExtendedField({ displayName: "Met On", dataType: FieldDataType.DATE });
      await fields.findOrCreateExtendedField({ displayName: "Site", dataType: FieldDataType.URL });
      const { contact } = await contacts.createContact({
        info: {
          name: { first: "Ext" },
          extendedFields: {
            items: values({ "custom.notes": "hello", "custom.score": 4.5, "custom.met-on": "2024-02-29", "custom.site": "example.com/x" }),
          },
        },
      });
      expect(ext(contact)).toMatchObject({
        "custom.notes": "hello",
        "custom.score": 4.5,
        "custom.met-on": "2024-02-29",
        "custom.site": "https://example.com/x",
      });
      const before = await stored(id);
      const bad = (items: Record<string, JsonValue>, key: string) =>
        expectError(contacts.createContact({ info: { name: { first: "X" }, extendedFields: { items: values(items) } } }), {
          code: Code.InvalidArgument,
          reason: "INVALID_EXTENDED_FIELD_VALUE",
          field: `info.extended_fields.items["${key}"]`,
        });
      await bad({ "custom.nope": "x" }, "custom.nope");
      await bad({ "contacts.displayByFirstName": "x" }, "contacts.displayByFirstName");
      await bad({ "custom.score": "many" }, "custom.score");
      await bad({ "custom.notes": 5 }, "custom.notes");
      await bad({ "custom.met-on": "2023-02-29" }, "custom.met-on");
      await bad({ "custom.met-on": "29/02/2024" }, "custom.met-on");
      await bad({ "custom.site": "http://" }, "custom.site");
      // A Value with no kind set has no JSON form: refused, not an internal error.
      await expectError(contacts.createContact({ info: { name: { first: "X" }, extendedFields: { items: { "custom.notes": create(ValueSchema) } } } }), {
        code: Code.InvalidArgument,
        reason: "INVALID_EXTENDED_FIELD_VALUE",
        field: "info.extended_fields",
      });
      expect(await stored(id)).toEqual(before);
    });

    it("needs existing label keys", async () => {
      const { id, contacts, labels } = tenant();
      await labels.findOrCreateLabel({ displayName: "VIP" });
      const { contact } = await contacts.createContact({ info: { name: { first: "L" }, labelKeys: { items: ["custom.vip", "contacts.customers"] } } });
      expect(contact?.info?.labelKeys?.items).toEqual(["custom.vip", "contacts.customers"]);
      const before = await stored(id);
      await expectError(contacts.createContact({ info: { name: { first: "L" }, labelKeys: { items: ["custom.nope"] } } }), {
        code: Code.NotFound,
        reason: "LABEL_NOT_FOUND",
        metadata: { labelKey: "custom.nope" },
      });
      expect(await stored(id)).toEqual(before);
    });

    it("enforces every count and length limit with the offending field, storing nothing", async () => {
      const { id, contacts } = tenant();
      await contacts.createContact({ info: { name: { first: "seed" } } });
      const before = await stored(id);
      const emails = (k: number) => ({ items: Array.from({ length: k }, (_, i) => ({ email: `e${i}@x.io` })) });
      const cases: [InfoInit, string, string][] = [
        [{ name: { first: "x".repeat(1001) } }, "VALUE_TOO_LONG", "info.name.first"],
        [{ name: { first: "ok", last: "y".repeat(1001) } }, "VALUE_TOO_LONG", "info.name.last"],
        [{ emails: emails(51) }, "TOO_MANY_ITEMS", "info.emails.items"],
        [{ emails: { items: [{ email: `${"a".repeat(316)}@x.io` }] } }, "VALUE_TOO_LONG", "info.emails.items[0].email"],
        [{ emails: { items: [{ email: "no-at-sign" }] } }, "INVALID_EMAIL", "info.emails.items[0].email"],
        [{ emails: { items: [{ email: "" }] } }, "REQUIRED_FIELD_MISSING", "info.emails.items[0].email"],
        [{ phones: { items: Array.from({ length: 51 }, (_, i) => ({ phone: `${i}` })) } }, "TOO_MANY_ITEMS", "info.phones.items"],
        [{ phones: { items: [{ phone: "1".repeat(51) }] } }, "VALUE_TOO_LONG", "info.phones.items[0].phone"],
        [{ phones: { items: [{ phone: "1", countryCode: "USA" }] } }, "INVALID_COUNTRY_CODE", "info.phones.items[0].country_code"],
        [
          { name: { first: "a" }, addresses: { items: Array.from({ length: 51 }, () => ({ address: { city: "c" } })) } },
          "TOO_MANY_ITEMS",
          "info.addresses.items",
        ],
        [{ name: { first: "a" }, addresses: { items: [{ address: { city: "c".repeat(1001) } }] } }, "VALUE_TOO_LONG", "info.addresses.items[0].address.city"],
        [
          { name: { first: "a" }, addresses: { items: [{ address: { postalCode: "9".repeat(101) } }] } },
          "VALUE_TOO_LONG",
          "info.addresses.items[0].address.postal_code",
        ],
        [
          { name: { first: "a" }, addresses: { items: [{ address: { country: "Narnia" } }] } },
          "INVALID_COUNTRY_CODE",
          "info.addresses.items[0].address.country",
        ],
        [{ name: { first: "a" }, company: "c".repeat(1001) }, "VALUE_TOO_LONG", "info.company"],
        [{ name: { first: "a" }, jobTitle: "j".repeat(1001) }, "VALUE_TOO_LONG", "info.job_title"],
        [{ name: { first: "a" }, birthdate: "2023-02-30" }, "INVALID_DATE", "info.birthdate"],
        [{ name: { first: "a" }, locale: "!!" }, "INVALID_LOCALE", "info.locale"],
        [{ name: { first: "a" }, labelKeys: { items: Array.from({ length: 2001 }, (_, i) => `k${i}`) } }, "TOO_MANY_ITEMS", "info.label_keys.items"],
        [{ name: { first: "a" }, locations: { items: Array.from({ length: 51 }, (_, i) => `l${i}`) } }, "TOO_MANY_ITEMS", "info.locations.items"],
      ];
      for (const [info, reason, field] of cases) {
        await expectError(contacts.createContact({ info }), { code: Code.InvalidArgument, reason, field });
      }
      expect(await stored(id)).toEqual(before);
    });
  });

  describe("GetContact", () => {
    it("returns the contact REGULAR, and CONTACT_NOT_FOUND for unknown or other tenants' ids", async () => {
      const a = tenant();
      const b = tenant();
      const { contact } = await a.contacts.createContact({ info: ada });
      const got = await a.contacts.getContact({ id: contact?.id ?? "" });
      expect(got.responseType).toBe(GetContactResponseType.REGULAR);
      expect(got.contact).toEqual(contact);
      await expectError(b.contacts.getContact({ id: contact?.id ?? "" }), { code: Code.NotFound, reason: "CONTACT_NOT_FOUND" });
      await expectError(a.contacts.getContact({ id: "00000000-0000-0000-0000-000000000000" }), {
        code: Code.NotFound,
        reason: "CONTACT_NOT_FOUND",
      });
      await expectError(a.contacts.getContact({ id: "" }), { code: Code.InvalidArgument, reason: "INVALID_CONTACT_ID", field: "id" });
    });

    it("projects by fields and fieldsets, always with id and revision", async () => {
      const { contacts } = tenant();
      const { contact } = await contacts.createContact({ info: { ...ada, company: "Analytical Engines" } });
      const id = contact?.id ?? "";
      const basic = (await contacts.getContact({ id, fieldsets: [ContactFieldSet.BASIC] })).contact;
      expect(basic?.id).toBe(id);
      expect(basic?.revision).toBe(1);
      expect(basic?.info?.name?.first).toBe("Ada");
      expect(basic?.primaryInfo?.email).toBe("Ada@Example.com");
      expect(basic?.info?.emails).toBeUndefined();
      expect(basic?.createdDate).toBeUndefined();
      const comm = (await contacts.getContact({ id, fieldsets: [ContactFieldSet.COMMUNICATION_DETAILS] })).contact;
      expect(comm?.info?.emails?.items).toHaveLength(1);
      expect(comm?.info?.company).toBeUndefined();
      const some = (await contacts.getContact({ id, fields: ["info.company", "createdDate"] })).contact;
      expect(some?.info?.company).toBe("Analytical Engines");
      expect(some?.createdDate).toBeDefined();
      expect(some?.info?.name).toBeUndefined();
      const union = (await contacts.getContact({ id, fields: ["info.job_title", "info.company"], fieldsets: [ContactFieldSet.EXTENDED] })).contact;
      expect(ext(union)["contacts.displayByFirstName"]).toBe("Ada Lovelace");
      expect(union?.info?.company).toBe("Analytical Engines");
      await expectError(contacts.getContact({ id, fields: ["info.shoeSize"] }), {
        code: Code.InvalidArgument,
        reason: "INVALID_FIELDS",
        field: "fields[0]",
      });
    });
  });

  describe("UpdateContact", () => {
    async function created(c: ReturnType<typeof tenant>, info: InfoInit = ada): Promise<Contact> {
      return (await c.contacts.createContact({ info })).contact as Contact;
    }

    it("replaces the sub-fields sent and keeps the rest, bumping the revision by one", async () => {
      const c = tenant();
      const before = await created(c, { ...ada, company: "Old Co", jobTitle: "Countess" });
      const { contact } = await c.contacts.updateContact({
        contactId: before.id,
        revision: 1,
        info: { company: "New Co", emails: { items: [{ email: "new@x.io" }] } },
      });
      expect(contact?.revision).toBe(2);
      expect(contact?.info?.company).toBe("New Co");
      expect(contact?.info?.jobTitle).toBe("Countess");
      expect(contact?.info?.name?.first).toBe("Ada");
      expect(contact?.info?.emails?.items.map((e) => e.email)).toEqual(["new@x.io"]);
      expect(contact?.info?.phones?.items).toHaveLength(1);
      expect(contact?.primaryInfo?.email).toBe("new@x.io");
      expect(ext(contact)["emailSubscriptions.effectiveEmail"]).toBe("new@x.io");
      expect((await c.contacts.getContact({ id: before.id })).contact).toEqual(contact);
    });

    it("with a field mask changes only the masked paths and clears masked paths not sent", async () => {
      const c = tenant();
      const before = await created(c, { ...ada, company: "Keep", jobTitle: "Clear me" });
      const { contact } = await c.contacts.updateContact({
        contactId: before.id,
        revision: 1,
        info: { name: { first: "Ignored", last: "Byron" }, company: "Ignored too" },
        fieldMask: { paths: ["info.name.last", "info.jobTitle"] },
      });
      expect(contact?.info?.name).toMatchObject({ first: "Ada", last: "Byron" });
      expect(contact?.info?.company).toBe("Keep");
      expect(contact?.info?.jobTitle).toBeUndefined();
      await expectError(c.contacts.updateContact({ contactId: before.id, revision: 2, info: {}, fieldMask: { paths: ["info.shoe_size"] } }), {
        code: Code.InvalidArgument,
        reason: "INVALID_FIELD_MASK",
        field: "field_mask.paths[0]",
      });
    });

    it("keeps item ids the client echoes and gives new items new ids", async () => {
      const c = tenant();
      const before = await created(c);
      const kept = before.info?.emails?.items[0];
      const { contact } = await c.contacts.updateContact({
        contactId: before.id,
        revision: 1,
        info: {
          emails: {
            items: [
              { id: kept?.id ?? "", email: kept?.email ?? "" },
              { email: "second@x.io", id: "made-up" },
            ],
          },
        },
      });
      const items = contact?.info?.emails?.items ?? [];
      expect(items[0]?.id).toBe(kept?.id);
      expect(items[1]?.id).not.toBe("made-up");
      expect(items[1]?.id).toMatch(/^[0-9a-f-]{36}$/);
    });

    it("refuses a stale revision with CONTACT_ALREADY_CHANGED and changes nothing", async () => {
      const c = tenant();
      const before = await created(c);
      await c.contacts.updateContact({ contactId: before.id, revision: 1, info: { company: "A" } });
      await expectError(c.contacts.updateContact({ contactId: before.id, revision: 1, info: { company: "B" } }), {
        code: Code.Aborted,
        reason: "CONTACT_ALREADY_CHANGED",
        metadata: { currentRevision: "2" },
      });
      const now = (await c.contacts.getContact({ id: before.id })).contact;
      expect(now?.info?.company).toBe("A");
      expect(now?.revision).toBe(2);
      await expectError(c.contacts.updateContact({ contactId: before.id, revision: 0, info: {} }), {
        code: Code.InvalidArgument,
        reason: "INVALID_REVISION",
        field: "revision",
      });
    });

    it("refuses to leave a contact without name, email and phone", async () => {
      const c = tenant();
      const before = await created(c, { name: { first: "Only" } });
      await expectError(c.contacts.updateContact({ contactId: before.id, revision: 1, info: {}, fieldMask: { paths: ["info.name"] } }), {
        code: Code.InvalidArgument,
        reason: "INSUFFICIENT_UPDATE_CONTACT_DATA",
      });
      expect((await c.contacts.getContact({ id: before.id })).contact?.revision).toBe(1);
    });

    it("applies the duplicate rule against other contacts, not itself", async () => {
      const c = tenant();
      const a = await created(c, { emails: { items: [{ email: "a@x.io" }] } });
      const b = await created(c, { emails: { items: [{ email: "b@x.io" }] } });
      const same = await c.contacts.updateContact({ contactId: a.id, revision: 1, info: { emails: { items: [{ email: "A@x.io" }] } } });
      expect(same.contact?.revision).toBe(2);
      await expectError(c.contacts.updateContact({ contactId: b.id, revision: 1, info: { emails: { items: [{ email: "a@X.io" }] } } }), {
        code: Code.AlreadyExists,
        reason: "DUPLICATE_CONTACT_EXISTS",
        metadata: { duplicateContactId: a.id },
      });
      const allowed = await c.contacts.updateContact({
        contactId: b.id,
        revision: 1,
        allowDuplicates: true,
        info: { emails: { items: [{ email: "a@x.io" }] } },
      });
      expect(allowed.contact?.revision).toBe(2);
    });

    it("validates like create (multiple primary, extended fields, labels, limits) and changes nothing", async () => {
      const c = tenant();
      const before = await created(c);
      const upd = (info: InfoInit) => c.contacts.updateContact({ contactId: before.id, revision: 1, info });
      await expectError(
        upd({
          emails: {
            items: [
              { email: "a@x.io", primary: true },
              { email: "b@x.io", primary: true },
            ],
          },
        }),
        {
          code: Code.InvalidArgument,
          reason: "CANNOT_HAVE_MULTIPLE_PRIMARY_INFO",
        },
      );
      await expectError(upd({ extendedFields: { items: values({ "custom.nope": "x" }) } }), {
        code: Code.InvalidArgument,
        reason: "INVALID_EXTENDED_FIELD_VALUE",
      });
      await expectError(upd({ labelKeys: { items: ["custom.nope"] } }), { code: Code.NotFound, reason: "LABEL_NOT_FOUND" });
      await expectError(upd({ name: { first: "x".repeat(1001) } }), { code: Code.InvalidArgument, reason: "VALUE_TOO_LONG" });
      expect((await c.contacts.getContact({ id: before.id })).contact).toEqual(before);
    });

    it("accepts a fetched info sent back whole (its computed system values are ignored), refuses a changed one", async () => {
      const c = tenant();
      const before = await created(c);
      const { contact } = await c.contacts.updateContact({
        contactId: before.id,
        revision: 1,
        info: { ...(before.info as ContactInfo), company: "Echo" },
      });
      expect(contact?.info?.company).toBe("Echo");
      expect(ext(contact)["contacts.displayByFirstName"]).toBe("Ada Lovelace");
      const info = { ...(contact?.info as ContactInfo) };
      info.extendedFields = { $typeName: "contacts.v1.ExtendedFields", items: values({ "contacts.displayByFirstName": "Someone Else" }) };
      await expectError(c.contacts.updateContact({ contactId: before.id, revision: 2, info }), {
        code: Code.InvalidArgument,
        reason: "INVALID_EXTENDED_FIELD_VALUE",
      });
    });

    it("CONTACT_NOT_FOUND for an unknown contact", async () => {
      const c = tenant();
      await expectError(c.contacts.updateContact({ contactId: "nope", revision: 1, info: { company: "x" } }), {
        code: Code.NotFound,
        reason: "CONTACT_NOT_FOUND",
      });
    });

    it("the duplicate rule of a create: an update that gives a contact another's email (or, without emails, phone) fails; keys a duplicate already had are not checked again", async () => {
      const c = tenant();
      const ada1 = (await c.contacts.createContact({ info: { name: { first: "Ada" }, emails: { items: [{ email: "ada@dup.example" }] } } })).contact as Contact;
      const ada2 = (
        await c.contacts.createContact({ info: { name: { first: "Ada 2" }, emails: { items: [{ email: "ADA@dup.example" }] } }, allowDuplicates: true })
      ).contact as Contact;
      // The duplicate made on purpose keeps working: a new phone, a new email of its own.
      const phoned = await c.contacts.updateContact({ contactId: ada2.id, revision: 1, info: { phones: { items: [{ phone: "+12015550111" }] } } });
      expect(phoned.contact?.revision).toBe(2);
      const emailed = await c.contacts.updateContact({
        contactId: ada2.id,
        revision: 2,
        info: { emails: { items: [{ email: "ada@dup.example" }, { email: "ada.two@dup.example" }] } },
      });
      expect(emailed.contact?.info?.emails?.items.map((e) => e.email)).toEqual(["ada@dup.example", "ada.two@dup.example"]);
      // Giving a contact an email another has fails, with the other's id.
      const grace = (await c.contacts.createContact({ info: { name: { first: "Grace" }, emails: { items: [{ email: "grace@dup.example" }] } } }))
        .contact as Contact;
      await expectError(c.contacts.updateContact({ contactId: grace.id, revision: 1, info: { emails: { items: [{ email: "ada.two@dup.example" }] } } }), {
        code: Code.AlreadyExists,
        reason: "DUPLICATE_CONTACT_EXISTS",
        metadata: { duplicateContactId: ada2.id },
      });
      // Without emails, phones are the key.
      const bob = (await c.contacts.createContact({ info: { name: { first: "Bob" }, phones: { items: [{ phone: "+12015550122" }] } } })).contact as Contact;
      const rob = (await c.contacts.createContact({ info: { name: { first: "Rob" } } })).contact as Contact;
      await expectError(
        c.contacts.updateContact({ contactId: rob.id, revision: 1, info: { phones: { items: [{ phone: "(201) 555-0122", countryCode: "US" }] } } }),
        {
          code: Code.AlreadyExists,
          reason: "DUPLICATE_CONTACT_EXISTS",
          metadata: { duplicateContactId: bob.id },
        },
      );
      expect((await c.contacts.getContact({ id: ada1.id })).contact?.revision).toBe(1);
    });

    it("a member's primary email cannot change (CANNOT_UPDATE_MEMBER_EMAIL), other fields can", async () => {
      const c = tenant();
      const before = await created(c);
      const member = await c.contacts.updateMemberInfo({ contactId: before.id, memberInfo: { memberId: "m-1" } });
      expect(member.contact?.memberInfo).toMatchObject({ memberId: "m-1", status: 2 /* ACTIVE */, role: 1 /* MEMBER */ });
      expect(member.contact?.revision).toBe(2);
      await expectError(c.contacts.updateContact({ contactId: before.id, revision: 2, info: { emails: { items: [{ email: "other@x.io" }] } } }), {
        code: Code.FailedPrecondition,
        reason: "CANNOT_UPDATE_MEMBER_EMAIL",
      });
      const ok = await c.contacts.updateContact({ contactId: before.id, revision: 2, info: { company: "Fine" } });
      expect(ok.contact?.revision).toBe(3);
    });
  });

  describe("DeleteContact", () => {
    it("deletes a contact; then it is not found", async () => {
      const c = tenant();
      const { contact } = await c.contacts.createContact({ info: ada });
      await c.contacts.deleteContact({ contactId: contact?.id ?? "" });
      await expectError(c.contacts.getContact({ id: contact?.id ?? "" }), { code: Code.NotFound, reason: "CONTACT_NOT_FOUND" });
      await expectError(c.contacts.deleteContact({ contactId: contact?.id ?? "" }), { code: Code.NotFound, reason: "CONTACT_NOT_FOUND" });
      // Its email is free again.
      expect((await c.contacts.createContact({ info: ada })).contact?.revision).toBe(1);
    });

    it("refuses members, and owners or contributors with their own reason", async () => {
      const c = tenant();
      const cases: [MemberRole, string][] = [
        [MemberRole.MEMBER, "CANNOT_DELETE_MEMBER"],
        [MemberRole.OWNER, "CANNOT_DELETE_MEMBER_OWNER_OR_CONTRIBUTOR"],
        [MemberRole.CONTRIBUTOR, "CANNOT_DELETE_MEMBER_OWNER_OR_CONTRIBUTOR"],
      ];
      for (const [role, reason] of cases) {
        const { contact } = await c.contacts.createContact({ info: { name: { first: `role ${role}` } } });
        const id = contact?.id ?? "";
        await c.contacts.updateMemberInfo({ contactId: id, memberInfo: { memberId: `m-${role}`, role } });
        await expectError(c.contacts.deleteContact({ contactId: id }), { code: Code.FailedPrecondition, reason });
        // Clearing the member info makes it deletable.
        const cleared = await c.contacts.updateMemberInfo({ contactId: id });
        expect(cleared.contact?.memberInfo).toBeUndefined();
        await c.contacts.deleteContact({ contactId: id });
      }
    });
  });

  describe("members whose membership was deleted", () => {
    it("are no longer protected: their email changes, they are deleted and merged as sources; pending, blocked and offline members stay protected", async () => {
      const c = tenant();
      const make = async (first: string, status: MemberStatus) => {
        const { contact } = await c.contacts.createContact({ info: { name: { first }, emails: { items: [{ email: `${first.toLowerCase()}@m.example` }] } } });
        const id = contact?.id ?? "";
        await c.contacts.updateMemberInfo({ contactId: id, memberInfo: { memberId: `m-${first}`, status } });
        return id;
      };
      for (const status of [MemberStatus.PENDING, MemberStatus.ACTIVE, MemberStatus.BLOCKED, MemberStatus.OFFLINE]) {
        const id = await make(`Kept${status}`, status);
        await expectError(c.contacts.deleteContact({ contactId: id }), { code: Code.FailedPrecondition, reason: "CANNOT_DELETE_MEMBER" });
        await expectError(c.contacts.updateContact({ contactId: id, revision: 2, info: { emails: { items: [{ email: "new@m.example" }] } } }), {
          code: Code.FailedPrecondition,
          reason: "CANNOT_UPDATE_MEMBER_EMAIL",
        });
      }
      const gone = await make("Gone", MemberStatus.DELETED);
      const changed = await c.contacts.updateContact({ contactId: gone, revision: 2, info: { emails: { items: [{ email: "moved@m.example" }] } } });
      expect(changed.contact?.primaryInfo?.email).toBe("moved@m.example");
      await c.contacts.deleteContact({ contactId: gone });
      await expectError(c.contacts.getContact({ id: gone }), { code: Code.NotFound, reason: "CONTACT_NOT_FOUND" });
      const source = await make("Source", MemberStatus.DELETED);
      const { contact: target } = await c.contacts.createContact({ info: { name: { first: "Target" } } });
      const merged = await c.contacts.mergeContacts({ targetContactId: target?.id ?? "", targetContactRevision: 1, sourceContactIds: [source] });
      expect(merged.contact?.info?.emails?.items.map((e) => e.email)).toEqual(["source@m.example"]);
    });
  });

  describe("LabelContact and UnlabelContact", () => {
    it("are set operations that bump the revision only on change", async () => {
      const c = tenant();
      await c.labels.findOrCreateLabel({ displayName: "A" });
      await c.labels.findOrCreateLabel({ displayName: "B" });
      const { contact } = await c.contacts.createContact({ info: { name: { first: "L" } } });
      const id = contact?.id ?? "";
      const one = await c.contacts.labelContact({ contactId: id, labelKeys: ["custom.a", "custom.b", "custom.a"] });
      expect(one.contact?.info?.labelKeys?.items).toEqual(["custom.a", "custom.b"]);
      expect(one.contact?.revision).toBe(2);
      const same = await c.contacts.labelContact({ contactId: id, labelKeys: ["custom.a"] });
      expect(same.contact?.revision).toBe(2);
      const less = await c.contacts.unlabelContact({ contactId: id, labelKeys: ["custom.a", "contacts.customers"] });
      expect(less.contact?.info?.labelKeys?.items).toEqual(["custom.b"]);
      expect(less.contact?.revision).toBe(3);
      const none = await c.contacts.unlabelContact({ contactId: id, labelKeys: ["custom.a"] });
      expect(none.contact?.revision).toBe(3);
    });

    it("fail on unknown labels and contacts and on bad key lists", async () => {
      const c = tenant();
      const { contact } = await c.contacts.createContact({ info: { name: { first: "L" } } });
      const id = contact?.id ?? "";
      await expectError(c.contacts.labelContact({ contactId: id, labelKeys: ["custom.nope"] }), { code: Code.NotFound, reason: "LABEL_NOT_FOUND" });
      await expectError(c.contacts.unlabelContact({ contactId: id, labelKeys: ["custom.nope"] }), { code: Code.NotFound, reason: "LABEL_NOT_FOUND" });
      await expectError(c.contacts.labelContact({ contactId: "nope", labelKeys: ["contacts.customers"] }), {
        code: Code.NotFound,
        reason: "CONTACT_NOT_FOUND",
      });
      await expectError(c.contacts.labelContact({ contactId: id, labelKeys: [] }), {
        code: Code.InvalidArgument,
        reason: "INVALID_LABEL_KEY",
        field: "label_keys",
      });
      await expectError(c.contacts.labelContact({ contactId: id, labelKeys: Array.from({ length: 101 }, (_, i) => `k${i}`) }), {
        code: Code.InvalidArgument,
        reason: "TOO_MANY_ITEMS",
        field: "label_keys",
      });
      expect((await c.contacts.getContact({ id })).contact?.revision).toBe(1);
    });
  });

  describe("deleting a label or field reaches contacts", () => {
    it("DeleteLabel removes the label from every contact, each with a revision bump and an event", async () => {
      const c = tenant();
      await c.labels.findOrCreateLabel({ displayName: "Doomed" });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const { contact } = await c.contacts.createContact({
          info: { name: { first: `D${i}` }, labelKeys: { items: ["custom.doomed", "contacts.customers"] } },
        });
        ids.push(contact?.id ?? "");
      }
      await c.labels.deleteLabel({ key: "custom.doomed" });
      for (const id of ids) {
        const got = (await c.contacts.getContact({ id })).contact;
        expect(got?.info?.labelKeys?.items).toEqual(["contacts.customers"]);
        expect(got?.revision).toBe(2);
      }
      const events = await suite.t().server.db("events").where({ tenant_id: c.id, event_type: "contact_updated" });
      expect(events).toHaveLength(5);
      expect(JSON.parse(events[0].modified_fields)).toEqual(["info.labelKeys"]);
    });

    it("DeleteExtendedField removes every contact's value", async () => {
      const c = tenant();
      await c.fields.findOrCreateExtendedField({ displayName: "Shoe", dataType: FieldDataType.NUMBER });
      const { contact } = await c.contacts.createContact({ info: { name: { first: "F" }, extendedFields: { items: values({ "custom.shoe": 42 }) } } });
      await c.fields.deleteExtendedField({ key: "custom.shoe" });
      const got = (await c.contacts.getContact({ id: contact?.id ?? "" })).contact;
      expect(ext(got)["custom.shoe"]).toBeUndefined();
      expect(got?.revision).toBe(2);
    });
  });

  it("writes contact_created, contact_updated (with modified fields) and contact_deleted with the caller", async () => {
    const c = tenant();
    const { contact } = await c.contacts.createContact({ info: ada });
    const id = contact?.id ?? "";
    await c.contacts.updateContact({ contactId: id, revision: 1, info: { company: "X", name: { first: "Ada", last: "King" } } });
    await c.contacts.deleteContact({ contactId: id });
    const rows = await suite.t().server.db("events").where({ tenant_id: c.id, entity_id: id }).orderBy("seq");
    expect(rows.map((r) => [r.event_type, Number(r.entity_seq), r.subject])).toEqual([
      ["contact_created", 1, "dev"],
      ["contact_updated", 2, "dev"],
      ["contact_deleted", 3, "dev"],
    ]);
    expect(JSON.parse(rows[1].modified_fields)).toEqual(["info.company", "info.name"]);
    expect(JSON.parse(rows[1].payload).contact.info.company).toBe("X");
  });

  it("a request_id makes create and update idempotent", async () => {
    const c = tenant();
    const a = await c.contacts.createContact({ info: ada, requestId: "create-1" });
    const b = await c.contacts.createContact({ info: ada, requestId: "create-1" });
    expect(b).toEqual(a);
    const id = a.contact?.id ?? "";
    const u1 = await c.contacts.updateContact({ contactId: id, revision: 1, info: { company: "Once" }, requestId: "upd-1" });
    const u2 = await c.contacts.updateContact({ contactId: id, revision: 1, info: { company: "Once" }, requestId: "upd-1" });
    expect(u2).toEqual(u1);
    expect((await c.contacts.getContact({ id })).contact?.revision).toBe(2);
    await expectError(c.contacts.createContact({ info: { name: { first: "Other" } }, requestId: "create-1" }), {
      code: Code.InvalidArgument,
      reason: "REQUEST_ID_REUSED",
    });
    expect((await stored(c.id)).contacts).toBe(1);
  });
});
