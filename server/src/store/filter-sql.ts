import type { Knex } from "knex";
import type { Filter, Scalar, Sort } from "../domain/query.js";
import { whereStartsWith } from "./db.js";
import { whereAfter } from "./keyset.js";

/** Where a queryable field lives: its column, and the lower-cased column `$startsWith` searches. */
export interface ColumnMap {
  [path: string]: { column: string; lowerColumn?: string };
}

function column(columns: ColumnMap, path: string): { column: string; lowerColumn?: string } {
  const c = columns[path];
  if (!c) throw new Error(`no column for query field ${path}`);
  return c;
}

/**
 * Adds `filter` to `qb`. `$ne`/`$nin` also match rows where the column is NULL (a missing value
 * is not equal to anything), like the in-memory semantics of the query language.
 */
export function applyFilter(qb: Knex.QueryBuilder, filter: Filter, columns: ColumnMap): void {
  switch (filter.kind) {
    case "and":
      for (const f of filter.filters) qb.where((sub) => applyFilter(sub, f, columns));
      return;
    case "or":
      qb.where((outer) => {
        for (const f of filter.filters) outer.orWhere((sub) => applyFilter(sub, f, columns));
      });
      return;
    case "not":
      qb.whereNot((sub) => applyFilter(sub, filter.filter, columns));
      return;
    case "compare": {
      const c = column(columns, filter.field.path).column;
      if (filter.op === "$ne") {
        qb.where((sub) => sub.whereNot(c, filter.value).orWhereNull(c));
        return;
      }
      // System labels and fields have no dates (stored as 0): no date comparison matches them.
      if (filter.field.type.kind === "timestamp") qb.where(c, "<>", 0);
      const sqlOp = { $eq: "=", $gt: ">", $gte: ">=", $lt: "<", $lte: "<=" }[filter.op];
      qb.where(c, sqlOp, filter.value);
      return;
    }
    case "in": {
      const c = column(columns, filter.field.path).column;
      if (filter.negate) qb.where((sub) => sub.whereNotIn(c, filter.values).orWhereNull(c));
      else qb.whereIn(c, filter.values);
      return;
    }
    case "exists": {
      const c = column(columns, filter.field.path).column;
      if (filter.exists) qb.whereNotNull(c);
      else qb.whereNull(c);
      return;
    }
    case "startsWith": {
      const c = column(columns, filter.field.path);
      const target = c.lowerColumn ?? c.column;
      const prefix = c.lowerColumn ? filter.prefix.toLowerCase() : filter.prefix;
      whereStartsWith(qb, target, prefix);
      return;
    }
    case "has":
      throw new Error(`$hasSome/$hasAll are not supported on ${filter.field.path}`);
  }
}

/** Adds `ORDER BY` for the sorts and a final tie-breaker column in the last sort's direction. */
export function applySort(qb: Knex.QueryBuilder, sorts: readonly Sort[], columns: ColumnMap, tieBreaker: string): void {
  for (const s of sorts) qb.orderBy(column(columns, s.field.path).column, s.descending ? "desc" : "asc");
  const last = sorts[sorts.length - 1];
  qb.orderBy(tieBreaker, last?.descending ? "desc" : "asc");
}

/** The keyset condition of cursor paging (keyset.ts) over sort columns and the tie-breaker. */
export function applyAfter(qb: Knex.QueryBuilder, sorts: readonly Sort[], columns: ColumnMap, tieBreaker: string, after: readonly Scalar[]): void {
  const keys = [
    ...sorts.map((s) => ({ key: column(columns, s.field.path).column, descending: s.descending })),
    { key: tieBreaker, descending: sorts[sorts.length - 1]?.descending ?? false },
  ];
  whereAfter(qb, keys, after);
}
