/**
 * Query builders like the reference SDK's: `queryContacts().eq(…).hasSome(…).descending(…)
 * .limit(…).find()`. One builder serves contacts, labels and extended fields, each with its own
 * field table (query-fields.ts). Builders are immutable: every method returns a new builder.
 * Misuse — an unknown field, an operator the field does not take, a value of the wrong type, a
 * bad limit — throws an InvalidSdkArgumentError (a TypeError) or SdkArgumentRangeError at once, before anything is sent.
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { CallOptions } from "./call.js";
import { describe } from "./codec.js";
import { InvalidSdkArgumentError, SdkArgumentRangeError } from "./errors.js";
import type { PagingMetadata } from "./types.js";

/** Operators of the wire filter language (reference §5.1). */
export type WireOperator = "$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte" | "$in" | "$nin" | "$exists" | "$startsWith" | "$hasSome" | "$hasAll";

/** How a field's filter values are checked and sent. */
export type ValueKind =
  /** Text. */
  | "string"
  /** A finite number. */
  | "number"
  /** A Date (or ISO-8601 string), sent as ISO-8601. */
  | "timestamp"
  /** A calendar date: `YYYY-MM-DD` string or a Date (its UTC day). */
  | "date"
  /** One of `values`. */
  | "enum"
  /** A custom extended field, whose data type the SDK does not know: text, number or date. */
  | "any";

/** One queryable field. */
export interface QueryField {
  /** The field's path on the wire, e.g. `createdDate` for `_createdDate`. */
  wire: string;
  kind: ValueKind;
  /** The wire operators the server accepts on this field. */
  operators: readonly WireOperator[];
  /** Whether `ascending`/`descending` may name it. */
  sortable: boolean;
  /** Allowed values of an enum field. */
  values?: readonly string[];
}

/** What the builder needs to know about one entity. */
export interface QuerySpec<T> {
  /** For messages, e.g. `queryContacts()`. */
  name: string;
  /** The field of an SDK field name, or undefined when unknown. */
  field(name: string): QueryField | undefined;
  /** Known field names, for messages. */
  fieldNames: readonly string[];
  /** Most sort entries the server takes. */
  maxSort: number;
  /** Largest page size the server takes. */
  maxLimit: number;
  /** Runs one page. */
  run(query: WireQuery, options: CallOptions | undefined): Promise<{ items: T[]; pagingMetadata: PagingMetadata }>;
}

/** The query as sent: a filter, sort entries and an offset page. */
export interface WireQuery {
  filter: JsonObject | undefined;
  sort: { fieldName: string; order: "SORT_ORDER_ASC" | "SORT_ORDER_DESC" }[];
  paging: { limit: number; offset: number };
}

/** A value a filter compares with. */
export type QueryValue = string | number | boolean | Date;

/** Default page size of every builder (reference: `limit(50)`). */
export const DEFAULT_QUERY_LIMIT = 50;

/**
 * One page of a query's results, with the reference's paging helpers.
 *
 * @example
 * let page = await contacts.queryContacts().limit(100).find();
 * while (true) {
 *   for (const c of page.items) console.log(c._id);
 *   if (!page.hasNext()) break;
 *   page = await page.next();
 * }
 */
export interface QueryResult<T, B> {
  /** The items of this page (empty when nothing matches). */
  items: T[];
  /** `items.length`. */
  length: number;
  /** Items matching the query in total (a lower bound when `tooManyToCount`). */
  totalCount: number;
  /** True when the server could not count everything in time. */
  tooManyToCount: boolean;
  /** The page size asked for (`limit`). */
  pageSize: number;
  /** Zero-based index of this page. */
  currentPage: number;
  /** Pages in total at this page size. */
  totalPages: number;
  /** The builder that produced this page. */
  query: B;
  /** True when a page follows this one. */
  hasNext(): boolean;
  /** True when a page precedes this one. */
  hasPrev(): boolean;
  /** Fetches the next page; rejects with a RangeError when there is none. */
  next(options?: CallOptions): Promise<QueryResult<T, B>>;
  /** Fetches the previous page; rejects with a RangeError when there is none. */
  prev(options?: CallOptions): Promise<QueryResult<T, B>>;
}

