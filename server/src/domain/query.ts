/**
 * The query language (reference §5): a JSON filter, sort and paging, validated against a table
 * of the queryable fields of one entity. Parsing yields a typed tree the store compiles to SQL;
 * nothing here knows about SQL.
 */
import { DomainError, invalidField } from "./errors.js";

export type Operator = "$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte" | "$in" | "$nin" | "$exists" | "$startsWith" | "$hasSome" | "$hasAll";

const OPERATORS = new Set<string>(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$startsWith", "$hasSome", "$hasAll"]);

/** The type of a field's values, which decides how filter values are read. */
export type ValueType =
  | { kind: "string" }
  | { kind: "number" }
  /** Timestamps, given as ISO-8601 strings; compared as epoch milliseconds. */
  | { kind: "timestamp" }
  /** Calendar dates `YYYY-MM-DD`, compared as strings. */
  | { kind: "date" }
  /** One of a fixed set; `aliases` maps other accepted spellings (proto names) to the value. */
  | { kind: "enum"; values: readonly string[]; aliases?: Readonly<Record<string, string>> };

export interface FieldSpec {
  /** The field's path in filters and sorts, e.g. `displayName`. */
  path: string;
  type: ValueType;
  operators: readonly Operator[];
  sortable: boolean;
}

/** Error codes differ between the contacts query and the labels/fields query (reference §2.9, §3.6). */
export interface QueryErrorCodes {
  unknownField: string;
  unsupportedOperator: string;
  unsupportedValue: string;
  unsupportedValueType: string;
  malformed: string;
  unsupported: string;
  badSort: string;
  illegalLimit: string;
}

export const LABEL_QUERY_CODES: QueryErrorCodes = {
  unknownField: "UNSUPPORTED_FILTER_FIELD",
  unsupportedOperator: "UNSUPPORTED_FILTER_OPERATOR",
  unsupportedValue: "UNSUPPORTED_FILTER_VALUE",
  unsupportedValueType: "UNSUPPORTED_FILTER_VALUE",
  malformed: "MALFORMED_FILTER",
  unsupported: "UNSUPPORTED_FILTER",
  badSort: "INVALID_SORT",
  illegalLimit: "ILLEGAL_LIMIT",
};

export const CONTACT_QUERY_CODES: QueryErrorCodes = {
  unknownField: "UNSUPPORTED_FILTER_FIELD_UNKNOWN",
  unsupportedOperator: "UNSUPPORTED_FILTER_OPERATOR",
  unsupportedValue: "UNSUPPORTED_FILTER_VALUE",
  unsupportedValueType: "UNSUPPORTED_FILTER_VALUE_TYPE",
  malformed: "MALFORMED_FILTER",
  unsupported: "UNSUPPORTED_FILTER",
  badSort: "UNSUPPORTED_SORT_FIELD",
  illegalLimit: "ILLEGAL_LIMIT",
};

export interface QuerySchema {
  /** Resolves a filter or sort path to its field, or undefined when unknown. */
  field(path: string): FieldSpec | undefined;
  codes: QueryErrorCodes;
  /** Most sort entries accepted. */
  maxSort: number;
}

/** Builds a schema from a fixed field list. */
export function fixedSchema(fields: readonly FieldSpec[], codes: QueryErrorCodes, maxSort: number): QuerySchema {
  const byPath = new Map(fields.map((f) => [f.path, f]));
  return { field: (path) => byPath.get(path), codes, maxSort };
}

export type Scalar = string | number;

export type Filter =
  | { kind: "and"; filters: Filter[] }
  | { kind: "or"; filters: Filter[] }
  | { kind: "not"; filter: Filter }
  | { kind: "compare"; field: FieldSpec; op: "$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte"; value: Scalar }
  | { kind: "in"; field: FieldSpec; negate: boolean; values: Scalar[] }
  | { kind: "exists"; field: FieldSpec; exists: boolean }
  | { kind: "startsWith"; field: FieldSpec; prefix: string }
  | { kind: "has"; field: FieldSpec; all: boolean; values: Scalar[] };

export interface Sort {
  field: FieldSpec;
  descending: boolean;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const MAX_DEPTH = 16;
const MAX_IN_VALUES = 1000;

/**
 * Parses a filter. `where` is the request path of the filter for error messages
 * (e.g. `query.filter`). An empty or absent filter matches everything (`and` of nothing).
 */
export function parseFilter(filter: unknown, schema: QuerySchema, where = "query.filter"): Filter {
  if (filter === undefined || filter === null) return { kind: "and", filters: [] };
  return parseObject(filter as Json, schema, where, 0);
}

function parseObject(node: Json, schema: QuerySchema, where: string, depth: number): Filter {
  const codes = schema.codes;
  if (depth > MAX_DEPTH) throw invalidField(codes.malformed, where, `nested more than ${MAX_DEPTH} levels`);
  if (!isObject(node)) throw invalidField(codes.malformed, where, "must be an object");
  const filters: Filter[] = [];
  for (const [key, value] of Object.entries(node)) {
    const path = `${where}.${key}`;
    if (key === "$and" || key === "$or") {
      if (!Array.isArray(value) || value.length === 0) {
        throw invalidField(codes.malformed, path, "must be a non-empty array of filters");
      }
      const parts = value.map((v, i) => parseObject(v, schema, `${path}[${i}]`, depth + 1));
      filters.push(key === "$and" ? { kind: "and", filters: parts } : { kind: "or", filters: parts });
    } else if (key === "$not") {
      filters.push({ kind: "not", filter: parseObject(value, schema, path, depth + 1) });
    } else if (key.startsWith("$")) {
      throw invalidField(
        OPERATORS.has(key) ? codes.malformed : codes.unsupportedOperator,
        path,
        `${key} is not allowed here; operators go inside a field, e.g. {"field": {"${key}": …}}`,
      );
    } else {
      const field = schema.field(key);
      if (!field) throw invalidField(codes.unknownField, path, `unknown filter field "${key}"`);
      filters.push(...parseFieldCondition(field, value, schema, path));
    }
  }
  return filters.length === 1 ? (filters[0] as Filter) : { kind: "and", filters };
}

function parseFieldCondition(field: FieldSpec, value: Json, schema: QuerySchema, path: string): Filter[] {
  // A bare value (or array) means $eq; so does a bare `{"$date": …}`, the query language's
  // spelling of a timestamp value.
  if (!isObject(value) || isDateValue(value)) return [parseOperator(field, "$eq", value, schema, path)];
  const entries = Object.entries(value);
  if (entries.length === 0) throw invalidField(schema.codes.malformed, path, "needs an operator");
  return entries.map(([op, operand]) => parseOperator(field, op, operand, schema, `${path}.${op}`));
}

function parseOperator(field: FieldSpec, op: string, operand: Json, schema: QuerySchema, path: string): Filter {
  const codes = schema.codes;
  if (!OPERATORS.has(op)) throw invalidField(codes.unsupportedOperator, path, `unknown operator ${op}`);
  if (!field.operators.includes(op as Operator)) {
    throw invalidField(codes.unsupportedOperator, path, `${op} is not supported on ${field.path}; use one of ${field.operators.join(" ")}`);
  }
  switch (op) {
    case "$eq":
    case "$ne":
    case "$gt":
    case "$gte":
    case "$lt":
    case "$lte":
      return { kind: "compare", field, op, value: readValue(field, operand, codes, path) };
    case "$in":
    case "$nin":
      return { kind: "in", field, negate: op === "$nin", values: readList(field, operand, codes, path) };
    case "$hasSome":
    case "$hasAll":
      return { kind: "has", field, all: op === "$hasAll", values: readList(field, operand, codes, path) };
    case "$exists":
      if (typeof operand !== "boolean") throw invalidField(codes.unsupportedValueType, path, "must be true or false");
      return { kind: "exists", field, exists: operand };
    case "$startsWith":
      if (typeof operand !== "string") throw invalidField(codes.unsupportedValueType, path, "must be a string");
      if (operand.length === 0) throw invalidField(codes.unsupportedValue, path, "must not be empty");
      return { kind: "startsWith", field, prefix: operand };
    default:
      throw new DomainError("invalid_argument", codes.unsupported, `unsupported operator ${op}`);
  }
}

function readList(field: FieldSpec, operand: Json, codes: QueryErrorCodes, path: string): Scalar[] {
  if (!Array.isArray(operand)) throw invalidField(codes.unsupportedValueType, path, "must be an array");
  if (operand.length === 0) throw invalidField(codes.unsupportedValue, path, "must not be empty");
  if (operand.length > MAX_IN_VALUES) {
    throw invalidField(codes.unsupportedValue, path, `must have at most ${MAX_IN_VALUES} values`);
  }
  return operand.map((v, i) => readValue(field, v, codes, `${path}[${i}]`));
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const LOCAL_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/** Reads one filter value according to the field's type. */
export function readValue(field: FieldSpec, value: Json, codes: QueryErrorCodes, path: string): Scalar {
  const type = field.type;
  switch (type.kind) {
    case "string":
      if (typeof value !== "string") throw invalidField(codes.unsupportedValueType, path, "must be a string");
      return value;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw invalidField(codes.unsupportedValueType, path, "must be a number");
      }
      return value;
    case "date":
      if (typeof value !== "string") throw invalidField(codes.unsupportedValueType, path, "must be a YYYY-MM-DD string");
      if (!DATE_RE.test(value)) throw invalidField(codes.unsupportedValue, path, "must be a YYYY-MM-DD date");
      return value;
    case "timestamp": {
      const text = isObject(value) && typeof value.$date === "string" ? value.$date : value;
      if (typeof text !== "string") throw invalidField(codes.unsupportedValueType, path, "must be an ISO-8601 string");
      // Without an offset a date-time is UTC, like a date alone (JavaScript would take the
      // server's local time zone).
      const ms = Date.parse(LOCAL_DATE_TIME.test(text) ? `${text}Z` : text);
      if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms)) {
        throw invalidField(codes.unsupportedValue, path, "must be an ISO-8601 timestamp");
      }
      return ms;
    }
    case "enum": {
      if (typeof value !== "string") throw invalidField(codes.unsupportedValueType, path, "must be a string");
      const resolved = type.values.includes(value) ? value : type.aliases?.[value];
      if (resolved === undefined) {
        throw invalidField(codes.unsupportedValue, path, `must be one of ${type.values.join(", ")}`);
      }
      return resolved;
    }
  }
}

