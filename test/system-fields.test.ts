/**
 * The stored system fields of reference §1.4 (issue 16 item 8): `members.mobile`,
 * `invoices.vatId` and the `ecom.*` values are listed as SYSTEM fields with their data types,
 * stored and read with the contact, checked on write, and the `ecom.*` numbers and date filter
 * with `$eq $ne $gt $gte $lt $lte` and sort, on both stores. (Who may write them:
 * test/auth.test.ts.)
 */
import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { type Value, ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { FieldDataType, FieldType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { SortOrder } from "../gen/contacts/v1/common_pb.js";
import { expectError } from "./support/errors.js";
import { STORES, suiteWithTenants } from "./support/server.js";

const items = (o: Record<string, JsonValue>) => ({
  extendedFields: { items: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fromJson(ValueSchema, v)])) },
});
/** A contact's extended field values as plain JSON. */
const plain = (c: { info?: { extendedFields?: { items: Record<string, Value> } } } | undefined) =>
  Object.fromEntries(Object.entries(c?.info?.extendedFields?.items ?? {}).map(([k, v]) => [k, toJson(ValueSchema, v)]));

describe.each(STORES)("stored system fields on %s", (store) => {
  const suite = suiteWithTenants(store, "sf");

  it("are listed with their types, stored, read back, checked, filtered and sorted", async () => {
    const c = suite.tenant();
    const { fields } = await c.fields.listExtendedFields({});
    const byKey = new Map(fields.map((f) => [f.key, f]));
    expect(
      ["members.mobile", "invoices.vatId", "ecom.numOfPurchases", "ecom.totalSpentAmount", "ecom.totalSpentCurrency", "ecom.lastPurchaseDate"].map((k) => [
        k,
        byKey.get(k)?.dataType,
        byKey.get(k)?.fieldType,
      ]),
    ).toEqual([
      ["members.mobile", FieldDataType.TEXT, FieldType.SYSTEM],
      ["invoices.vatId", FieldDataType.TEXT, FieldType.SYSTEM],
      ["ecom.numOfPurchases", FieldDataType.NUMBER, FieldType.SYSTEM],
      ["ecom.totalSpentAmount", FieldDataType.NUMBER, FieldType.SYSTEM],
      ["ecom.totalSpentCurrency", FieldDataType.TEXT, FieldType.SYSTEM],
      ["ecom.lastPurchaseDate", FieldDataType.DATE, FieldType.SYSTEM],
    ]);

    const shoppers = [
      { first: "Ann", n: 5, spent: 120.5, last: "2026-10-01" },
      { first: "Ben", n: 1, spent: 9.99, last: "2026-11-20" },
      { first: "Cy", n: 12, spent: 800, last: "2025-12-24" },
    ];
    const ids = new Map<string, string>();
    for (const s of shoppers) {
      const { contact } = await c.contacts.createContact({
        info: {
          name: { first: s.first },
          ...items({
            "ecom.numOfPurchases": s.n,
            "ecom.totalSpentAmount": s.spent,
            "ecom.totalSpentCurrency": "EUR",
            "ecom.lastPurchaseDate": s.last,
            "members.mobile": "false",
          }),
        },
      });
      ids.set(s.first, contact?.id ?? "");
      expect(plain(contact)).toMatchObject({ "ecom.numOfPurchases": s.n, "ecom.lastPurchaseDate": s.last, "members.mobile": "false" });
    }
    await c.contacts.createContact({ info: { name: { first: "Nobody" } } });
    const got = (await c.contacts.getContact({ id: ids.get("Cy") ?? "" })).contact;
    expect(plain(got)).toMatchObject({ "ecom.totalSpentAmount": 800, "ecom.totalSpentCurrency": "EUR" });

    const names = async (filter: object, sort?: { fieldName: string; order: SortOrder }) =>
      (await c.contacts.queryContacts({ query: { filter: filter as never, ...(sort ? { sort: [sort] } : {}) } })).contacts.map((x) => x.info?.name?.first);
    expect((await names({ "info.extendedFields.ecom.numOfPurchases": { $gte: 5 } })).sort()).toEqual(["Ann", "Cy"]);
    expect(await names({ "info.extendedFields.ecom.totalSpentAmount": { $lt: 100 } })).toEqual(["Ben"]);
    expect((await names({ "info.extendedFields.ecom.lastPurchaseDate": { $gt: "2026-01-01" } })).sort()).toEqual(["Ann", "Ben"]);
    expect(await names({ "info.extendedFields.ecom.numOfPurchases": { $eq: 12 } })).toEqual(["Cy"]);
    expect(await names({}, { fieldName: "info.extendedFields.ecom.totalSpentAmount", order: SortOrder.DESC })).toEqual(["Cy", "Ann", "Ben", "Nobody"]);
    expect((await names({}, { fieldName: "info.extendedFields.ecom.lastPurchaseDate", order: SortOrder.ASC })).slice(-3)).toEqual(["Cy", "Ann", "Ben"]);
    await expectError(c.contacts.queryContacts({ query: { filter: { "info.extendedFields.ecom.numOfPurchases": { $startsWith: "1" } } as never } }), {
      code: Code.InvalidArgument,
      reason: "UNSUPPORTED_FILTER_OPERATOR",
    });

    const bad = (o: Record<string, JsonValue>) => c.contacts.createContact({ info: { name: { first: "Bad" }, ...items(o) } });
    const wrong: Record<string, JsonValue>[] = [
      { "members.mobile": "yes" },
      { "ecom.numOfPurchases": 1.5 },
      { "ecom.numOfPurchases": -1 },
      { "ecom.totalSpentCurrency": "euro" },
      { "ecom.lastPurchaseDate": "yesterday" },
    ];
    for (const o of wrong) {
      await expectError(bad(o), { code: Code.InvalidArgument, reason: "INVALID_EXTENDED_FIELD_VALUE" });
    }
    // Computed system fields stay read-only.
    await expectError(bad({ "members.membershipStatus": "APPROVED" }), { code: Code.InvalidArgument, reason: "INVALID_EXTENDED_FIELD_VALUE" });
  });
});
