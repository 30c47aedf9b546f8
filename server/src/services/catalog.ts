/**
 * Labels and extended fields are both catalogs: tenant-scoped definitions with a key derived
 * from the display name, a quota on custom entries, read-only system entries and events on
 * every change. One implementation serves both; `CatalogKind` holds what differs.
 */
import type { Knex } from "knex";
import type { Caller } from "../domain/caller.js";
import { DomainError, failedPrecondition, notFound } from "../domain/errors.js";
import type { EntityFqdn, EventPayload, EventType } from "../domain/events.js";
import { decodeCursor, encodeCursor, hashOf, type Page, type PageSpec } from "../domain/paging.js";
import type { Filter, QuerySchema, Scalar, Sort } from "../domain/query.js";
import { keyCandidate, nameKey, slugify } from "../domain/slug.js";
import * as catalog from "../store/catalog.js";
import { isUniqueViolation } from "../store/db.js";
import { appendEvents } from "../store/events.js";
import type { ColumnMap } from "../store/catalog.js";
import { addCleanupJob, type CleanupKind, keysBeingCleaned } from "../store/cleanup-jobs.js";
import { lockTenant } from "../store/tenants.js";
import type { ServiceDeps } from "./deps.js";
import { type MutationMeta, runMutation } from "./mutation.js";

export interface CatalogEntity {
  key: string;
  namespace: string;
  displayName: string;
  createdDate?: Date;
  updatedDate?: Date;
}

export interface CatalogKind<T extends CatalogEntity, Row extends object> {
  table: catalog.CatalogTable;
  /** "label" or "extended field", for messages. */
  noun: string;
  fqdn: EntityFqdn;
  events: { created: EventType; updated: EventType; deleted: EventType };
  payload(entity: T): EventPayload;
  toRow(tenantId: string, entity: T): Row;
  fromRow(row: Row): T;
  isSystem(entity: T): boolean;
  keyMax: number;
  reasons: { notFound: string; readOnly: string; duplicateName: string };
  quota(deps: ServiceDeps): number;
  quotaError(quota: number, current: number): DomainError;
  schema: QuerySchema;
  columns: ColumnMap;
  defaultSort: Sort[];
  /** Which contacts' use of a deleted entry must be removed afterwards (labels, field values). */
  cleanupKind: CleanupKind;
}

const CUSTOM_NAMESPACE = "custom";

/** Returns the entry whose display name matches, or creates one with `build`. */
export async function findOrCreate<T extends CatalogEntity, Row extends object>(
  deps: ServiceDeps,
  kind: CatalogKind<T, Row>,
  caller: Caller,
  displayName: string,
  meta: MutationMeta,
  build: (key: string, now: Date) => T,
): Promise<{ entity: T; created: boolean }> {
  const match = nameKey(displayName);
  return runMutation(deps, caller, meta, async (trx) => {
    // Lock before reading: creators of one tenant queue here, so the quota count and the free
    // key below cannot be raced, and later plain reads see every earlier creation.
    await lockTenant(trx, caller.tenantId);
    const existing = await catalog.getByNameKey<Row>(trx, kind.table, caller.tenantId, match);
    if (existing) return { entity: kind.fromRow(existing), created: false };

    const quota = kind.quota(deps);
    const current = await catalog.countWhere(trx, kind.table, caller.tenantId, { namespace: CUSTOM_NAMESPACE });
    if (current >= quota) throw kind.quotaError(quota, current);

    const slug = slugify(displayName);
    const taken = new Set([
      // Every custom key, not only those starting with the first candidate: past n = 1, candidates cut a long slug shorter to make room for "-n".
      ...(await catalog.keysWithPrefix(trx, kind.table, caller.tenantId, `${CUSTOM_NAMESPACE}.`)),
      // A deleted entry's key stays taken until every contact has let go of it.
      ...(await keysBeingCleaned(trx, caller.tenantId, kind.cleanupKind)),
    ]);
    let n = 1;
    while (taken.has(keyCandidate(CUSTOM_NAMESPACE, slug, kind.keyMax, n))) n++;
    const entity = build(keyCandidate(CUSTOM_NAMESPACE, slug, kind.keyMax, n), new Date());
    await catalog.insertRow(trx, kind.table, kind.toRow(caller.tenantId, entity));
    await appendEvents(trx, caller, [
      { eventType: kind.events.created, entityFqdn: kind.fqdn, slug: "created", entityId: entity.key, payload: kind.payload(entity) },
    ]);
    return { entity, created: true };
  });
}

export async function get<T extends CatalogEntity, Row extends object>(deps: ServiceDeps, kind: CatalogKind<T, Row>, caller: Caller, key: string): Promise<T> {
  await deps.tenants.ensure(caller.tenantId);
  const row = await catalog.getByKey<Row>(deps.db, kind.table, caller.tenantId, key);
  if (!row) throw notFound(kind.reasons.notFound, `${kind.noun} "${key}" not found`, { key });
  return kind.fromRow(row);
}

