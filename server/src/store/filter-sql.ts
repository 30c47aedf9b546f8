import type { Knex } from "knex";
import type { ContactField } from "../domain/contact-query.js";
import type { Filter, Scalar, Sort } from "../domain/query.js";
import { applyContactFilter, type Target } from "./contact-query-sql.js";
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
 * Adds `filter` to `qb`, through the one filter compiler (contact-query-sql.ts applyContactFilter)
 * with each field's column as its target. `$ne`/`$nin` also match rows where the column is NULL
 * (a missing value is not equal to anything), like the in-memory semantics of the query language;
 * a 0 in a timestamp column (system labels and fields have no dates) matches no comparison.
 */
export function applyFilter(qb: Knex.QueryBuilder, filter: Filter, columns: ColumnMap, db: Knex, tenantId: string): void {
  const targetOf = (field: ContactField): Target => {
    const c = column(columns, field.path);
    return {
      kind: "column",
      col: c.column,
      ...(c.lowerColumn ? { lower: c.lowerColumn } : {}),
      ...(field.type.kind === "timestamp" ? { zeroIsNone: true } : {}),
    };
  };
  applyContactFilter(qb, filter, { db, tenantId, customTypes: new Map(), targetOf });
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
