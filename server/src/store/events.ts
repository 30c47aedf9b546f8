import type { ContactJson } from "../../../gen/contacts/v1/contact_pb.js";
import type { Caller } from "../domain/caller.js";
import { type Stripped, stripInfo, strips } from "../domain/contacts.js";
import { ENTITY_FQDN, type NewEvent, type StoredEvent } from "../domain/events.js";
import { decodeJson, encodeJson } from "../domain/json.js";
import type { Knex } from "knex";
import { type Executor, isMysql, sendTogether } from "./db.js";
import { strippedIn } from "./cleanup-jobs.js";
import type { EventRow } from "./tables.js";
import { reserveEventSeq } from "./tenants.js";

/**
 * Appends events to the tenant's outbox inside the caller's transaction, so an event exists
 * exactly when its change committed. Call it last in the transaction (it locks the tenant row).
 *
 * `pending`: statements of the write not sent yet, sent first. When every event is a created
 * contact's (no entity's earlier events to look up), MariaDB gets them, the sequence's bump and
 * the events in one round trip: each event's number is LAST_INSERT_ID() less its distance from
 * the last, which the bump just set on this connection; the tenant row is held from there to the
 * commit only.
 */
export async function appendEvents(
  trx: Executor,
  caller: Caller,
  given: readonly NewEvent[],
  pending: readonly Knex.QueryBuilder[] = [],
): Promise<StoredEvent[]> {
  const events = await visibleEvents(trx, caller.tenantId, given);
  if (events.length === 0) {
    await sendTogether(trx, pending);
    return [];
  }
  const now = Date.now();
  const stored = (first: number, entitySeqs: Map<string, number>): StoredEvent[] =>
    events.map((e, i) => {
      const entityKey = `${e.entityFqdn}\u0000${e.entityId}`;
      const entitySeq = entitySeqs.get(entityKey) ?? 1;
      entitySeqs.set(entityKey, entitySeq + 1);
      return {
        ...e,
        tenantId: caller.tenantId,
        seq: first + i,
        id: crypto.randomUUID(),
        entitySeq,
        identityType: caller.identityType,
        subject: caller.subject,
        eventTime: new Date(now),
      };
    });
  if (isMysql(trx) && events.length <= 200 && events.every((e) => e.eventType === "contact_created")) {
    const n = events.length;
    const out = stored(0, new Map());
    const rows = out.map((e, i) => ({ ...eventToRow(e), seq: trx.raw("last_insert_id() - ?", [n - 1 - i]) }));
    const results = await sendTogether(trx, [
      ...pending,
      trx("tenants")
        .where({ tenant_id: caller.tenantId })
        .update({ event_seq: trx.raw("last_insert_id(event_seq + ?)", [n]) }),
      trx("events").insert(rows),
    ]);
    const header = results[pending.length] as { affectedRows?: number; insertId?: number | string } | undefined;
    if (header?.affectedRows !== 1) throw new Error(`tenant ${caller.tenantId} has no row; ensureTenant must run first`);
    const first = Number(header.insertId) - n + 1;
    return out.map((e, i) => ({ ...e, seq: first + i }));
  }
  await sendTogether(trx, pending);
  const first = await reserveEventSeq(trx, caller.tenantId, events.length);
  const out = stored(first, await newestEntityEvents(trx, caller.tenantId, events));
  for (let i = 0; i < out.length; i += 200) await trx("events").insert(out.slice(i, i + 200).map(eventToRow));
  return out;
}

/**
 * The events without the labels and fields being stripped from contacts (domain/contacts.ts
 * Stripped). A created contact cannot carry one (its labels and fields must exist): creations
 * need no look-up.
 */
async function visibleEvents(trx: Executor, tenantId: string, events: readonly NewEvent[]): Promise<readonly NewEvent[]> {
  if (!events.some((e) => e.eventType !== "contact_created" && (e.payload.kind === "contact" || e.payload.kind === "contactMerged"))) return events;
  const stripped = await strippedIn(trx, tenantId);
  return strips(stripped) ? events.map((e) => withoutStripped(e, stripped)) : events;
}

function withoutStripped(e: NewEvent, stripped: Stripped): NewEvent {
  const clean = (contact: unknown) => {
    const c = contact as ContactJson;
    return c.info ? { ...c, info: stripInfo(c.info, stripped) } : c;
  };
  const p = e.payload;
  if (p.kind === "contact") return { ...e, payload: { ...p, contact: clean(p.contact) } };
  if (p.kind === "contactMerged") return { ...e, payload: { ...p, targetContact: clean(p.targetContact) } };
  return e;
}

/**
 * The next `entity_event_sequence` of each entity the events are about (`fqdn \0 id` → number):
 * one after its newest stored event, found with one statement per entity kind. A created contact's
 * id is new and needs no look-up. An entity's newest event outlives retention only to number the
 * entity's next event (see pruneEvents); the new event takes over that role, so an old one below
 * the pruned position goes. Called under the tenant row lock (reserveEventSeq), so a concurrent
 * pruneEvents cannot move that position meanwhile.
 */
