import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SortOrder } from "../gen/contacts/v1/common_pb.js";
import { FieldDataType, FieldType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { expectError } from "./support/errors.js";
import { STORES, startTestServer, type TestServer } from "./support/server.js";

const SYSTEM_KEYS = [
  "contacts.displayByFirstName",
  "contacts.displayByLastName",
  "emailSubscriptions.subscriptionStatus",
  "emailSubscriptions.deliverabilityStatus",
  "emailSubscriptions.effectiveEmail",
  "members.membershipStatus",
  "members.mobile",
  "invoices.vatId",
  "ecom.numOfPurchases",
  "ecom.totalSpentAmount",
  "ecom.totalSpentCurrency",
  "ecom.lastPurchaseDate",
];
/** The system fields that are not TEXT (reference §1.4). */
const SYSTEM_TYPES: Record<string, FieldDataType> = {
  "ecom.numOfPurchases": FieldDataType.NUMBER,
  "ecom.totalSpentAmount": FieldDataType.NUMBER,
  "ecom.lastPurchaseDate": FieldDataType.DATE,
};
/** How many system fields every tenant has. */
const S = SYSTEM_KEYS.length;

/** A proto Timestamp as an ISO-8601 string (the server keeps milliseconds). */
function iso(ts: Timestamp | undefined): string {
  if (!ts) throw new Error("expected a timestamp");
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)).toISOString();
}

