/**
 * Operations shared by the two catalog tables, `labels` and `extended_fields`: both are
 * (tenant, key)-keyed definitions with a display name matched case-insensitively.
 */
import type { Knex } from "knex";
import type { Filter, Scalar, Sort } from "../domain/query.js";
import { type Executor, whereStartsWith } from "./db.js";
import type { ContactField } from "../domain/contact-query.js";
import { applyContactFilter, type Target } from "./filter-compiler.js";
import { whereAfter } from "./keyset.js";

export type CatalogTable = "labels" | "extended_fields";

export async function getByKey<Row>(db: Executor, table: CatalogTable, tenantId: string, key: string): Promise<Row | undefined> {
  return (await db(table).where({ tenant_id: tenantId, key }).first()) as Row | undefined;
}

export async function getByNameKey<Row>(db: Executor, table: CatalogTable, tenantId: string, nameKey: string): Promise<Row | undefined> {
  return (await db(table).where({ tenant_id: tenantId, name_key: nameKey }).first()) as Row | undefined;
}

/** Keys starting with `prefix` (used to find a free `-N` suffix). */
export async function keysWithPrefix(db: Executor, table: CatalogTable, tenantId: string, prefix: string): Promise<string[]> {
  const qb = db(table).where({ tenant_id: tenantId }).select("key");
  whereStartsWith(qb, "key", prefix);
  const rows = await qb;
  return rows.map((r: { key: string }) => r.key);
}

export async function countWhere(db: Executor, table: CatalogTable, tenantId: string, where: Record<string, string>): Promise<number> {
  const row = await db(table)
    .where({ tenant_id: tenantId, ...where })
    .count({ n: "*" })
    .first();
  return Number(row?.n ?? 0);
}

export async function insertRow(db: Executor, table: CatalogTable, row: object): Promise<void> {
  await db(table).insert(row);
}

export async function rename(
  db: Executor,
  table: CatalogTable,
  tenantId: string,
  key: string,
  displayName: string,
  nameKey: string,
  updatedAt: number,
): Promise<void> {
  await db(table).where({ tenant_id: tenantId, key }).update({ display_name: displayName, name_key: nameKey, updated_at: updatedAt });
}

export async function deleteByKey(db: Executor, table: CatalogTable, tenantId: string, key: string): Promise<number> {
  return db(table).where({ tenant_id: tenantId, key }).delete();
}

export interface CatalogQuery {
  filter: Filter;
  sorts: readonly Sort[];
  limit: number;
  /** Offset paging: rows to skip. */
  offset?: number;
  /** Cursor paging: the sort values and key of the last row of the previous page. */
  after?: readonly Scalar[];
  /** Also count every match (offset paging). */
  withTotal: boolean;
}

/**
 * One page of a filtered, sorted query. Fetches `limit + 1` rows so the caller knows whether
 * another page follows.
 */
export async function queryPage<Row>(
  db: Executor,
  table: CatalogTable,
  tenantId: string,
  columns: ColumnMap,
  q: CatalogQuery,
): Promise<{ rows: Row[]; hasNext: boolean; total?: number }> {
  const base = () => {
    const qb = db(table).where(`${table}.tenant_id`, tenantId);
    qb.where((sub) => applyFilter(sub, q.filter, columns, db as Knex, tenantId));
    return qb;
  };
  const page = base().select("*");
  if (q.after) page.where((sub) => applyAfter(sub, q.sorts, columns, "key", q.after as Scalar[]));
  applySort(page, q.sorts, columns, "key");
  page.limit(q.limit + 1);
  if (q.offset) page.offset(q.offset);
  const rows = (await page) as Row[];
  const hasNext = rows.length > q.limit;
  if (hasNext) rows.pop();
  let total: number | undefined;
  if (q.withTotal) {
    const counted = await base().count({ n: "*" }).first();
    total = Number(counted?.n ?? 0);
  }
  return { rows, hasNext, ...(total === undefined ? {} : { total }) };
}

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
 * Adds `filter` to `qb`, through the one filter compiler (filter-compiler.ts applyContactFilter)
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
