/**
 * A plain in-memory evaluation of contact queries, for the differential property test
 * (test/query-properties.test.ts). It knows nothing of SQL and does not reuse the parser: it
 * reads the filter JSON itself and uses only the definitions of server/src/domain/contact-query.ts
 * (each path's `read`, `sortKey`, value type and `text` kind) and the search words of
 * server/src/domain/search.ts, with the operator semantics the service documents:
 *
 * - a bare value means `$eq`; several keys of one object are ANDed; `$and`, `$or`, `$not`;
 * - positive conditions are two-valued: a missing value makes them false; `$ne`, `$nin` and
 *   `$not` are "not (the positive condition)", so they hold for missing values;
 * - list paths (`read` returns an array) match when any element matches, their negations when
 *   none does; `$exists` means "has at least one value";
 * - emails compare as the domain compares emails (trimmed, lower-case); other text exactly;
 * - `$startsWith` is case-insensitive (both sides lower-cased);
 * - timestamps are ISO-8601 strings (or `{"$date": …}`; UTC without an offset) compared as epoch
 *   milliseconds; dates and other strings compare by code point (utf8mb4_bin, SQLite BINARY);
 * - enums accept their proto spelling as an alias;
 * - search: every search term (`searchTerms`) is a prefix of one of the contact's words
 *   (`searchTokens`);
 * - order: the field's `sortKey` (numbers numerically, text by code point), then `id`, both in
 *   the sort's direction; default `createdDate` descending.
 */
import type { JsonValue } from "@bufbuild/protobuf";
import type { ContactJson } from "../../gen/contacts/v1/contact_pb.js";
import { CONTACT_FIELDS, type ContactField, customFieldSpec } from "../../server/src/domain/contact-query.js";
import type { ExtendedField } from "../../server/src/domain/extended-fields.js";
import { searchTerms, searchTokens } from "../../server/src/domain/search.js";

export type Json = JsonValue;
type Value = string | number;

/** Code point order (UTF-8 byte order), not JavaScript's UTF-16 order. */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0) as number;
    const cy = y.value.codePointAt(0) as number;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

function compareValues(a: Value, b: Value): number {
  if (typeof a === "number" && typeof b === "number") return a < b ? -1 : a > b ? 1 : 0;
  return compareCodePoints(String(a), String(b));
}

export interface ModelQuery {
  filter?: { [key: string]: Json };
  sort?: { field: string; descending: boolean };
  search?: string;
}

export class QueryModel {
  readonly fields: Map<string, ContactField>;

  constructor(customFields: readonly Pick<ExtendedField, "key" | "dataType">[]) {
    this.fields = new Map(CONTACT_FIELDS.map((f) => [f.path, f]));
    for (const def of customFields) {
      const f = customFieldSpec(def as ExtendedField);
      this.fields.set(f.path, f);
    }
  }

  /** The ids of the contacts matching `q`, in the order the service must return them. */
  run(contacts: readonly ContactJson[], q: ModelQuery): string[] {
    const matching = contacts.filter((c) => (q.filter ? this.matches(c, q.filter) : true) && this.searchMatches(c, q.search));
    const sortField = this.fields.get(q.sort?.field ?? "createdDate");
    if (!sortField?.sortKey) throw new Error(`model: cannot sort by ${q.sort?.field}`);
    const descending = q.sort ? q.sort.descending : true;
    const key = sortField.sortKey.bind(sortField);
    const rows = matching.map((c) => ({ id: c.id as string, k: key(c) }));
    rows.sort((a, b) => {
      const byKey = compareValues(a.k, b.k) || compareCodePoints(a.id, b.id);
      return descending ? -byKey : byKey;
    });
    return rows.map((r) => r.id);
  }

  searchMatches(c: ContactJson, search: string | undefined): boolean {
    const text = (search ?? "").trim();
    if (!text) return true;
    const tokens = searchTokens(c.info ?? {});
    return searchTerms(text).every((term) => tokens.some((t) => t.startsWith(term)));
  }

  matches(c: ContactJson, filter: { [key: string]: Json }): boolean {
    return Object.entries(filter).every(([key, value]) => {
      if (key === "$and") return (value as { [key: string]: Json }[]).every((f) => this.matches(c, f));
      if (key === "$or") return (value as { [key: string]: Json }[]).some((f) => this.matches(c, f));
      if (key === "$not") return !this.matches(c, value as { [key: string]: Json });
      const field = this.fields.get(key);
      if (!field) throw new Error(`model: unknown field ${key}`);
      const isOps = typeof value === "object" && value !== null && !Array.isArray(value) && !(Object.keys(value).length === 1 && "$date" in value);
      const ops = isOps ? Object.entries(value as { [key: string]: Json }) : [["$eq", value] as const];
      return ops.every(([op, operand]) => this.condition(c, field, op, operand));
    });
  }

  private condition(c: ContactJson, field: ContactField, op: string, operand: Json): boolean {
    switch (op) {
      case "$ne":
        return !this.condition(c, field, "$eq", operand);
      case "$nin":
        return !this.condition(c, field, "$in", operand);
    }
    const read = field.read(c);
    const values: Value[] = read === undefined ? [] : Array.isArray(read) ? [...read] : [read as Value];
    const v = (x: Json) => this.value(field, x);
    switch (op) {
      case "$exists":
        return operand ? values.length > 0 : values.length === 0;
      case "$eq": {
        const want = v(operand);
        return values.some((x) => this.equal(field, x, want));
      }
      case "$in": {
        const wants = (operand as Json[]).map(v);
        return values.some((x) => wants.some((w) => this.equal(field, x, w)));
      }
      case "$gt":
      case "$gte":
      case "$lt":
      case "$lte": {
        const want = v(operand);
        return values.some((x) => {
          const cmp = compareValues(x, want);
          return op === "$gt" ? cmp > 0 : op === "$gte" ? cmp >= 0 : op === "$lt" ? cmp < 0 : cmp <= 0;
        });
      }
      case "$startsWith": {
        const prefix = String(operand).toLowerCase();
        return values.some((x) => typeof x === "string" && x.toLowerCase().startsWith(prefix));
      }
      case "$hasSome":
        return (operand as Json[]).map(v).some((w) => values.includes(w));
      case "$hasAll":
        return (operand as Json[]).map(v).every((w) => values.includes(w));
      default:
        throw new Error(`model: operator ${op}`);
    }
  }

  private equal(field: ContactField, have: Value, want: Value): boolean {
    if (field.text === "email" && typeof have === "string" && typeof want === "string") {
      return have.trim().toLowerCase() === want.trim().toLowerCase();
    }
    return have === want;
  }

  /** A filter value in the form `read` returns: epoch ms for timestamps, enum values unaliased. */
  private value(field: ContactField, x: Json): Value {
    const type = field.type;
    if (type.kind === "timestamp") {
      const text = typeof x === "object" && x !== null && !Array.isArray(x) ? (x.$date as string) : (x as string);
      // A date-time without an offset is UTC.
      return Date.parse(/T[\d:.]+$/.test(text) ? `${text}Z` : text);
    }
    if (type.kind === "enum") return type.values.includes(x as string) ? (x as string) : (type.aliases?.[x as string] as string);
    return x as Value;
  }
}
