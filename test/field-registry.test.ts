/**
 * The contact query fields, one registry seen from both layers: every fixed path the domain
 * validates (domain/contact-query.ts CONTACT_FIELDS) has its SQL in the store
 * (store/filter-compiler.ts), every sortable one names the contacts index that holds rows in
 * its order (which the planner tells MariaDB not to walk for a selective filter), and the name
 * fields are the ones contact_name_prefixes serves. Pure functions: no database.
 */
import knex from "knex";
import { describe, expect, it } from "vitest";
import { CONTACT_FIELDS, extendedFieldKeyOf, QUERYABLE_STORED_FIELDS } from "../server/src/domain/contact-query.js";
import { equalityThenSortOf, hasSqlTarget, namePrefixOf, sortExpression } from "../server/src/store/filter-compiler.js";

const stored = new Set(QUERYABLE_STORED_FIELDS.map((f) => f.key));
const fixed = CONTACT_FIELDS.filter((f) => !stored.has(extendedFieldKeyOf(f.path) ?? ""));
const cx = { db: knex({ client: "mysql2" }), tenantId: "t", customTypes: new Map() };

describe("the contact query field registry", () => {
  it("every fixed path has its SQL", () => {
    expect(fixed.filter((f) => !hasSqlTarget(f.path)).map((f) => f.path)).toEqual([]);
    expect(fixed.length).toBeGreaterThan(30);
  });

  it("every sortable fixed path sorts on an indexed column, and names that index", () => {
    const sortable = fixed.filter((f) => f.sortable);
    const unindexed = sortable.filter((f) => sortExpression({ field: f, descending: false }, cx).index === undefined).map((f) => f.path);
    expect(unindexed).toEqual([]);
    expect(sortExpression({ field: fixed.find((f) => f.path === "createdDate") as (typeof fixed)[number], descending: true }, cx).index).toBe(
      "contacts_created_idx",
    );
  });

  it("the first and last names, and only they, are read off contact_name_prefixes", () => {
    expect(fixed.filter((f) => namePrefixOf(f.path) !== undefined).map((f) => [f.path, namePrefixOf(f.path)])).toEqual([
      ["info.name.first", "first"],
      ["info.name.last", "last"],
    ]);
  });

  it("an equality read off an index in a sort's order names a sortable path: company, then first name", () => {
    const pairs = fixed.filter((f) => equalityThenSortOf(f.path) !== undefined).map((f) => [f.path, equalityThenSortOf(f.path)]);
    expect(pairs).toEqual([["info.company", "info.name.first"]]);
    for (const [, sort] of pairs) expect(fixed.find((f) => f.path === sort)?.sortable).toBe(true);
  });
});
