import type { Caller } from "../domain/caller.js";
import type { NewEvent, StoredEvent } from "../domain/events.js";
import { decodeJson, encodeJson } from "../domain/json.js";
import type { Executor } from "./db.js";
import type { EventRow } from "./tables.js";
import { reserveEventSeq } from "./tenants.js";

/**
 * Appends events to the tenant's outbox inside the caller's transaction, so an event exists
 * exactly when its change committed. Call it last in the transaction (it locks the tenant row).
 */
export async function appendEvents(trx: Executor, caller: Caller, events: readonly NewEvent[]): Promise<StoredEvent[]> {
  if (events.length === 0) return [];
  const now = Date.now();
  const first = await reserveEventSeq(trx, caller.tenantId, events.length);
  const stored: StoredEvent[] = [];
  const nextEntitySeq = new Map<string, number>();
  for (const [i, e] of events.entries()) {
    const entityKey = `${e.entityFqdn}\u0000${e.entityId}`;
    let entitySeq = nextEntitySeq.get(entityKey);
    if (entitySeq === undefined) {
      const row = await trx("events")
        .where({ tenant_id: caller.tenantId, entity_fqdn: e.entityFqdn, entity_id: e.entityId })
        .max({ n: "entity_seq" })
        .first();
      entitySeq = Number(row?.n ?? 0) + 1;
    }
    nextEntitySeq.set(entityKey, entitySeq + 1);
    stored.push({
      ...e,
      tenantId: caller.tenantId,
      seq: first + i,
      id: crypto.randomUUID(),
      entitySeq,
      identityType: caller.identityType,
      subject: caller.subject,
      eventTime: new Date(now),
    });
  }
  await trx("events").insert(stored.map(eventToRow));
  return stored;
}

function eventToRow(e: StoredEvent): EventRow {
  return {
    tenant_id: e.tenantId,
    seq: e.seq,
    id: e.id,
    event_type: e.eventType,
    entity_fqdn: e.entityFqdn,
    slug: e.slug,
    entity_id: e.entityId,
    entity_seq: e.entitySeq,
    originated_from: e.originatedFrom ?? null,
    identity_type: e.identityType,
    subject: e.subject,
    modified_fields: e.modifiedFields ? JSON.stringify(e.modifiedFields) : null,
    payload: encodeJson(e.payload),
    created_at: e.eventTime.getTime(),
  };
}

export function eventFromRow(row: EventRow): StoredEvent {
  return {
    tenantId: row.tenant_id,
    seq: Number(row.seq),
    id: row.id,
    eventType: row.event_type as StoredEvent["eventType"],
    entityFqdn: row.entity_fqdn as StoredEvent["entityFqdn"],
    slug: row.slug as StoredEvent["slug"],
    entityId: row.entity_id,
    entitySeq: Number(row.entity_seq),
    ...(row.originated_from ? { originatedFrom: row.originated_from } : {}),
    identityType: row.identity_type as Caller["identityType"],
    subject: row.subject,
    ...(row.modified_fields ? { modifiedFields: JSON.parse(row.modified_fields) as string[] } : {}),
    payload: decodeJson(row.payload),
    eventTime: new Date(Number(row.created_at)),
  };
}

/** The tenant's last event sequence number, and the one up to which events were pruned. */
export async function eventPositions(db: Executor, tenantId: string): Promise<{ last: number; pruned: number }> {
  const row = await db("tenants").where({ tenant_id: tenantId }).first("event_seq", "events_pruned_seq");
  return { last: Number(row?.event_seq ?? 0), pruned: Number(row?.events_pruned_seq ?? 0) };
}

/**
 * Removes the tenant's events older than `cutoff` (epoch ms) and records how far it removed, so
 * that a cursor into the removed part is refused rather than silently skipping events.
 */
export async function pruneEvents(db: Executor, tenantId: string, cutoff: number): Promise<number> {
  const newest = await db("events").where({ tenant_id: tenantId }).andWhere("created_at", "<", cutoff).max({ s: "seq" }).first();
  const through = Number(newest?.s ?? 0);
  if (!through) return 0;
  const removed = await db("events").where({ tenant_id: tenantId }).andWhere("seq", "<=", through).delete();
  await db("tenants").where({ tenant_id: tenantId }).andWhere("events_pruned_seq", "<", through).update({ events_pruned_seq: through });
  return removed;
}

/** Events of a tenant after position `afterSeq`, oldest first. */
export async function eventsAfter(db: Executor, tenantId: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
  const rows = (await db("events")
    .where({ tenant_id: tenantId })
    .andWhere("seq", ">", afterSeq)
    .orderBy("seq", "asc")
    .limit(limit)) as EventRow[];
  return rows.map(eventFromRow);
}
