/**
 * BulkUpsertContacts (batch upsert, up to 100 contacts a call) and ExportContacts (the server
 * stream the export reads) through gRPC on both stores: matching by email then phone, merges into
 * existing contacts and into contacts made earlier in the same batch, a result per item with bad
 * items failing alone, idempotent repeats, events, concurrent upserts of one new email, and an
 * export that returns every matching contact once, newest first.
 */
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { UpsertAction } from "../gen/contacts/v1/contacts_service_pb.js";
import { FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { expectError } from "./support/errors.js";
import { STORES, suiteWithTenants } from "./support/server.js";

describe.each(STORES)("BulkUpsertContacts and ExportContacts on %s", (store) => {
  const suite = suiteWithTenants(store, "u");
  const tenant = suite.tenant;

  async function eventTypes(tenantId: string): Promise<string[]> {
    const rows = (await suite
      .t()
      .server.db("events")
      .where({ tenant_id: tenantId })
      .where("entity_fqdn", "contacts.v1.contact")
      .orderBy("seq")
      .select("event_type")) as {
      event_type: string;
    }[];
    return rows.map((r) => r.event_type);
  }

  it("creates what matches nothing, merges into what an email or (without emails) a phone matches, and reports UNCHANGED when nothing would change", async () => {
    const c = tenant();
    const first = await c.contacts.bulkUpsertContacts({
      contacts: [
        { name: { first: "Ada" }, emails: { items: [{ email: "ada@x.example" }] } },
        { name: { first: "Phone" }, phones: { items: [{ phone: "+1 201 555 0123" }] } },
      ],
      returnEntity: true,
    });
    expect(first.results.map((r) => [r.originalIndex, r.action])).toEqual([
      [0, UpsertAction.CREATED],
      [1, UpsertAction.CREATED],
    ]);
    expect(first.bulkActionMetadata).toMatchObject({ totalSuccesses: 2, totalFailures: 0 });
    const [ada, phone] = first.results.map((r) => r.contactId) as [string, string];
    expect(first.results[0]?.contact?.id).toBe(ada);

    const second = await c.contacts.bulkUpsertContacts({
      contacts: [
        // Same email in another case: Ada gets the new last name, company and a second email.
        { name: { first: "Ada", last: "Lovelace" }, company: "Engines", emails: { items: [{ email: "ADA@x.example" }, { email: "ada2@x.example" }] } },
        // The phone written otherwise, matched by its E.164 form.
        { name: { first: "Phoebe" }, phones: { items: [{ phone: "(201) 555-0123", countryCode: "US" }] } },
        { name: { first: "New" } },
      ],
      returnEntity: true,
    });
    expect(second.results.map((r) => [r.action, r.contactId === ada, r.contactId === phone])).toEqual([
      [UpsertAction.UPDATED, true, false],
      [UpsertAction.UPDATED, false, true],
      [UpsertAction.CREATED, false, false],
    ]);
    const got = second.results[0]?.contact;
    expect([got?.info?.name?.first, got?.info?.name?.last, got?.info?.company, got?.revision]).toEqual(["Ada", "Lovelace", "Engines", 2]);
    expect(got?.info?.emails?.items.map((e) => [e.email, e.primary])).toEqual([
      ["ada@x.example", true],
      ["ada2@x.example", false],
    ]);
    expect(second.results[1]?.contact?.info?.name?.first).toBe("Phoebe");
    expect(second.results[1]?.contact?.info?.phones?.items).toHaveLength(1);

    const again = await c.contacts.bulkUpsertContacts({ contacts: [{ name: { first: "Ada" }, emails: { items: [{ email: "ada2@x.example" }] } }] });
    expect(again.results.map((r) => [r.action, r.contactId])).toEqual([[UpsertAction.UNCHANGED, ada]]);
    expect((await c.contacts.getContact({ id: ada })).contact?.revision).toBe(2);
    expect(await eventTypes(c.id)).toEqual(["contact_created", "contact_created", "contact_updated", "contact_updated", "contact_created"]);
  });

  it("folds repeats within one call into one contact", async () => {
    const c = tenant();
    const res = await c.contacts.bulkUpsertContacts({
      contacts: [
        { name: { first: "Bo" }, emails: { items: [{ email: "bo@x.example" }] } },
        { name: { last: "Diddley" }, emails: { items: [{ email: "bo@x.example" }] }, phones: { items: [{ phone: "+12015550100" }] } },
        { company: "Chess", emails: { items: [{ email: "BO@x.example" }] } },
      ],
      returnEntity: true,
    });
    expect(res.results.map((r) => r.action)).toEqual([UpsertAction.CREATED, UpsertAction.UPDATED, UpsertAction.UPDATED]);
    expect(new Set(res.results.map((r) => r.contactId)).size).toBe(1);
    const final = res.results[2]?.contact;
    expect([final?.info?.name?.first, final?.info?.name?.last, final?.info?.company, final?.revision]).toEqual(["Bo", "Diddley", "Chess", 1]);
    expect((await c.contacts.queryContacts({})).contacts).toHaveLength(1);
    expect(await eventTypes(c.id)).toEqual(["contact_created"]);
  });

  it("fails each bad item alone with its reason and field, and writes nothing of it", async () => {
    const c = tenant();
    const { label } = await c.labels.findOrCreateLabel({ displayName: "VIP" });
    await c.fields.findOrCreateExtendedField({ displayName: "Size", dataType: FieldDataType.NUMBER });
    await c.contacts.bulkUpsertContacts({
      contacts: [
        { name: { first: "One" }, emails: { items: [{ email: "one@x.example" }] } },
        { name: { first: "Two" }, emails: { items: [{ email: "two@x.example" }] } },
      ],
    });
    const res = await c.contacts.bulkUpsertContacts({
      contacts: [
        { name: { first: "Good" }, labelKeys: { items: [label?.key as string] }, extendedFields: { items: { "custom.size": fromJson(ValueSchema, 42) } } },
        { name: { first: "Bad" }, emails: { items: [{ email: "not an email" }] } },
        { company: "Only a company" },
        { name: { first: "Unknown label" }, labelKeys: { items: ["custom.nope"] } },
        { name: { first: "Bad field" }, extendedFields: { items: { "custom.size": fromJson(ValueSchema, "big") } } },
        // Its emails belong to two different contacts: which one it is cannot be told.
        { name: { first: "Both" }, emails: { items: [{ email: "one@x.example" }, { email: "two@x.example" }] } },
      ],
    });
    expect(res.results.map((r) => [r.originalIndex, UpsertAction[r.action], r.error?.code ?? "", r.error?.field ?? ""])).toEqual([
      [0, "CREATED", "", ""],
      [1, "FAILED", "INVALID_EMAIL", "contacts[1].emails.items[0].email"],
      [2, "FAILED", "INSUFFICIENT_CONTACT_DATA", "contacts[2]"],
      [3, "FAILED", "LABEL_NOT_FOUND", "contacts[3].label_keys"],
      [4, "FAILED", "INVALID_EXTENDED_FIELD_VALUE", 'contacts[4].extended_fields.items["custom.size"]'],
      [5, "FAILED", "DUPLICATE_CONTACT_EXISTS", ""],
    ]);
    expect(res.bulkActionMetadata).toMatchObject({ totalSuccesses: 1, totalFailures: 5 });
    const all = await c.contacts.queryContacts({});
    expect(all.contacts.map((x) => x.info?.name?.first).sort()).toEqual(["Good", "One", "Two"]);
    expect(all.contacts.every((x) => x.revision === 1)).toBe(true);

    await expectError(c.contacts.bulkUpsertContacts({ contacts: [] }), { code: Code.InvalidArgument, reason: "TOO_MANY_ITEMS", field: "contacts" });
    await expectError(c.contacts.bulkUpsertContacts({ contacts: Array.from({ length: 101 }, (_, i) => ({ name: { first: `P${i}` } })) }), {
      code: Code.InvalidArgument,
      reason: "TOO_MANY_ITEMS",
    });
  });

  it("a repeat with the same request_id returns the first results and writes nothing", async () => {
    const c = tenant();
    const req = { contacts: [{ name: { first: "Once" }, emails: { items: [{ email: "once@x.example" }] } }], requestId: "upsert-1" };
    const first = await c.contacts.bulkUpsertContacts(req);
    const again = await c.contacts.bulkUpsertContacts(req);
    expect(again).toEqual(first);
    expect(again.results[0]?.action).toBe(UpsertAction.CREATED);
    expect(await eventTypes(c.id)).toEqual(["contact_created"]);
  });

  it("concurrent upserts of one new email make one contact", async () => {
    const c = tenant();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        c.contacts.bulkUpsertContacts({ contacts: [{ name: { first: `Racer${i}` }, emails: { items: [{ email: "race@x.example" }] } }] }),
      ),
    );
    const actions = results.map((r) => r.results[0]?.action);
    expect(actions.filter((a) => a === UpsertAction.CREATED)).toHaveLength(1);
    expect(new Set(results.map((r) => r.results[0]?.contactId)).size).toBe(1);
    expect((await c.contacts.queryContacts({})).contacts).toHaveLength(1);
  });

  it("ExportContacts streams every matching contact once, newest first, at most 500 a message", async () => {
    const c = tenant();
    const { label } = await c.labels.findOrCreateLabel({ displayName: "Exported" });
    const ids: string[] = [];
    for (let b = 0; b < 13; b++) {
      const res = await c.contacts.bulkUpsertContacts({
        contacts: Array.from({ length: 100 }, (_, i) => ({
          name: { first: `E${b * 100 + i}` },
          ...(i % 2 === 0 ? { labelKeys: { items: [label?.key as string] } } : {}),
        })),
      });
      ids.push(...res.results.map((r) => r.contactId));
    }
    const sizes: number[] = [];
    const seen: string[] = [];
    for await (const part of c.contacts.exportContacts({})) {
      sizes.push(part.contacts.length);
      seen.push(...part.contacts.map((x) => x.id));
    }
    expect(sizes).toEqual([500, 500, 300]);
    expect(new Set(seen).size).toBe(1300);
    expect([...seen].sort()).toEqual([...ids].sort());
    const listed = await c.contacts.queryContacts({ query: { pagingMethod: { case: "paging", value: { limit: 1000 } } } });
    expect(seen.slice(0, 1000)).toEqual(listed.contacts.map((x) => x.id));

    const labelled: string[] = [];
    for await (const part of c.contacts.exportContacts({ filter: { "info.labelKeys": { $hasSome: [label?.key as string] } }, fields: ["info.name"] })) {
      for (const x of part.contacts) {
        labelled.push(x.id);
        expect(x.info?.emails).toBeUndefined();
      }
    }
    expect(labelled).toHaveLength(650);
    const bad = (async () => {
      for await (const _ of c.contacts.exportContacts({ filter: { "info.nope": 1 } }));
    })();
    await expectError(bad, { code: Code.InvalidArgument, reason: "UNSUPPORTED_FILTER_FIELD_UNKNOWN" });
  });
});
