/**
 * Issue 16 item 3: from the moment DeleteLabel / DeleteExtendedField returns, no read, query,
 * facet, export or event shows the key on any contact, while the physical clean-up goes on in the
 * background. The clean-up is held up deterministically: the test locks one contact that carries
 * both (MariaDB row lock), so the background batch waits while every read is checked; then the lock
 * goes, the clean-up finishes, and each contact has its revision bump and contact_updated event.
 */
import { fromJson, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import type { Knex } from "knex";
import { describe, expect, it } from "vitest";
import type { Contact } from "../gen/contacts/v1/contact_pb.js";
import { FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { expectError } from "./support/errors.js";
import { suiteWithTenants } from "./support/server.js";

const LABEL = "custom.doomed";
const FIELD = "custom.shoe";

const fieldsOf = (c: Contact | undefined) =>
  Object.fromEntries(Object.entries(c?.info?.extendedFields?.items ?? {}).map(([k, v]) => [k, toJson(ValueSchema, v)]));
const shows = (c: Contact | undefined) => (c?.info?.labelKeys?.items ?? []).includes(LABEL) || FIELD in fieldsOf(c);

describe("a deleted label or field is invisible at once, on mysql", () => {
  // No clean-up within the call: it all happens in the background.
  const suite = suiteWithTenants("mysql", "strip", { cleanupBudgetMs: 0 });

  it("reads, queries, facets, exports, writes and events never show it; the clean-up then finishes with its revisions and events", {
    timeout: 60_000,
  }, async () => {
    const c = suite.tenant();
    const db = suite.t().server.db;
    await c.labels.findOrCreateLabel({ displayName: "Doomed" });
    await c.fields.findOrCreateExtendedField({ displayName: "Shoe", dataType: FieldDataType.NUMBER });
    const carriers: Contact[] = [];
    for (let i = 0; i < 30; i++) {
      const { contact } = await c.contacts.createContact({
        info: {
          name: { first: `Carrier${i}` },
          labelKeys: { items: [LABEL, "contacts.customers"] },
          extendedFields: { items: { [FIELD]: fromJson(ValueSchema, 40 + i) } },
        },
      });
      if (contact) carriers.push(contact);
    }
    const { contact: only } = await c.contacts.createContact({ info: { name: { first: "OnlyDoomed" }, labelKeys: { items: [LABEL] } } });
    await c.contacts.createContact({ info: { name: { first: "Plain" } } });
    // Hold the carrier with the lowest id: the background clean-up batch locks its contacts in id
    // order, so it waits there holding no other (the writes below do not wait for it).
    carriers.sort((a, b) => (a.id < b.id ? -1 : 1));
    const blocker = carriers[0] as Contact;

    const hold: Knex.Transaction = await db.transaction();
    let deletedAt = 0;
    await hold("contacts").where({ tenant_id: c.id, id: blocker.id }).forUpdate().first("id");
    try {
      await c.labels.deleteLabel({ key: LABEL });
      await c.fields.deleteExtendedField({ key: FIELD });
      deletedAt = Number((await db("events").where({ tenant_id: c.id }).max({ m: "seq" }).first())?.m);

      // The window is open: the rows are all still there.
      const rows = async () => ({
        labels: Number((await db("contact_labels").where({ tenant_id: c.id, label_key: LABEL }).count({ n: "*" }).first())?.n),
        values: Number((await db("contact_field_values").where({ tenant_id: c.id, field_key: FIELD }).count({ n: "*" }).first())?.n),
      });
      expect(await rows()).toEqual({ labels: 31, values: 30 });

      // Reads.
      for (const x of [...carriers.slice(0, 5), only]) {
        const got = (await c.contacts.getContact({ id: x?.id ?? "" })).contact;
        expect(shows(got), x?.info?.name?.first).toBe(false);
        expect(got?.revision, "not written yet").toBe(1);
      }
      expect((await c.contacts.getContact({ id: only?.id ?? "" })).contact?.info?.labelKeys).toBeUndefined();
      const page = await c.contacts.queryContacts({ query: { pagingMethod: { case: "paging", value: { limit: 100 } } } });
      expect(page.contacts).toHaveLength(32);
      expect(page.contacts.some(shows)).toBe(false);
      const listed = await c.contacts.listContacts({ paging: { limit: 100 } });
      expect(listed.contacts.some(shows)).toBe(false);
      // Queries.
      const count = async (filter: object) =>
        (await c.contacts.queryContacts({ query: { filter: filter as never, pagingMethod: { case: "paging", value: { limit: 100 } } } })).contacts.map(
          (x) => x.info?.name?.first,
        );
      expect(await count({ "info.labelKeys": { $hasSome: [LABEL] } })).toEqual([]);
      expect(await count({ "info.labelKeys": { $hasAll: [LABEL, "contacts.customers"] } })).toEqual([]);
      expect(await count({ "info.labelKeys": { $hasSome: [LABEL, "contacts.customers"] } })).toHaveLength(30);
      expect((await count({ "info.labelKeys": { $exists: false } })).sort()).toEqual(["OnlyDoomed", "Plain"]);
      expect(await count({ $not: { "info.labelKeys": { $hasSome: [LABEL] } } })).toHaveLength(32);
      await expectError(c.contacts.queryContacts({ query: { filter: { [`info.extendedFields.${FIELD}`]: { $gt: 1 } } as never } }), {
        code: Code.InvalidArgument,
        reason: "UNSUPPORTED_FILTER_FIELD_UNKNOWN",
      });
      // Facets: no facet for the label; the contact it was alone on counts as not labeled.
      const { facets } = await c.contacts.listFacets({});
      expect(facets.find((f) => f.facetKey === LABEL)).toBeUndefined();
      expect(facets.find((f) => f.facetKey === "not-labeled")?.count).toBe(2);
      // Export.
      const exported: Contact[] = [];
      for await (const m of c.contacts.exportContacts({})) exported.push(...m.contacts);
      expect(exported).toHaveLength(32);
      expect(exported.some(shows)).toBe(false);
      // A write meanwhile: its answer and its event are without them, and it strips them for good.
      const other = carriers[1] as Contact;
      const updated = (await c.contacts.updateContact({ contactId: other.id, revision: 1, info: { company: "Acme" } })).contact;
      expect(shows(updated)).toBe(false);
      expect(updated?.info?.labelKeys?.items).toEqual(["contacts.customers"]);
      const labelled = (await c.contacts.labelContact({ contactId: carriers[2]?.id ?? "", labelKeys: ["contacts.contacted-me"] })).contact;
      expect(shows(labelled)).toBe(false);
      expect(await rows()).toEqual({ labels: 29, values: 28 });
      // A merge of carriers: the preview and the result.
      const preview = (await c.contacts.previewMergeContacts({ targetContactId: carriers[3]?.id ?? "", sourceContactIds: [carriers[4]?.id ?? ""] })).contact;
      expect(shows(preview)).toBe(false);
      const mergedInto = (
        await c.contacts.mergeContacts({ targetContactId: carriers[3]?.id ?? "", targetContactRevision: 1, sourceContactIds: [carriers[4]?.id ?? ""] })
      ).contact;
      expect(shows(mergedInto)).toBe(false);
      expect(await rows(), "the merge target lost them, the source is gone").toEqual({ labels: 27, values: 26 });
    } finally {
      await hold.commit();
    }

    // The clean-up finishes.
    const deadline = Date.now() + 30_000;
    while (Number((await db("cleanup_jobs").where({ tenant_id: c.id }).count({ n: "*" }).first())?.n) > 0) {
      if (Date.now() > deadline) throw new Error("the clean-up did not finish");
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(Number((await db("contact_labels").where({ tenant_id: c.id, label_key: LABEL }).count({ n: "*" }).first())?.n)).toBe(0);
    expect(Number((await db("contact_field_values").where({ tenant_id: c.id, field_key: FIELD }).count({ n: "*" }).first())?.n)).toBe(0);
    const blockerNow = (await c.contacts.getContact({ id: blocker.id })).contact;
    // The first batch to reach it strips both (a write strips every key being stripped); the other finds nothing left.
    expect(blockerNow?.revision, "stripped by the clean-up, once").toBe(2);
    expect(shows(blockerNow)).toBe(false);
    const stripEvents = (await db("events").where({ tenant_id: c.id, entity_id: blocker.id, event_type: "contact_updated" })).map((e) =>
      JSON.parse(e.modified_fields),
    );
    expect(stripEvents).toEqual([["info.extendedFields", "info.labelKeys"]]);
    // No contact event after the deletes shows either key; before them, the 31 creations did.
    const events = (await db("events").where({ tenant_id: c.id, entity_fqdn: "contacts.v1.contact" }).orderBy("seq")) as { seq: number; payload: string }[];
    const showing = events.filter((e) => e.payload.includes(LABEL) || e.payload.includes(FIELD));
    expect(events.filter((e) => Number(e.seq) > deletedAt).length).toBeGreaterThan(30);
    expect(showing.filter((e) => Number(e.seq) > deletedAt)).toEqual([]);
    expect(showing).toHaveLength(31);
  });
});