describe.each(STORES)("ExtendedFieldsService on %s", (store) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(store, { fieldsQuota: 6 });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Rows and events a tenant has, straight from the database: proof that nothing was stored. */
  async function stored(tenantId: string) {
    const db = t.server.db;
    const fields = await db("extended_fields").where({ tenant_id: tenantId }).count({ n: "*" }).first();
    const events = await db("events").where({ tenant_id: tenantId }).count({ n: "*" }).first();
    return { fields: Number(fields?.n ?? 0), events: Number(events?.n ?? 0) };
  }

  it("every tenant has the twelve system fields, read-only, typed as the reference types them, described and undated", async () => {
    const { fields } = t.clients("sys");
    const res = await fields.listExtendedFields({});
    expect(res.fields.map((f) => f.key).sort()).toEqual([...SYSTEM_KEYS].sort());
    for (const f of res.fields) {
      expect(f).toMatchObject({ fieldType: FieldType.SYSTEM, dataType: SYSTEM_TYPES[f.key] ?? FieldDataType.TEXT, namespace: f.key.split(".")[0] });
      expect(f.description, f.key).not.toBe("");
      expect(f.displayName, f.key).not.toBe("");
      expect(f.createdDate, f.key).toBeUndefined();
      expect(f.updatedDate, f.key).toBeUndefined();
    }
    const got = await fields.getExtendedField({ key: "emailSubscriptions.effectiveEmail" });
    expect(got.field).toMatchObject({
      key: "emailSubscriptions.effectiveEmail",
      namespace: "emailSubscriptions",
      displayName: "Effective Email",
      fieldType: FieldType.SYSTEM,
      dataType: FieldDataType.TEXT,
    });
    // Another tenant, first touched by a Get, has them too.
    const other = await t.clients("sys-2").fields.getExtendedField({ key: "contacts.displayByLastName" });
    expect(other.field?.fieldType).toBe(FieldType.SYSTEM);
    expect(await stored("sys")).toEqual({ fields: S, events: 0 });
  });

  it("FindOrCreateExtendedField creates custom.<slug> with the requested data type", async () => {
    const { fields } = t.clients("foc");
    const types: [string, FieldDataType, string][] = [
      ["Event we met at", FieldDataType.TEXT, "custom.event-we-met-at"],
      ["# of Visits", FieldDataType.NUMBER, "custom.of-visits"],
      ["First Visit (date)", FieldDataType.DATE, "custom.first-visit-date"],
      ["Home Page", FieldDataType.URL, "custom.home-page"],
    ];
    for (const [displayName, dataType, key] of types) {
      const res = await fields.findOrCreateExtendedField({ displayName, dataType });
      expect(res.newField).toBe(true);
      expect(res.field).toMatchObject({
        key,
        namespace: "custom",
        displayName,
        dataType,
        fieldType: FieldType.USER_DEFINED,
        description: "",
      });
      expect(res.field?.createdDate).toBeDefined();
      expect(res.field?.updatedDate).toEqual(res.field?.createdDate);
      expect((await fields.getExtendedField({ key })).field).toEqual(res.field);
    }
    expect(await stored("foc")).toEqual({ fields: S + 4, events: 4 });
  });

  it("finds an existing field case-insensitively after trimming, ignoring the requested data type", async () => {
    const { fields } = t.clients("find");
    const first = await fields.findOrCreateExtendedField({ displayName: "  Shoe Size ", dataType: FieldDataType.NUMBER });
    expect(first.newField).toBe(true);
    // The display name is stored trimmed.
    expect(first.field).toMatchObject({ key: "custom.shoe-size", displayName: "Shoe Size", dataType: FieldDataType.NUMBER });
    const again = await fields.findOrCreateExtendedField({ displayName: "shoe SIZE  ", dataType: FieldDataType.TEXT });
    expect(again.newField).toBe(false);
    expect(again.field).toEqual(first.field);
    // No data type is needed to find a field.
    const noType = await fields.findOrCreateExtendedField({ displayName: "SHOE SIZE" });
    expect(noType).toMatchObject({ newField: false, field: { key: "custom.shoe-size", dataType: FieldDataType.NUMBER } });
    // A system field's display name finds the system field.
    const sys = await fields.findOrCreateExtendedField({ displayName: "effective email", dataType: FieldDataType.URL });
    expect(sys).toMatchObject({
      newField: false,
      field: { key: "emailSubscriptions.effectiveEmail", fieldType: FieldType.SYSTEM, dataType: FieldDataType.TEXT },
    });
    expect(await stored("find")).toEqual({ fields: S + 1, events: 1 });
  });

  it("accepts a display name of exactly 150 characters", async () => {
    const { fields } = t.clients("long");
    const res = await fields.findOrCreateExtendedField({ displayName: "é".repeat(150), dataType: FieldDataType.TEXT });
    expect(res.newField).toBe(true);
    expect(res.field?.displayName).toBe("é".repeat(150));
    expect(res.field?.key.length).toBeLessThanOrEqual(80);
  });

  it("slug collisions get -2, -3 suffixes", async () => {
    const { fields } = t.clients("slug");
    const keys = [];
    for (const name of ["Notes", "notes!", "NOTES?"]) {
      keys.push((await fields.findOrCreateExtendedField({ displayName: name, dataType: FieldDataType.TEXT })).field?.key);
    }
    expect(keys).toEqual(["custom.notes", "custom.notes-2", "custom.notes-3"]);
  });

  it("concurrent FindOrCreate of one name creates exactly one field", async () => {
    const { fields } = t.clients("race");
    const results = await Promise.all(
      Array.from({ length: 10 }, () => fields.findOrCreateExtendedField({ displayName: "Race", dataType: FieldDataType.TEXT })),
    );
    expect(new Set(results.map((r) => r.field?.key))).toEqual(new Set(["custom.race"]));
    expect(results.filter((r) => r.newField)).toHaveLength(1);
    expect(await stored("race")).toEqual({ fields: S + 1, events: 1 });
  });

  it("refuses an unspecified data type only when a field would be created", async () => {
    const { fields } = t.clients("dtype");
    await fields.listExtendedFields({}); // materialise the tenant's system fields
    const before = await stored("dtype");
    await expectError(fields.findOrCreateExtendedField({ displayName: "Untyped" }), {
      code: Code.InvalidArgument,
      reason: "INVALID_DATA_TYPE",
      field: "data_type",
    });
    await expectError(fields.findOrCreateExtendedField({ displayName: "Untyped", dataType: FieldDataType.UNSPECIFIED, requestId: "dt-1" }), {
      code: Code.InvalidArgument,
      reason: "INVALID_DATA_TYPE",
      field: "data_type",
    });
    await expectError(fields.findOrCreateExtendedField({ displayName: "Untyped", dataType: 99 as FieldDataType }), {
      code: Code.InvalidArgument,
      reason: "INVALID_DATA_TYPE",
      field: "data_type",
    });
    expect(await stored("dtype")).toEqual(before);
    // A refused call claims no request id: its repeat is refused again, not replayed.
    await expectError(fields.findOrCreateExtendedField({ displayName: "Untyped", dataType: FieldDataType.UNSPECIFIED, requestId: "dt-1" }), {
      code: Code.InvalidArgument,
      reason: "INVALID_DATA_TYPE",
    });
    // Finding the system field needs no type.
    const found = await fields.findOrCreateExtendedField({ displayName: "Effective Email" });
    expect(found.newField).toBe(false);
    expect(await stored("dtype")).toEqual(before);
  });

  it("the quota is enforced with its error data, and nothing is stored past it", async () => {
    const { fields } = t.clients("quota");
    for (let i = 0; i < 6; i++) await fields.findOrCreateExtendedField({ displayName: `Q${i}`, dataType: FieldDataType.TEXT });
    const before = await stored("quota");
    // The system fields plus six custom ones: system fields do not count.
    expect(before).toEqual({ fields: S + 6, events: 6 });
    await expectError(fields.findOrCreateExtendedField({ displayName: "one too many", dataType: FieldDataType.TEXT }), {
      code: Code.ResourceExhausted,
      reason: "FIELDS_QUOTA_EXCEEDED",
      metadata: { fieldsQuota: "6", fieldsCurrentTotal: "6" },
    });
    expect(await stored("quota")).toEqual(before);
    // Finding an existing field still works at the quota.
    expect((await fields.findOrCreateExtendedField({ displayName: "q0", dataType: FieldDataType.TEXT })).newField).toBe(false);
    // Deleting one makes room again.
    await fields.deleteExtendedField({ key: "custom.q5" });
    const made = await fields.findOrCreateExtendedField({ displayName: "one too many", dataType: FieldDataType.TEXT });
    expect(made.newField).toBe(true);
  });

  it("bad input gets the documented error and stores nothing", async () => {
    const { fields } = t.clients("bad");
    await fields.findOrCreateExtendedField({ displayName: "Existing", dataType: FieldDataType.TEXT });
    const before = await stored("bad");
    const text = FieldDataType.TEXT;
    const cases: [() => Promise<unknown>, string, string][] = [
      [() => fields.findOrCreateExtendedField({ displayName: "", dataType: text }), "INVALID_DISPLAY_NAME", "display_name"],
      [() => fields.findOrCreateExtendedField({ displayName: "  \t ", dataType: text }), "INVALID_DISPLAY_NAME", "display_name"],
      [() => fields.findOrCreateExtendedField({ displayName: "x".repeat(151), dataType: text }), "INVALID_DISPLAY_NAME", "display_name"],
      [() => fields.findOrCreateExtendedField({ displayName: "ok", dataType: text, requestId: "r".repeat(65) }), "INVALID_REQUEST_ID", "request_id"],
      [() => fields.getExtendedField({ key: "" }), "INVALID_KEY", "key"],
      [() => fields.getExtendedField({ key: "k".repeat(81) }), "INVALID_KEY", "key"],
      [() => fields.renameExtendedField({}), "INVALID_FIELD", "field"],
      [() => fields.renameExtendedField({ field: { key: "custom.existing", displayName: "" } }), "INVALID_DISPLAY_NAME", "field.display_name"],
      [() => fields.renameExtendedField({ field: { key: "custom.existing", displayName: "   " } }), "INVALID_DISPLAY_NAME", "field.display_name"],
      [() => fields.renameExtendedField({ field: { key: "custom.existing", displayName: "y".repeat(151) } }), "INVALID_DISPLAY_NAME", "field.display_name"],
      [() => fields.renameExtendedField({ field: { key: "", displayName: "x" } }), "INVALID_KEY", "field.key"],
      [() => fields.renameExtendedField({ field: { key: "k".repeat(81), displayName: "x" } }), "INVALID_KEY", "field.key"],
      [
        () => fields.renameExtendedField({ field: { key: "custom.existing", displayName: "x" }, requestId: "r".repeat(65) }),
        "INVALID_REQUEST_ID",
        "request_id",
      ],
      [() => fields.deleteExtendedField({ key: "" }), "INVALID_KEY", "key"],
      [() => fields.deleteExtendedField({ key: "k".repeat(81) }), "INVALID_KEY", "key"],
      [() => fields.listExtendedFields({ namespace: "ab" }), "INVALID_NAMESPACE", "namespace"],
      [() => fields.listExtendedFields({ namespace: "n".repeat(26) }), "INVALID_NAMESPACE", "namespace"],
      [() => fields.listExtendedFields({ startsWith: "" }), "INVALID_STARTS_WITH", "starts_with"],
      [() => fields.listExtendedFields({ startsWith: "s".repeat(151) }), "INVALID_STARTS_WITH", "starts_with"],
      [() => fields.listExtendedFields({ sort: { fieldName: "key" } }), "INVALID_SORT", "sort[0].field_name"],
      [() => fields.listExtendedFields({ sort: { fieldName: "dataType" } }), "INVALID_SORT", "sort[0].field_name"],
      [() => fields.listExtendedFields({ paging: { limit: -1 } }), "ILLEGAL_LIMIT", "paging.limit"],
      [() => fields.listExtendedFields({ paging: { offset: -1 } }), "ILLEGAL_OFFSET", "paging.offset"],
      [() => fields.queryExtendedFields({ query: { sort: [{ fieldName: "namespace" }] } }), "INVALID_SORT", "query.sort[0].field_name"],
      [
        () =>
          fields.queryExtendedFields({
            query: { sort: [{ fieldName: "displayName" }, { fieldName: "createdDate", order: SortOrder.DESC }] },
          }),
        "INVALID_SORT",
        "query.sort",
      ],
      [() => fields.queryExtendedFields({ query: { pagingMethod: { case: "paging", value: { limit: -1 } } } }), "ILLEGAL_LIMIT", "query.paging.limit"],
      [
        () => fields.queryExtendedFields({ query: { pagingMethod: { case: "cursorPaging", value: { limit: -5 } } } }),
        "ILLEGAL_LIMIT",
        "query.cursor_paging.limit",
      ],
    ];
    for (const [call, reason, field] of cases) {
      await expectError(call(), { code: Code.InvalidArgument, reason, field });
    }
    expect(await stored("bad")).toEqual(before);
  });

  it("GetExtendedField, RenameExtendedField and DeleteExtendedField of an unknown key are EXTENDED_FIELD_NOT_FOUND", async () => {
    const { fields } = t.clients("nf");
    const nf = { code: Code.NotFound, reason: "EXTENDED_FIELD_NOT_FOUND" };
    await expectError(fields.getExtendedField({ key: "custom.nope" }), nf);
    await expectError(fields.renameExtendedField({ field: { key: "custom.nope", displayName: "X" } }), nf);
    await expectError(fields.deleteExtendedField({ key: "custom.nope" }), nf);
    // A label key is not a field key.
    await expectError(fields.getExtendedField({ key: "contacts.customers" }), nf);
    expect((await stored("nf")).events).toBe(0);
  });

  it("system fields cannot be renamed or deleted", async () => {
    const { fields } = t.clients("sysro");
    const ro = { code: Code.FailedPrecondition, reason: "SYSTEM_FIELD_READ_ONLY" };
    for (const key of SYSTEM_KEYS) {
      await expectError(fields.renameExtendedField({ field: { key, displayName: "Mine now" } }), ro);
      await expectError(fields.deleteExtendedField({ key }), ro);
    }
    const got = await fields.getExtendedField({ key: "contacts.displayByFirstName" });
    expect(got.field?.displayName).toBe("Display Name (start with first)");
    expect(await stored("sysro")).toEqual({ fields: S, events: 0 });
  });

  it("RenameExtendedField keeps the key and data type, and refuses a name another field has", async () => {
    const { fields } = t.clients("rename");
    const { field } = await fields.findOrCreateExtendedField({ displayName: "Demo Field", dataType: FieldDataType.DATE });
    await fields.findOrCreateExtendedField({ displayName: "Other", dataType: FieldDataType.TEXT });
    await new Promise((r) => setTimeout(r, 5));
    const renamed = await fields.renameExtendedField({
      // Everything but key and display name is ignored.
      field: { key: field?.key ?? "", displayName: "  Renamed ", dataType: FieldDataType.NUMBER, namespace: "other" },
    });
    expect(renamed.field).toMatchObject({
      key: "custom.demo-field",
      namespace: "custom",
      displayName: "Renamed",
      dataType: FieldDataType.DATE,
      fieldType: FieldType.USER_DEFINED,
    });
    expect(renamed.field?.createdDate).toEqual(field?.createdDate);
    expect(iso(renamed.field?.updatedDate) > iso(field?.updatedDate)).toBe(true);
    expect((await fields.getExtendedField({ key: "custom.demo-field" })).field).toEqual(renamed.field);
    // Only the case changes: allowed (it is the field's own name).
    const cased = await fields.renameExtendedField({ field: { key: "custom.demo-field", displayName: "RENAMED" } });
    expect(cased.field?.displayName).toBe("RENAMED");
    const before = await stored("rename");
    await expectError(fields.renameExtendedField({ field: { key: "custom.demo-field", displayName: " other " } }), {
      code: Code.AlreadyExists,
      reason: "EXTENDED_FIELD_NAME_TAKEN",
    });
    await expectError(fields.renameExtendedField({ field: { key: "custom.demo-field", displayName: "Effective Email" } }), {
      code: Code.AlreadyExists,
      reason: "EXTENDED_FIELD_NAME_TAKEN",
    });
    expect(await stored("rename")).toEqual(before);
    // The old name is free again: FindOrCreate makes a new field for it.
    const again = await fields.findOrCreateExtendedField({ displayName: "Demo Field", dataType: FieldDataType.TEXT });
    expect(again).toMatchObject({ newField: true, field: { key: "custom.demo-field-2", dataType: FieldDataType.TEXT } });
    // And the new name finds the renamed field.
    const found = await fields.findOrCreateExtendedField({ displayName: "renamed", dataType: FieldDataType.TEXT });
    expect(found).toMatchObject({ newField: false, field: { key: "custom.demo-field", dataType: FieldDataType.DATE } });
  });

  it("DeleteExtendedField removes the field and frees its name and key", async () => {
    const { fields } = t.clients("del");
    await fields.findOrCreateExtendedField({ displayName: "Gone", dataType: FieldDataType.URL });
    await fields.deleteExtendedField({ key: "custom.gone" });
    await expectError(fields.getExtendedField({ key: "custom.gone" }), { code: Code.NotFound, reason: "EXTENDED_FIELD_NOT_FOUND" });
    await expectError(fields.deleteExtendedField({ key: "custom.gone" }), { code: Code.NotFound, reason: "EXTENDED_FIELD_NOT_FOUND" });
    expect((await fields.listExtendedFields({ namespace: "custom" })).fields).toHaveLength(0);
    const back = await fields.findOrCreateExtendedField({ displayName: "gone", dataType: FieldDataType.NUMBER });
    expect(back).toMatchObject({ newField: true, field: { key: "custom.gone", dataType: FieldDataType.NUMBER } });
  });

  it("every change writes its event in the outbox, with a sequence per entity", async () => {
    const { fields } = t.clients("ev");
    await fields.findOrCreateExtendedField({ displayName: "Evented", dataType: FieldDataType.NUMBER });
    await fields.findOrCreateExtendedField({ displayName: "Second", dataType: FieldDataType.TEXT });
    await fields.renameExtendedField({ field: { key: "custom.evented", displayName: "Evented 2" } });
    await fields.renameExtendedField({ field: { key: "custom.evented", displayName: "Evented 2" } }); // no change, no event
    await fields.deleteExtendedField({ key: "custom.second" });
    await fields.deleteExtendedField({ key: "custom.evented" });
    // The deleted field's name is free: this creates a new field under the same key.
    await fields.findOrCreateExtendedField({ displayName: "Evented", dataType: FieldDataType.NUMBER });
    const rows = await t.server.db("events").where({ tenant_id: "ev" }).orderBy("seq");
    expect(rows.map((r) => [Number(r.seq), r.event_type, r.entity_fqdn, r.slug, r.entity_id, Number(r.entity_seq), r.subject])).toEqual([
      [1, "extended_field_created", "contacts.v1.extended_field", "created", "custom.evented", 1, "dev"],
      [2, "extended_field_created", "contacts.v1.extended_field", "created", "custom.second", 1, "dev"],
      [3, "extended_field_updated", "contacts.v1.extended_field", "updated", "custom.evented", 2, "dev"],
      [4, "extended_field_deleted", "contacts.v1.extended_field", "deleted", "custom.second", 2, "dev"],
      [5, "extended_field_deleted", "contacts.v1.extended_field", "deleted", "custom.evented", 3, "dev"],
      // The name's key is free again after the delete; the new field continues the key's sequence.
      [6, "extended_field_created", "contacts.v1.extended_field", "created", "custom.evented", 4, "dev"],
    ]);
    expect(new Set(rows.map((r) => r.id)).size).toBe(6);
    expect(rows[0].modified_fields).toBeNull();
    expect(JSON.parse(rows[0].payload).field).toMatchObject({ key: "custom.evented", dataType: "NUMBER", fieldType: "USER_DEFINED" });
    expect(JSON.parse(rows[2].modified_fields)).toEqual(["displayName"]);
    expect(JSON.parse(rows[2].payload).field.displayName).toBe("Evented 2");
    expect(JSON.parse(rows[4].payload).field.key).toBe("custom.evented");
  });

  it("a request_id makes a write idempotent, and refuses reuse with another request", async () => {
    const { fields } = t.clients("idem");
    const a = await fields.findOrCreateExtendedField({ displayName: "Once", dataType: FieldDataType.TEXT, requestId: "req-1" });
    const b = await fields.findOrCreateExtendedField({ displayName: "Once", dataType: FieldDataType.TEXT, requestId: "req-1" });
    expect(b).toEqual(a);
    expect(b.newField).toBe(true);
    const reused = { code: Code.InvalidArgument, reason: "REQUEST_ID_REUSED", field: "request_id" };
    await expectError(fields.findOrCreateExtendedField({ displayName: "Twice", dataType: FieldDataType.TEXT, requestId: "req-1" }), reused);
    await expectError(fields.findOrCreateExtendedField({ displayName: "Once", dataType: FieldDataType.URL, requestId: "req-1" }), reused);
    // A request id belongs to one method.
    await expectError(fields.deleteExtendedField({ key: "custom.once", requestId: "req-1" }), reused);

    const r1 = await fields.renameExtendedField({ field: { key: "custom.once", displayName: "Once more" }, requestId: "ren-1" });
    await new Promise((r) => setTimeout(r, 5));
    const r2 = await fields.renameExtendedField({ field: { key: "custom.once", displayName: "Once more" }, requestId: "ren-1" });
    expect(r2).toEqual(r1);
    await fields.deleteExtendedField({ key: "custom.once", requestId: "del-1" });
    await fields.deleteExtendedField({ key: "custom.once", requestId: "del-1" }); // repeat: same (empty) answer
    expect(await stored("idem")).toEqual({ fields: S, events: 3 });
    // Without a request id the delete is not repeated: the field is gone.
    await expectError(fields.deleteExtendedField({ key: "custom.once" }), { code: Code.NotFound, reason: "EXTENDED_FIELD_NOT_FOUND" });
  });

  it("tenants do not see each other's fields", async () => {
    await t.clients("iso-a").fields.findOrCreateExtendedField({ displayName: "Secret", dataType: FieldDataType.TEXT });
    const b = t.clients("iso-b").fields;
    const nf = { code: Code.NotFound, reason: "EXTENDED_FIELD_NOT_FOUND" };
    await expectError(b.getExtendedField({ key: "custom.secret" }), nf);
    await expectError(b.renameExtendedField({ field: { key: "custom.secret", displayName: "Mine" } }), nf);
    await expectError(b.deleteExtendedField({ key: "custom.secret" }), nf);
    expect((await b.queryExtendedFields({ query: { filter: { key: "custom.secret" } } })).fields).toHaveLength(0);
    expect((await b.listExtendedFields({ namespace: "custom" })).fields).toHaveLength(0);
    const mine = await b.findOrCreateExtendedField({ displayName: "Secret", dataType: FieldDataType.NUMBER });
    expect(mine).toMatchObject({ newField: true, field: { key: "custom.secret", dataType: FieldDataType.NUMBER } });
    const theirs = await t.clients("iso-a").fields.getExtendedField({ key: "custom.secret" });
    expect(theirs.field?.dataType).toBe(FieldDataType.TEXT);
  });

  describe("ListExtendedFields and QueryExtendedFields", () => {
    const tenant = "q";
    const custom = ["Alpha", "beta", "Gamma", "alpine", "VIP Level", "VIP Since"];
    beforeAll(async () => {
      const { fields } = t.clients(tenant);
      const spec: [string, FieldDataType][] = [
        ["Alfa", FieldDataType.TEXT], // renamed to "Alpha" last, so it is the most recently updated
        ["beta", FieldDataType.NUMBER],
        ["Gamma", FieldDataType.DATE],
        ["alpine", FieldDataType.URL],
        ["VIP Level", FieldDataType.NUMBER],
        ["VIP Since", FieldDataType.DATE],
      ];
      for (const [displayName, dataType] of spec) {
        await fields.findOrCreateExtendedField({ displayName, dataType });
        await new Promise((r) => setTimeout(r, 3)); // distinct creation times
      }
      await fields.renameExtendedField({ field: { key: "custom.alfa", displayName: "Alpha" } });
    });

    it("lists newest first by default, with system fields last", async () => {
      const res = await t.clients(tenant).fields.listExtendedFields({});
      expect(res.fields.map((f) => f.displayName).slice(0, 6)).toEqual(["VIP Since", "VIP Level", "alpine", "Gamma", "beta", "Alpha"]);
      expect(res.fields.slice(6).map((f) => f.fieldType)).toEqual(Array(S).fill(FieldType.SYSTEM));
      expect(res.metadata).toMatchObject({ count: 6 + S, total: 6 + S, offset: 0, hasNext: false });
    });

    it("filters by field type, namespace and case-sensitive starts_with", async () => {
      const { fields } = t.clients(tenant);
      const names = async (req: { fieldType?: FieldType; namespace?: string; startsWith?: string }) =>
        (await fields.listExtendedFields({ ...req, sort: { fieldName: "displayName", order: SortOrder.ASC } })).fields.map((f) => f.displayName);
      expect((await fields.listExtendedFields({ fieldType: FieldType.SYSTEM })).fields.map((f) => f.key).sort()).toEqual([...SYSTEM_KEYS].sort());
      expect(await names({ fieldType: FieldType.USER_DEFINED })).toEqual([...custom].sort());
      // UNSPECIFIED means no filter.
      expect(await names({ fieldType: FieldType.UNSPECIFIED })).toHaveLength(6 + S);
      expect(await names({ namespace: "custom" })).toEqual([...custom].sort());
      expect(await names({ namespace: "emailSubscriptions" })).toEqual(["Effective Deliverability Status", "Effective Email", "Effective Subscription Status"]);
      expect(await names({ namespace: "contacts", fieldType: FieldType.SYSTEM })).toEqual([
        "Display Name (start with first)",
        "Display Name (start with last)",
      ]);
      expect(await names({ namespace: "nothing" })).toEqual([]);
      expect(await names({ startsWith: "Al" })).toEqual(["Alpha"]);
      expect(await names({ startsWith: "al" })).toEqual(["alpine"]);
      expect(await names({ startsWith: "VIP S" })).toEqual(["VIP Since"]);
      expect(await names({ startsWith: "%" })).toEqual([]);
      expect(await names({ startsWith: "Effective", fieldType: FieldType.USER_DEFINED })).toEqual([]);
    });

    it("sorts and pages by offset", async () => {
      const { fields } = t.clients(tenant);
      const page = await fields.listExtendedFields({
        sort: { fieldName: "displayName", order: SortOrder.ASC },
        paging: { limit: 3, offset: 3 },
      });
      // Byte order: upper case before lower case.
      expect(page.fields.map((f) => f.displayName)).toEqual(["Display Name (start with last)", "Effective Deliverability Status", "Effective Email"]);
      expect(page.metadata).toMatchObject({ count: 3, offset: 3, total: 6 + S, hasNext: true });
      const last = await fields.listExtendedFields({
        sort: { fieldName: "displayName", order: SortOrder.DESC },
        paging: { limit: 3, offset: 4 + S },
      });
      expect(last.fields.map((f) => f.displayName)).toEqual(["Alpha", "# of Purchases"]);
      expect(last.metadata).toMatchObject({ count: 2, offset: 4 + S, total: 6 + S, hasNext: false });
      const past = await fields.listExtendedFields({ paging: { offset: 50 } });
      expect(past.fields).toHaveLength(0);
      expect(past.metadata).toMatchObject({ count: 0, offset: 50, total: 6 + S, hasNext: false });
      const byUpdate = await fields.listExtendedFields({ sort: { fieldName: "updatedDate", order: SortOrder.DESC }, paging: { limit: 2 } });
      expect(byUpdate.fields.map((f) => f.displayName)).toEqual(["Alpha", "VIP Since"]);
      const byCreate = await fields.queryExtendedFields({
        query: { filter: { namespace: "custom" }, sort: [{ fieldName: "createdDate", order: SortOrder.ASC }] },
      });
      expect(byCreate.fields.map((f) => f.displayName)).toEqual(["Alpha", "beta", "Gamma", "alpine", "VIP Level", "VIP Since"]);
    });

    it("queries with every operator of the reference's field table", async () => {
      const { fields } = t.clients(tenant);
      const names = async (filter: Record<string, unknown>) =>
        (
          await fields.queryExtendedFields({
            query: { filter: filter as never, sort: [{ fieldName: "displayName", order: SortOrder.ASC }] },
          })
        ).fields.map((f) => f.displayName);
      // key: $eq $ne $in
      expect(await names({ key: "custom.alfa" })).toEqual(["Alpha"]);
      expect(await names({ key: { $eq: "contacts.displayByLastName" } })).toEqual(["Display Name (start with last)"]);
      expect(await names({ key: { $ne: "custom.alfa" }, namespace: "custom" })).toEqual(["Gamma", "VIP Level", "VIP Since", "alpine", "beta"]);
      expect(await names({ key: { $in: ["custom.vip-level", "emailSubscriptions.effectiveEmail", "custom.nope"] } })).toEqual(["Effective Email", "VIP Level"]);
      // displayName: $eq $ne $in $startsWith (case-insensitive)
      expect(await names({ displayName: "beta" })).toEqual(["beta"]);
      expect(await names({ displayName: { $eq: "Gamma" } })).toEqual(["Gamma"]);
      expect(await names({ displayName: { $ne: "Gamma" }, namespace: "custom" })).toEqual(["Alpha", "VIP Level", "VIP Since", "alpine", "beta"]);
      expect(await names({ displayName: { $in: ["Gamma", "beta", "nope"] } })).toEqual(["Gamma", "beta"]);
      expect(await names({ displayName: { $startsWith: "al" } })).toEqual(["Alpha", "alpine"]);
      expect(await names({ displayName: { $startsWith: "EFFECTIVE E" } })).toEqual(["Effective Email"]);
      expect(await names({ displayName: { $startsWith: "vip" } })).toEqual(["VIP Level", "VIP Since"]);
      expect(await names({ displayName: { $startsWith: "_" } })).toEqual([]);
      // namespace: $eq $ne
      expect(await names({ namespace: "contacts" })).toEqual(["Display Name (start with first)", "Display Name (start with last)"]);
      expect(await names({ namespace: { $ne: "custom" } })).toHaveLength(S);
      // dataType: $eq $ne, in the reference's and the proto's spelling
      // (the system fields ecom.numOfPurchases and ecom.totalSpentAmount are NUMBER, ecom.lastPurchaseDate DATE)
      const NUMBERS = ["# of Purchases", "Total Spent Amount", "VIP Level", "beta"];
      expect(await names({ dataType: "NUMBER" })).toEqual(NUMBERS);
      expect(await names({ dataType: "FIELD_DATA_TYPE_NUMBER" })).toEqual(NUMBERS);
      expect(await names({ dataType: { $eq: "DATE" } })).toEqual(["Gamma", "Last Purchase Date", "VIP Since"]);
      expect(await names({ dataType: { $ne: "FIELD_DATA_TYPE_TEXT" } })).toEqual([
        "# of Purchases",
        "Gamma",
        "Last Purchase Date",
        "Total Spent Amount",
        "VIP Level",
        "VIP Since",
        "alpine",
        "beta",
      ]);
      expect(await names({ dataType: "URL" })).toEqual(["alpine"]);
      // fieldType: $eq
      expect(await names({ fieldType: "USER_DEFINED" })).toEqual(["Alpha", "Gamma", "VIP Level", "VIP Since", "alpine", "beta"]);
      expect(await names({ fieldType: "FIELD_TYPE_SYSTEM" })).toHaveLength(S);
      expect(await names({ fieldType: { $eq: "SYSTEM" }, namespace: "contacts" })).toHaveLength(2);
      // $and / $or / $not
      expect(await names({ $and: [{ dataType: "NUMBER" }, { displayName: { $startsWith: "vip" } }] })).toEqual(["VIP Level"]);
      expect(await names({ $or: [{ displayName: "Alpha" }, { dataType: "DATE" }, { key: "contacts.displayByFirstName" }] })).toEqual([
        "Alpha",
        "Display Name (start with first)",
        "Gamma",
        "Last Purchase Date",
        "VIP Since",
      ]);
      expect(await names({ $not: { fieldType: "USER_DEFINED" }, namespace: { $ne: "emailSubscriptions" } })).toEqual([
        "# of Purchases",
        "Display Name (start with first)",
        "Display Name (start with last)",
        "Last Purchase Date",
        "Membership Status",
        "Mobile flag",
        "Total Spent Amount",
        "Total Spent Currency",
        "VAT ID",
      ]);
      expect(await names({ $not: { $or: [{ namespace: "custom" }, { namespace: "contacts" }] } })).toHaveLength(S - 2);
    });

    it("filters on createdDate and updatedDate with every comparison", async () => {
      const { fields } = t.clients(tenant);
      const names = async (filter: Record<string, unknown>) =>
        (
          await fields.queryExtendedFields({
            query: { filter: { ...filter, namespace: "custom" } as never, sort: [{ fieldName: "createdDate", order: SortOrder.ASC }] },
          })
        ).fields.map((f) => f.displayName);
      const all = (await fields.queryExtendedFields({ query: { filter: { namespace: "custom" } } })).fields;
      const byName = new Map(all.map((f) => [f.displayName, f]));
      const created = iso(byName.get("Gamma")?.createdDate);
      expect(await names({ createdDate: created })).toEqual(["Gamma"]);
      expect(await names({ createdDate: { $eq: created } })).toEqual(["Gamma"]);
      expect(await names({ createdDate: { $ne: created } })).toEqual(["Alpha", "beta", "alpine", "VIP Level", "VIP Since"]);
      expect(await names({ createdDate: { $gt: created } })).toEqual(["alpine", "VIP Level", "VIP Since"]);
      expect(await names({ createdDate: { $gte: created } })).toEqual(["Gamma", "alpine", "VIP Level", "VIP Since"]);
      expect(await names({ createdDate: { $lt: created } })).toEqual(["Alpha", "beta"]);
      expect(await names({ createdDate: { $lte: created } })).toEqual(["Alpha", "beta", "Gamma"]);
      expect(await names({ createdDate: { $gt: created, $lt: iso(byName.get("VIP Since")?.createdDate) } })).toEqual(["alpine", "VIP Level"]);
      // The {"$date": …} form of a timestamp value.
      expect(await names({ createdDate: { $eq: { $date: created } } })).toEqual(["Gamma"]);
      // "Alpha" was renamed after every field was created: the most recently updated.
      const updated = iso(byName.get("Alpha")?.updatedDate);
      const lastCreated = iso(byName.get("VIP Since")?.createdDate);
      expect(updated > lastCreated).toBe(true);
      expect(await names({ updatedDate: updated })).toEqual(["Alpha"]);
      expect(await names({ updatedDate: { $ne: updated } })).toEqual(["beta", "Gamma", "alpine", "VIP Level", "VIP Since"]);
      expect(await names({ updatedDate: { $gt: lastCreated } })).toEqual(["Alpha"]);
      expect(await names({ updatedDate: { $gte: lastCreated } })).toEqual(["Alpha", "VIP Since"]);
      expect(await names({ updatedDate: { $lt: lastCreated } })).toEqual(["beta", "Gamma", "alpine", "VIP Level"]);
      expect(await names({ updatedDate: { $lte: lastCreated } })).toEqual(["beta", "Gamma", "alpine", "VIP Level", "VIP Since"]);
      expect(await names({ updatedDate: { $gt: "2000-01-01T00:00:00Z" } })).toHaveLength(6);
    });

    it("undated system fields match no date comparison but $ne", async () => {
      const { fields } = t.clients(tenant);
      const count = async (filter: Record<string, unknown>) =>
        (await fields.queryExtendedFields({ query: { filter: { ...filter, fieldType: "SYSTEM" } as never } })).fields.length;
      const when = "2000-01-01T00:00:00Z";
      // Soft: every comparison is reported, not only the first that fails.
      expect.soft(await count({ createdDate: { $gt: when } })).toBe(0);
      expect.soft(await count({ createdDate: { $gte: when } })).toBe(0);
      expect.soft(await count({ createdDate: { $eq: when } })).toBe(0);
      expect.soft(await count({ createdDate: { $ne: when } })).toBe(S);
      // A field without a date is not "before" any date.
      expect.soft(await count({ createdDate: { $lt: when } })).toBe(0);
      expect.soft(await count({ updatedDate: { $lte: when } })).toBe(0);
      expect.soft(await count({ createdDate: { $eq: "1970-01-01T00:00:00Z" } })).toBe(0);
    });

    it("rejects bad queries with the reference's codes and the offending path", async () => {
      const { fields } = t.clients(tenant);
      const q = (filter: unknown, sort: { fieldName: string }[] = []) => fields.queryExtendedFields({ query: { filter: filter as never, sort } });
      const bad = Code.InvalidArgument;
      const cases: [unknown, string, string][] = [
        [{ color: "red" }, "UNSUPPORTED_FILTER_FIELD", "query.filter.color"],
        [{ description: "x" }, "UNSUPPORTED_FILTER_FIELD", "query.filter.description"],
        [{ $and: [{ key: "a" }, { colour: 1 }] }, "UNSUPPORTED_FILTER_FIELD", "query.filter.$and[1].colour"],
        [{ key: { $startsWith: "c" } }, "UNSUPPORTED_FILTER_OPERATOR", "query.filter.key.$startsWith"],
        [{ key: { $regex: "c" } }, "UNSUPPORTED_FILTER_OPERATOR", "query.filter.key.$regex"],
        [{ namespace: { $in: ["custom"] } }, "UNSUPPORTED_FILTER_OPERATOR", "query.filter.namespace.$in"],
        [{ dataType: { $in: ["TEXT"] } }, "UNSUPPORTED_FILTER_OPERATOR", "query.filter.dataType.$in"],
        [{ fieldType: { $ne: "SYSTEM" } }, "UNSUPPORTED_FILTER_OPERATOR", "query.filter.fieldType.$ne"],
        [{ createdDate: { $in: ["2020-01-01T00:00:00Z"] } }, "UNSUPPORTED_FILTER_OPERATOR", "query.filter.createdDate.$in"],
        [{ displayName: { $exists: true } }, "UNSUPPORTED_FILTER_OPERATOR", "query.filter.displayName.$exists"],
        [{ $nor: [{ key: "a" }] }, "UNSUPPORTED_FILTER_OPERATOR", "query.filter.$nor"],
        [{ displayName: 5 }, "UNSUPPORTED_FILTER_VALUE", "query.filter.displayName"],
        [{ key: { $in: "custom.alfa" } }, "UNSUPPORTED_FILTER_VALUE", "query.filter.key.$in"],
        [{ key: { $in: [] } }, "UNSUPPORTED_FILTER_VALUE", "query.filter.key.$in"],
        [{ key: { $in: ["a", 2] } }, "UNSUPPORTED_FILTER_VALUE", "query.filter.key.$in[1]"],
        [{ displayName: { $startsWith: "" } }, "UNSUPPORTED_FILTER_VALUE", "query.filter.displayName.$startsWith"],
        [{ dataType: "PURPLE" }, "UNSUPPORTED_FILTER_VALUE", "query.filter.dataType"],
        [{ dataType: "FIELD_TYPE_SYSTEM" }, "UNSUPPORTED_FILTER_VALUE", "query.filter.dataType"],
        [{ fieldType: "FIELD_DATA_TYPE_TEXT" }, "UNSUPPORTED_FILTER_VALUE", "query.filter.fieldType"],
        [{ fieldType: "system" }, "UNSUPPORTED_FILTER_VALUE", "query.filter.fieldType"],
        [{ createdDate: { $gt: "yesterday" } }, "UNSUPPORTED_FILTER_VALUE", "query.filter.createdDate.$gt"],
        [{ updatedDate: { $lt: 1700000000000 } }, "UNSUPPORTED_FILTER_VALUE", "query.filter.updatedDate.$lt"],
        [{ $and: "x" }, "MALFORMED_FILTER", "query.filter.$and"],
        [{ $or: [] }, "MALFORMED_FILTER", "query.filter.$or"],
        [{ $or: ["x"] }, "MALFORMED_FILTER", "query.filter.$or[0]"],
        [{ $not: 3 }, "MALFORMED_FILTER", "query.filter.$not"],
        [{ $eq: 1 }, "MALFORMED_FILTER", "query.filter.$eq"],
        [{ key: {} }, "MALFORMED_FILTER", "query.filter.key"],
      ];
      for (const [filter, reason, field] of cases) {
        await expectError(q(filter), { code: bad, reason, field });
      }
      for (const fieldName of ["key", "namespace", "dataType", "fieldType", "nope", ""]) {
        await expectError(q({}, [{ fieldName }]), { code: bad, reason: "INVALID_SORT", field: "query.sort[0].field_name" });
      }
      await expectError(q({}, [{ fieldName: "displayName" }, { fieldName: "createdDate" }]), {
        code: bad,
        reason: "INVALID_SORT",
        field: "query.sort",
      });
    });

    it("pages by cursor through every field exactly once, and binds the cursor to its query", async () => {
      const { fields } = t.clients(tenant);
      for (const sort of [[], [{ fieldName: "displayName", order: SortOrder.ASC }], [{ fieldName: "updatedDate", order: SortOrder.DESC }]]) {
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        for (; pages < 10; pages++) {
          const res = await fields.queryExtendedFields({
            query: { sort, pagingMethod: { case: "cursorPaging", value: { limit: 3, ...(cursor ? { cursor } : {}) } } },
          });
          expect(res.fields.length).toBeLessThanOrEqual(3);
          seen.push(...res.fields.map((f) => f.key));
          cursor = res.pagingMetadata?.cursors?.next;
          expect(res.pagingMetadata?.hasNext).toBe(cursor !== undefined);
          if (!cursor) break;
        }
        expect(pages).toBe(Math.ceil((6 + S) / 3) - 1); // the last page ends the loop
        expect(seen).toHaveLength(6 + S);
        expect(new Set(seen).size).toBe(6 + S);
      }
      const first = await fields.queryExtendedFields({ query: { pagingMethod: { case: "cursorPaging", value: { limit: 2 } } } });
      await expectError(
        fields.queryExtendedFields({
          query: {
            filter: { namespace: "custom" },
            pagingMethod: { case: "cursorPaging", value: { limit: 2, cursor: first.pagingMetadata?.cursors?.next ?? "" } },
          },
        }),
        { code: Code.InvalidArgument, reason: "INVALID_CURSOR", field: "query.cursor_paging.cursor" },
      );
      await expectError(fields.queryExtendedFields({ query: { pagingMethod: { case: "cursorPaging", value: { cursor: "garbage" } } } }), {
        code: Code.InvalidArgument,
        reason: "INVALID_CURSOR",
        field: "query.cursor_paging.cursor",
      });
    });

    it("coerces a page size over the maximum to 1000", async () => {
      const { fields } = t.clients(tenant);
      const query = await fields.queryExtendedFields({ query: { pagingMethod: { case: "paging", value: { limit: 1_000_000 } } } });
      expect(query.fields).toHaveLength(6 + S);
      expect(query.pagingMetadata).toMatchObject({ count: 6 + S, total: 6 + S, hasNext: false });
      const cursor = await fields.queryExtendedFields({ query: { pagingMethod: { case: "cursorPaging", value: { limit: 1001 } } } });
      expect(cursor.fields).toHaveLength(6 + S);
      const list = await fields.listExtendedFields({ paging: { limit: 2_000_000_000 } });
      expect(list.fields).toHaveLength(6 + S);
      // Zero means the default.
      const zero = await fields.listExtendedFields({ paging: { limit: 0 } });
      expect(zero.fields).toHaveLength(6 + S);
    });
  });
});