async function getForWrite<T extends CatalogEntity, Row extends object>(
  trx: Knex.Transaction,
  kind: CatalogKind<T, Row>,
  caller: Caller,
  key: string,
): Promise<T> {
  const row = await catalog.getByKey<Row>(trx, kind.table, caller.tenantId, key);
  if (!row) throw notFound(kind.reasons.notFound, `${kind.noun} "${key}" not found`, { key });
  const entity = kind.fromRow(row);
  if (kind.isSystem(entity)) {
    throw failedPrecondition(kind.reasons.readOnly, `system ${kind.noun} "${key}" cannot be changed`, { key });
  }
  return entity;
}

export async function rename<T extends CatalogEntity, Row extends object>(
  deps: ServiceDeps,
  kind: CatalogKind<T, Row>,
  caller: Caller,
  key: string,
  displayName: string,
  meta: MutationMeta,
): Promise<T> {
  return runMutation(deps, caller, meta, async (trx) => {
    await lockTenant(trx, caller.tenantId);
    const entity = await getForWrite(trx, kind, caller, key);
    if (entity.displayName === displayName) return entity;
    const renamed: T = { ...entity, displayName, updatedDate: new Date() };
    try {
      await catalog.rename(trx, kind.table, caller.tenantId, key, displayName, nameKey(displayName), renamed.updatedDate?.getTime() ?? 0);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      throw new DomainError("already_exists", kind.reasons.duplicateName, `another ${kind.noun} is already named "${displayName}"`, { displayName });
    }
    await appendEvents(trx, caller, [
      {
        eventType: kind.events.updated,
        entityFqdn: kind.fqdn,
        slug: "updated",
        entityId: key,
        modifiedFields: ["displayName"],
        payload: kind.payload(renamed),
      },
    ]);
    return renamed;
  });
}

export async function remove<T extends CatalogEntity, Row extends object>(
  deps: ServiceDeps,
  kind: CatalogKind<T, Row>,
  caller: Caller,
  key: string,
  meta: MutationMeta,
): Promise<void> {
  await runMutation(deps, caller, meta, async (trx) => {
    const entity = await getForWrite(trx, kind, caller, key);
    await catalog.deleteByKey(trx, kind.table, caller.tenantId, key);
    await addCleanupJob(trx, caller.tenantId, kind.cleanupKind, key, deps.cleanups.lease());
    await appendEvents(trx, caller, [{ eventType: kind.events.deleted, entityFqdn: kind.fqdn, slug: "deleted", entityId: key, payload: kind.payload(entity) }]);
    return null;
  });
  // Small uses finish within the call; large ones go on in the background (and resume after a
  // crash). Either way the entry is invisible on every contact from here (domain/contacts.ts Stripped).
  await deps.cleanups.afterDelete(deps, caller, kind.cleanupKind, key);
}

export interface CatalogQuery {
  filter: Filter;
  sorts: Sort[];
  page: PageSpec;
  /** The request path of the cursor, for errors. */
  cursorField: string;
}

export async function query<T extends CatalogEntity, Row extends object>(
  deps: ServiceDeps,
  kind: CatalogKind<T, Row>,
  caller: Caller,
  q: CatalogQuery,
): Promise<Page<T>> {
  await deps.tenants.ensure(caller.tenantId);
  const sorts = q.sorts.length > 0 ? q.sorts : kind.defaultSort;
  const queryHash = hashOf({ f: q.filter, s: sorts.map((s) => [s.field.path, s.descending]) });
  const page = q.page;
  const after = page.kind === "cursor" && page.cursor ? decodeCursor(page.cursor, queryHash, q.cursorField) : undefined;
  const result = await catalog.queryPage<Row>(deps.db, kind.table, caller.tenantId, kind.columns, {
    filter: q.filter,
    sorts,
    limit: page.limit,
    ...(page.kind === "offset" ? { offset: page.offset } : {}),
    ...(after ? { after } : {}),
    withTotal: page.kind === "offset",
  });
  const items = result.rows.map(kind.fromRow);
  const last = result.rows[result.rows.length - 1] as Record<string, Scalar> | undefined;
  const nextCursor =
    page.kind === "cursor" && result.hasNext && last
      ? encodeCursor([...sorts.map((s) => last[kind.columns[s.field.path]?.column ?? ""] as Scalar), last.key as Scalar], queryHash)
      : undefined;
  return {
    items,
    page: {
      count: items.length,
      offset: page.kind === "offset" ? page.offset : 0,
      ...(result.total === undefined ? {} : { total: result.total }),
      hasNext: result.hasNext,
      ...(nextCursor ? { nextCursor } : {}),
    },
  };
}