interface BuilderState {
  filters: readonly JsonObject[];
  sort: readonly { fieldName: string; order: "SORT_ORDER_ASC" | "SORT_ORDER_DESC" }[];
  limit: number;
  skip: number;
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

/** Builder operator → the wire operator it becomes, for messages about what a field supports. */
const OPERATOR_OF: Readonly<Record<string, WireOperator>> = {
  eq: "$eq",
  ne: "$ne",
  gt: "$gt",
  ge: "$gte",
  lt: "$lt",
  le: "$lte",
  in: "$in",
  startsWith: "$startsWith",
  hasAll: "$hasAll",
  isEmpty: "$exists",
  isNotEmpty: "$exists",
};

function supportedMethods(field: QueryField): string[] {
  const ops = new Set(field.operators);
  const methods = Object.entries(OPERATOR_OF)
    .filter(([, op]) => ops.has(op))
    .map(([m]) => m);
  if (ops.has("$gte") && ops.has("$lt")) methods.push("between");
  if (ops.has("$hasSome") || ops.has("$in")) methods.push("hasSome");
  return methods;
}

/**
 * A query under construction. `F` is the union of field names the builder accepts, so editors
 * complete them. Every method returns a new builder; the receiver is unchanged.
 */
export class QueryBuilder<T, F extends string> {
  readonly #spec: QuerySpec<T>;
  readonly #state: BuilderState;

  /** @internal Builders come from `queryContacts()`, `queryLabels()` and `queryExtendedFields()`. */
  constructor(spec: QuerySpec<T>, state?: BuilderState) {
    this.#spec = spec;
    this.#state = state ?? { filters: [], sort: [], limit: DEFAULT_QUERY_LIMIT, skip: 0 };
  }

  #with(change: Partial<BuilderState>): this {
    return new QueryBuilder<T, F>(this.#spec, { ...this.#state, ...change }) as this;
  }

  #field(method: string, name: string): QueryField {
    if (typeof name !== "string") throw new InvalidSdkArgumentError(`${this.#spec.name}.${method}(): the field name must be a string; got ${describe(name)}`);
    const field = this.#spec.field(name);
    if (!field) {
      throw new InvalidSdkArgumentError(`${this.#spec.name}.${method}(): unknown field "${name}"; fields are ${this.#spec.fieldNames.join(", ")}`);
    }
    return field;
  }

