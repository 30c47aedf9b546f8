/**
 * The contact query planner's pure steps (store/contact-queries.ts), input → chosen plan, with no
 * database: planQuery (what drives a query, what is left for the filter compiler) and
 * choosePageSource / wordRowsNeeded (how the page is read, given what probing found). The
 * property tests (query-properties.test.ts) check on both stores that whatever is chosen returns
 * the model's answer; these check that the intended strategy is the one chosen.
 */
import { describe, expect, it } from "vitest";
import { contactSchema, DEFAULT_CONTACT_SORT } from "../server/src/domain/contact-query.js";
import type { ExtendedField } from "../server/src/domain/extended-fields.js";
import { parseFilter, parseSort, type Sort } from "../server/src/domain/query.js";
import { choosePageSource, pageSourceOf, type Plan, planQuery, type Probes, type Runs, wordRowsNeeded } from "../server/src/store/contact-queries.js";

const SCORE = { key: "custom.score", dataType: "NUMBER", fieldType: "USER_DEFINED", displayName: "Score" } as unknown as ExtendedField;
const schema = contactSchema([SCORE]);
const cx = { customTypes: new Map([["custom.score", "NUMBER" as const]]) };
const byCreated = DEFAULT_CONTACT_SORT as Sort;
const byLastName = (parseSort([{ fieldName: "info.name.last", descending: false }], schema)[0] as Sort) ?? byCreated;

const plan = (filter: unknown, options: { sort?: Sort; search?: string } = {}): Plan =>
  planQuery({ filter: parseFilter(filter, schema), sort: options.sort ?? byCreated, ...(options.search ? { search: options.search } : {}) }, cx);

describe("planQuery: what drives a query", () => {
  it("one label under the creation-date sort: that label's rows of contact_labels, the rest left to the compiler", () => {
    const p = plan({ "info.labelKeys": { $hasSome: ["custom.vip"] }, "info.company": "Acme" });
    expect(p.keyed).toEqual({ table: "contact_labels", column: "label_key", key: "custom.vip" });
    expect(p.rest).toMatchObject({ kind: "compare", op: "$eq" });
  });

  it("the same label under another sort: nothing drives, the compiler has it all", () => {
    expect(plan({ "info.labelKeys": { $hasSome: ["custom.vip"] } }, { sort: byLastName }).keyed).toBeUndefined();
  });

  it("a search word of up to four characters alone: one key of contact_search_prefixes, nothing left to test", () => {
    const p = plan(undefined, { search: "ada" });
    expect(p.keyed).toEqual({ table: "contact_search_prefixes", column: "prefix", key: "ada" });
    expect(p.search).toEqual([]);
  });

  it("a longer search word stays a search; two words stay two", () => {
    expect(plan(undefined, { search: "lovelace" })).toMatchObject({ search: ["lovelace"] });
    expect(plan(undefined, { search: "ada lovelace" }).search).toHaveLength(2);
  });

  it("a short name prefix alone: one key of contact_name_prefixes, lower-cased", () => {
    expect(plan({ "info.name.first": { $startsWith: "Ad" } }).keyed).toEqual({ table: "contact_name_prefixes", column: "prefix", key: "ad", field: "first" });
  });

  it("comparisons on one custom number field: one range of its value rows", () => {
    const p = plan({ "info.extendedFields.custom.score": { $gt: 3, $lte: 9 } });
    expect(p.ranges).toHaveLength(1);
    expect(p.ranges[0]).toMatchObject({ key: "custom.score", column: "num_value" });
    expect(p.ranges[0]?.conditions).toHaveLength(2);
  });
});

describe("choosePageSource: how the page is read, from what probing found", () => {
  const q = { sort: byCreated };
  const runs = { keys: ["ada", "adam"] } as unknown as Runs;

  it("a field range whose matches are few drives the page off its value rows", () => {
    const base = plan({ "info.extendedFields.custom.score": { $gt: 3 } });
    expect(choosePageSource(base, q, { counted: 40 }).plan.driver?.key).toBe("custom.score");
    expect(choosePageSource(base, q, { counted: 40_000 }).plan.driver).toBeUndefined();
    expect(choosePageSource(base, { sort: byLastName }, { counted: 40 }).plan.driver).toBeUndefined();
  });

  it("one search word with few matches: its token rows drive, and runs to merge are dropped", () => {
    const base = plan(undefined, { search: "lovelace" });
    const chosen = choosePageSource(base, q, { counted: 120, runs });
    expect(chosen.plan.word).toBe("lovelace");
    expect(chosen.runs).toBeUndefined();
  });

  it("one word with many matches and runs to merge: the runs", () => {
    const chosen = choosePageSource(plan(undefined, { search: "lovelace" }), q, { counted: 9_000, runs });
    expect(chosen.plan.word).toBeUndefined();
    expect(chosen.runs).toBe(runs);
  });

  it("one word with many matches, no runs: its token rows are counted first, and drive only when they are few", () => {
    const base = plan(undefined, { search: "lovelace" });
    const probes: Probes = { counted: 9_000 };
    expect(wordRowsNeeded(base, q, probes)).toBe("lovelace");
    expect(choosePageSource(base, q, { ...probes, wordRows: 20_000 }).plan.word).toBe("lovelace");
    expect(choosePageSource(base, q, { ...probes, wordRows: 50_000 }).plan.word).toBeUndefined();
    // Counted within what offset paging asks for: known, no token count needed.
    expect(wordRowsNeeded(base, { sort: byCreated, countUpTo: 10_000 }, probes)).toBeUndefined();
    expect(choosePageSource(base, { sort: byCreated, countUpTo: 10_000 }, probes).plan.word).toBe("lovelace");
  });

  it("each choice is one page source", () => {
    const kind = (p: Plan, probes: Probes, avoid?: string) => {
      const chosen = choosePageSource(p, q, probes);
      return pageSourceOf(chosen.plan, chosen.runs, avoid).kind;
    };
    expect(kind(plan({ "info.labelKeys": { $hasSome: ["custom.vip"] } }), {})).toBe("keyed");
    expect(kind(plan(undefined, { search: "ada" }), {})).toBe("keyed");
    expect(kind(plan({ "info.extendedFields.custom.score": { $gt: 3 } }), { counted: 40 })).toBe("fieldRange");
    expect(kind(plan(undefined, { search: "lovelace" }), { counted: 120 })).toBe("word");
    expect(kind(plan(undefined, { search: "lovelace" }), { counted: 9_000, runs })).toBe("runs");
    expect(pageSourceOf(plan({ "info.company": "Acme" }), undefined, "contacts_created_idx")).toEqual({ kind: "contacts", avoidIndex: "contacts_created_idx" });
    expect(pageSourceOf({ ...plan(undefined, { search: "ada lovelace" }), known: [{ id: "x", createdAt: 1 }] }).kind).toBe("known");
  });

  it("nothing counted: the plan stands as planned", () => {
    const base = plan({ "info.company": "Acme" }, { search: "lovelace" });
    expect(choosePageSource(base, q, {}).plan).toEqual(base);
    expect(wordRowsNeeded(base, q, {})).toBeUndefined();
  });
});