function isDateValue(value: { [key: string]: Json }): boolean {
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === "$date";
}

function isObject(value: Json): value is { [key: string]: Json } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Validates sort entries; an empty list means the schema's default, decided by the caller. */
export function parseSort(entries: readonly { fieldName: string; descending: boolean }[], schema: QuerySchema, where = "query.sort"): Sort[] {
  const codes = schema.codes;
  if (entries.length > schema.maxSort) {
    throw invalidField(codes.badSort, where, `at most ${schema.maxSort} sort entr${schema.maxSort === 1 ? "y" : "ies"}`);
  }
  return entries.map((entry, i) => {
    const path = `${where}[${i}].field_name`;
    const field = schema.field(entry.fieldName);
    if (!field?.sortable) {
      throw invalidField(codes.badSort, path, `cannot sort by "${entry.fieldName}"`);
    }
    return { field, descending: entry.descending };
  });
}

export interface PageRequest {
  limit: number;
  offset: number;
}

export interface PagingRules {
  defaultLimit: number;
  maxLimit: number;
  /** Over the maximum: fail with ILLEGAL_LIMIT (contacts) or coerce to the maximum. */
  overMax: "fail" | "coerce";
}

/** Applies defaults and limits to a requested page size and offset. */
export function resolvePage(limit: number | undefined, offset: number | undefined, rules: PagingRules, codes: QueryErrorCodes, where: string): PageRequest {
  let size = limit ?? rules.defaultLimit;
  if (size < 0) throw invalidField(codes.illegalLimit, `${where}.limit`, "must not be negative");
  if (size === 0) size = rules.defaultLimit;
  if (size > rules.maxLimit) {
    if (rules.overMax === "fail") {
      throw invalidField(codes.illegalLimit, `${where}.limit`, `must be at most ${rules.maxLimit}`);
    }
    size = rules.maxLimit;
  }
  const skip = offset ?? 0;
  if (skip < 0) throw invalidField("ILLEGAL_OFFSET", `${where}.offset`, "must not be negative");
  return { limit: size, offset: skip };
}