  #operator(method: string, name: string, field: QueryField, op: WireOperator): void {
    if (!field.operators.includes(op)) {
      throw new InvalidSdkArgumentError(
        `${this.#spec.name}.${method}(): "${name}" does not support ${method}(); it supports ${supportedMethods(field).join(", ") || "nothing"}`,
      );
    }
  }

  #value(method: string, name: string, field: QueryField, value: unknown): JsonValue {
    const where = `${this.#spec.name}.${method}("${name}", …)`;
    switch (field.kind) {
      case "string":
        if (typeof value === "string") return value;
        throw new InvalidSdkArgumentError(`${where}: "${name}" takes strings; got ${describe(value)}`);
      case "number":
        if (typeof value === "number" && Number.isFinite(value)) return value;
        throw new InvalidSdkArgumentError(`${where}: "${name}" takes numbers; got ${describe(value)}`);
      case "timestamp":
        if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
        if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value))) return value;
        throw new InvalidSdkArgumentError(`${where}: "${name}" takes Dates; got ${describe(value)}`);
      case "date":
        return dateValue(where, name, value);
      case "enum":
        if (typeof value === "string" && field.values?.includes(value)) return value;
        throw new InvalidSdkArgumentError(`${where}: "${name}" takes one of ${(field.values ?? []).map((v) => `"${v}"`).join(", ")}; got ${describe(value)}`);
      case "any":
        if (typeof value === "string") return value;
        if (typeof value === "number" && Number.isFinite(value)) return value;
        if (value instanceof Date) return dateValue(where, name, value);
        throw new InvalidSdkArgumentError(`${where}: "${name}" takes strings, numbers or Dates; got ${describe(value)}`);
    }
  }

  #list(method: string, name: string, field: QueryField, values: readonly unknown[]): JsonValue[] {
    const flat = values.length === 1 && Array.isArray(values[0]) ? (values[0] as unknown[]) : values;
    if (flat.length === 0) throw new InvalidSdkArgumentError(`${this.#spec.name}.${method}("${name}", …): needs at least one value`);
    return flat.map((v) => this.#value(method, name, field, v));
  }

  #condition(method: string, name: string, op: WireOperator, value: (field: QueryField) => JsonValue): this {
    const field = this.#field(method, name);
    this.#operator(method, name, field, op);
    return this.#with({ filters: [...this.#state.filters, { [field.wire]: { [op]: value(field) } }] });
  }

  /** Matches items whose `field` equals `value`. */
  eq(field: F, value: QueryValue): this {
    return this.#condition("eq", field, "$eq", (f) => this.#value("eq", field, f, value));
  }

  /** Matches items whose `field` does not equal `value`. */
  ne(field: F, value: QueryValue): this {
    return this.#condition("ne", field, "$ne", (f) => this.#value("ne", field, f, value));
  }

  /** Matches items whose `field` is greater than `value`. */
  gt(field: F, value: QueryValue): this {
    return this.#condition("gt", field, "$gt", (f) => this.#value("gt", field, f, value));
  }

  /** Matches items whose `field` is greater than or equal to `value`. */
  ge(field: F, value: QueryValue): this {
    return this.#condition("ge", field, "$gte", (f) => this.#value("ge", field, f, value));
  }

  /** Matches items whose `field` is less than `value`. */
  lt(field: F, value: QueryValue): this {
    return this.#condition("lt", field, "$lt", (f) => this.#value("lt", field, f, value));
  }

  /** Matches items whose `field` is less than or equal to `value`. */
  le(field: F, value: QueryValue): this {
    return this.#condition("le", field, "$lte", (f) => this.#value("le", field, f, value));
  }

  /** Matches items whose `field` is in `[rangeStart, rangeEnd)`: `ge(start)` and `lt(end)`. */
  between(field: F, rangeStart: QueryValue, rangeEnd: QueryValue): this {
    const f = this.#field("between", field);
    this.#operator("between", field, f, "$gte");
    this.#operator("between", field, f, "$lt");
    const condition = { [f.wire]: { $gte: this.#value("between", field, f, rangeStart), $lt: this.#value("between", field, f, rangeEnd) } };
    return this.#with({ filters: [...this.#state.filters, condition] });
  }

  /** Matches items whose `field` equals one of `values`. */
  in(field: F, values: readonly QueryValue[]): this {
    if (!Array.isArray(values)) throw new InvalidSdkArgumentError(`${this.#spec.name}.in("${field}", …): values must be an array; got ${describe(values)}`);
    return this.#condition("in", field, "$in", (f) => this.#list("in", field, f, values));
  }

  /**
   * Matches items whose `field` contains at least one of `values` (list fields such as
   * `info.labelKeys`), or equals one of them (other fields, like `in`).
   */
  hasSome(field: F, ...values: (QueryValue | readonly QueryValue[])[]): this {
    const f = this.#field("hasSome", field);
    const op: WireOperator = f.operators.includes("$hasSome") ? "$hasSome" : "$in";
    this.#operator("hasSome", field, f, op);
    return this.#with({ filters: [...this.#state.filters, { [f.wire]: { [op]: this.#list("hasSome", field, f, values) } }] });
  }

  /** Matches items whose list `field` contains every one of `values`. */
  hasAll(field: F, ...values: (QueryValue | readonly QueryValue[])[]): this {
    return this.#condition("hasAll", field, "$hasAll", (f) => this.#list("hasAll", field, f, values));
  }

  /** Matches items whose `field` starts with `value` (case-insensitive). */
  startsWith(field: F, value: string): this {
    return this.#condition("startsWith", field, "$startsWith", () => {
      if (typeof value !== "string" || value.length === 0) {
        throw new InvalidSdkArgumentError(`${this.#spec.name}.startsWith("${field}", …): takes a non-empty string; got ${describe(value)}`);
      }
      return value;
    });
  }

  /** Matches items without a value in `field`. */
  isEmpty(field: F): this {
    return this.#condition("isEmpty", field, "$exists", () => false);
  }

  /** Matches items with a value in `field`. */
  isNotEmpty(field: F): this {
    return this.#condition("isNotEmpty", field, "$exists", () => true);
  }

  #other(method: string, query: unknown): QueryBuilder<T, F> {
    // Same entity (options such as `search` may differ: the receiver's apply).
    if (!(query instanceof QueryBuilder) || query.#spec.name !== this.#spec.name) {
      throw new InvalidSdkArgumentError(`${this.#spec.name}.${method}(): takes another ${this.#spec.name} builder`);
    }
    return query as QueryBuilder<T, F>;
  }

  /** Matches items that match this query and `query`. */
  and(query: QueryBuilder<T, F>): this {
    const other = this.#other("and", query);
    return this.#with({ filters: [...this.#state.filters, ...other.#state.filters] });
  }

  /** Matches items that match this query or `query`. */
  or(query: QueryBuilder<T, F>): this {
    const other = this.#other("or", query);
    return this.#with({ filters: [{ $or: [this.filter() ?? {}, other.filter() ?? {}] }] });
  }

  /** Matches items that match this query and not `query`. */
  not(query: QueryBuilder<T, F>): this {
    const other = this.#other("not", query);
    return this.#with({ filters: [...this.#state.filters, { $not: other.filter() ?? {} }] });
  }

  #sort(method: "ascending" | "descending", fields: readonly F[]): this {
    if (fields.length === 0) throw new InvalidSdkArgumentError(`${this.#spec.name}.${method}(): needs at least one field`);
    const order = method === "ascending" ? "SORT_ORDER_ASC" : "SORT_ORDER_DESC";
    const added = fields.map((name) => {
      const field = this.#field(method, name);
      if (!field.sortable) {
        const sortable = this.#spec.fieldNames.filter((n) => this.#spec.field(n)?.sortable);
        throw new InvalidSdkArgumentError(`${this.#spec.name}.${method}(): "${name}" cannot be sorted by; sortable fields are ${sortable.join(", ")}`);
      }
      return { fieldName: field.wire, order } as const;
    });
    const sort = [...this.#state.sort, ...added];
    if (sort.length > this.#spec.maxSort) {
      throw new SdkArgumentRangeError(`${this.#spec.name}.${method}(): at most ${this.#spec.maxSort} sort field${this.#spec.maxSort === 1 ? "" : "s"}`);
    }
    return this.#with({ sort });
  }

  /** Sorts by `fields`, smallest first. Default order: `descending("_createdDate")`. */
  ascending(...fields: F[]): this {
    return this.#sort("ascending", fields);
  }

  /** Sorts by `fields`, largest first. Default order: `descending("_createdDate")`. */
  descending(...fields: F[]): this {
    return this.#sort("descending", fields);
  }

  /** Page size: 1 to the entity's maximum (contacts 1000, labels 2000, fields 1000). Default 50. */
  limit(limit: number): this {
    if (!Number.isInteger(limit) || limit < 1 || limit > this.#spec.maxLimit) {
      throw new SdkArgumentRangeError(`${this.#spec.name}.limit(): must be an integer from 1 to ${this.#spec.maxLimit}; got ${describe(limit)}`);
    }
    return this.#with({ limit });
  }

  /** Items to skip before the page. Default 0. */
  skip(skip: number): this {
    if (!Number.isInteger(skip) || skip < 0)
      throw new SdkArgumentRangeError(`${this.#spec.name}.skip(): must be a non-negative integer; got ${describe(skip)}`);
    return this.#with({ skip });
  }

  /** The filter this builder sends, in the wire filter language (undefined: everything). */
  filter(): JsonObject | undefined {
    const filters = this.#state.filters;
    if (filters.length === 0) return undefined;
    return filters.length === 1 ? filters[0] : { $and: [...filters] };
  }

  /** The whole query this builder sends. */
  toWire(): WireQuery {
    return {
      filter: this.filter(),
      sort: [...this.#state.sort],
      paging: { limit: this.#state.limit, offset: this.#state.skip },
    };
  }

  /** Runs the query and returns the first page (at `skip`). */
  async find(options?: CallOptions): Promise<QueryResult<T, this>> {
    const { items, pagingMetadata } = await this.#spec.run(this.toWire(), options);
    const { limit, skip } = this.#state;
    const total = Math.max(pagingMetadata.total, skip + items.length);
    const hasNext = pagingMetadata.hasNext;
    return {
      items,
      length: items.length,
      totalCount: total,
      tooManyToCount: pagingMetadata.tooManyToCount,
      pageSize: limit,
      currentPage: Math.floor(skip / limit),
      totalPages: Math.ceil(total / limit),
      query: this,
      hasNext: () => hasNext,
      hasPrev: () => skip > 0,
      next: (opts) => (hasNext ? this.skip(skip + limit).find(opts) : Promise.reject(new RangeError(`${this.#spec.name}: there is no next page`))),
      prev: (opts) =>
        skip > 0 ? this.skip(Math.max(0, skip - limit)).find(opts) : Promise.reject(new RangeError(`${this.#spec.name}: there is no previous page`)),
    };
  }
}

function dateValue(where: string, name: string, value: unknown): string {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString().slice(0, 10);
  if (typeof value === "string" && DATE_RE.test(value)) return value;
  throw new InvalidSdkArgumentError(`${where}: "${name}" takes YYYY-MM-DD strings or Dates; got ${describe(value)}`);
}