async function newestEntityEvents(trx: Executor, tenantId: string, events: readonly NewEvent[]): Promise<Map<string, number>> {
  const next = new Map<string, number>();
  const lookup = new Map<string, Set<string>>();
  for (const e of events) {
    if (e.eventType === "contact_created") continue;
    lookup.set(e.entityFqdn, (lookup.get(e.entityFqdn) ?? new Set()).add(e.entityId));
  }
  const stale: number[] = [];
  let pruned: number | undefined;
  for (const [fqdn, ids] of lookup) {
    const all = [...ids];
    for (let i = 0; i < all.length; i += 500) {
      // An entity's events are numbered in commit order: its newest has both the highest seq and
      // the highest entity_seq.
      const rows = (await trx("events")
        .where({ tenant_id: tenantId, entity_fqdn: fqdn })
        .whereIn("entity_id", all.slice(i, i + 500))
        .groupBy("entity_id")
        .select("entity_id", trx.raw("max(entity_seq) as entity_seq"), trx.raw("max(seq) as seq"))) as {
        entity_id: string;
        entity_seq: number | string;
        seq: number | string;
      }[];
      for (const r of rows) {
        next.set(`${fqdn}\u0000${r.entity_id}`, Number(r.entity_seq) + 1);
        pruned ??= (await eventPositions(trx, tenantId)).pruned;
        if (Number(r.seq) <= pruned) stale.push(Number(r.seq));
      }
    }
  }
  if (stale.length > 0) await trx("events").where({ tenant_id: tenantId }).whereIn("seq", stale).delete();
  return next;
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
 * eventPositions read after every transaction the cluster has committed so far has been applied
 * on this node. On a Galera node that lags (its appliers behind the others), a cursor issued by
 * another node may be ahead of what this node has applied; `wsrep_sync_wait = 1` makes this one
 * read wait until the node has caught up instead of answering from the past. On a MariaDB
 * without Galera the setting changes nothing. It costs a cluster round trip, so it is only
 * asked for when the plain read disagrees with a cursor.
 */
export async function eventPositionsCausal(db: Executor, tenantId: string): Promise<{ last: number; pruned: number }> {
  if (!isMysql(db)) return eventPositions(db, tenantId);
  const [rows] = (await db.raw("SET STATEMENT wsrep_sync_wait = 1 FOR SELECT event_seq, events_pruned_seq FROM tenants WHERE tenant_id = ?", [
    tenantId,
  ])) as unknown as [{ event_seq: number | string; events_pruned_seq: number | string }[]];
  const row = rows[0];
  return { last: Number(row?.event_seq ?? 0), pruned: Number(row?.events_pruned_seq ?? 0) };
}

/** How many event rows one pruning statement removes. */
const PRUNE_BATCH = 1000;

/**
 * Removes the tenant's events older than `cutoff` (epoch ms) and records how far it removed, so
 * that a cursor into the removed part is refused rather than silently skipping events. The
 * position is recorded before anything is removed: a watcher that reads past a removal then
 * also sees the new position (see services/events.ts).
 *
 * Each entity's newest event stays, below the pruned position where no cursor reaches it,
 * because appendEvents numbers an entity's next event after its newest stored one (and removes
 * the old one then): removing them all would restart the entity's `entity_event_sequence` at 1.
 * A contact's events all go once it is deleted, since a contact id never comes back.
 *
 * Only the newly expired range is examined, so the cost follows what expired, not the log size.
 */
export async function pruneEvents(db: Executor, tenantId: string, cutoff: number): Promise<number> {
  const { last, pruned: before } = await eventPositions(db, tenantId);
  // The first event (in time) that is still young marks the boundary; one index seek. Event
  // times follow positions closely but not exactly (a time is taken before the tenant lock),
  // so an event a few milliseconds younger than the cutoff may go with its older neighbours.
  const young = (await db("events").where({ tenant_id: tenantId }).andWhere("created_at", ">=", cutoff).orderBy("created_at", "asc").first("seq")) as
    | Pick<EventRow, "seq">
    | undefined;
  const through = young ? Number(young.seq) - 1 : last;
  if (through <= before) return 0;
  await db("tenants").where({ tenant_id: tenantId }).andWhere("events_pruned_seq", "<", through).update({ events_pruned_seq: through });
  let removed = 0;
  let floor = before;
  for (;;) {
    const seqs = (
      (await db("events as e")
        .where("e.tenant_id", tenantId)
        .andWhere("e.seq", ">", floor)
        .andWhere("e.seq", "<=", through)
        .andWhere((q) =>
          q
            .whereExists((sub) =>
              sub
                .select(db.raw("1"))
                .from("events as n")
                .where("n.tenant_id", tenantId)
                .andWhereRaw("n.entity_fqdn = e.entity_fqdn")
                .andWhereRaw("n.entity_id = e.entity_id")
                .andWhereRaw("n.entity_seq > e.entity_seq"),
            )
            .orWhere((d) => d.where("e.entity_fqdn", ENTITY_FQDN.contact).andWhere("e.slug", "deleted")),
        )
        .orderBy("e.seq")
        .limit(PRUNE_BATCH)
        .pluck("e.seq")) as (number | string)[]
    ).map(Number);
    if (seqs.length === 0) break;
    removed += await db("events").where({ tenant_id: tenantId }).whereIn("seq", seqs).delete();
    floor = seqs.at(-1) ?? through;
    if (seqs.length < PRUNE_BATCH) break;
  }
  return removed;
}

/** Events of a tenant after position `afterSeq`, oldest first. */
export async function eventsAfter(db: Executor, tenantId: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
  const rows = (await db("events").where({ tenant_id: tenantId }).andWhere("seq", ">", afterSeq).orderBy("seq", "asc").limit(limit)) as EventRow[];
  return rows.map(eventFromRow);
}
