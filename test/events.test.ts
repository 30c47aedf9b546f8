/**
 * EventsService.WatchEvents (API.md "Events", reference §6, issue 6 item 5) on both stores: where a
 * watch starts (OLDEST, NOW, after a cursor), filters, the envelope of every event kind, tenant
 * isolation, cursor errors (INVALID_CURSOR, CURSOR_EXPIRED after retention), commits made
 * without an in-process wake-up (another server process) and the commit-to-watcher latency; and
 * a plain @grpc/grpc-js client consuming the stream.
 */
import { join } from "node:path";
import { createHistogram, performance } from "node:perf_hooks";
import { type Client, Code } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Event, EventsService, IdentityType, type WatchEventsRequest, WatchStart } from "../gen/contacts/v1/events_service_pb.js";
import { FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { watchEvents } from "../server/src/services/events.js";
import { appendEvents, pruneEvents } from "../server/src/store/events.js";
import { expectError } from "./support/errors.js";
import { STORES, startTestServer, type TestServer } from "./support/server.js";

type WatchInit = Partial<Pick<WatchEventsRequest, "afterCursor" | "start">> & { filter?: { entityFqdns?: string[]; slugs?: string[] } };
type EventsClient = Client<typeof EventsService>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CURSOR = /^ev1\.[A-Za-z0-9_-]+$/;

/** A watch running in the background, collecting what arrives and when. */
class Watch {
  readonly events: Event[] = [];
  readonly bookmarks: Event[] = [];
  readonly arrivals: number[] = [];
  readonly arrivalsWall: number[] = [];
  error: unknown;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  readonly done: Promise<void>;

  constructor(client: EventsClient, req: WatchInit) {
    this.done = (async () => {
      try {
        for await (const e of client.watchEvents(req, { signal: this.abort.signal })) {
          // Bookmarks carry only a position; the tests look at change events.
          if (e.eventType === "bookmark") {
            this.bookmarks.push(e);
            continue;
          }
          this.events.push(e);
          this.arrivals.push(performance.now());
          this.arrivalsWall.push(Date.now());
          this.wake?.();
        }
      } catch (err) {
        if (!this.abort.signal.aborted) this.error = err;
      }
      this.wake?.();
    })();
  }

  /** Resolves with the first `n` events, or fails after `timeoutMs`. */
  async waitFor(n: number, timeoutMs = 5_000): Promise<Event[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < n) {
      if (this.error) throw this.error;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`waited ${timeoutMs} ms for ${n} events, got ${this.events.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.events.slice(0, n);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

/** A watch that must fail before its first event: rejects with the stream's error (or Canceled after 5 s). */
async function streamError(client: EventsClient, req: WatchInit): Promise<void> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 5_000);
  try {
    for await (const e of client.watchEvents(req, { signal: abort.signal })) {
      // An error must come before any event.
      throw new Error(`the watch yielded a ${e.eventType}; expected an error`);
    }
  } finally {
    clearTimeout(timer);
  }
}

const cursorOf = (seq: number) => `ev1.${Buffer.from(String(seq)).toString("base64url")}`;

describe.each(STORES)("WatchEvents on %s", (store) => {
  let t: TestServer;
  const watches: Watch[] = [];
  beforeAll(async () => {
    t = await startTestServer(store);
  });
  afterAll(async () => {
    await Promise.all(watches.map((w) => w.stop()));
    await t?.close();
  });

  let n = 0;
  function tenant() {
    n++;
    const id = `ev${n}`;
    return { id, ...t.clients(id), events: t.client(EventsService, id) };
  }
  type Tenant = ReturnType<typeof tenant>;
  function watch(c: Tenant, req: WatchInit = { start: WatchStart.OLDEST }): Watch {
    const w = new Watch(c.events, req);
    watches.push(w);
    return w;
  }
  /** Four events: two contact_created, label_created (the first time), contact_updated. */
  async function someWrites(c: Tenant) {
    const a = (await c.contacts.createContact({ info: { name: { first: "Ada" }, emails: { items: [{ email: "ada@x.io" }] } }, allowDuplicates: true })).contact;
    const b = (await c.contacts.createContact({ info: { name: { first: "Bob" } } })).contact;
    const label = (await c.labels.findOrCreateLabel({ displayName: "VIP" })).label;
    const labelled = (await c.contacts.labelContact({ contactId: a?.id ?? "", labelKeys: [label?.key ?? ""] })).contact;
    return { a, b, label, labelled };
  }

  it("streams a tenant's events in commit order from OLDEST, with the full envelope of every event kind", async () => {
    const c = tenant();
    const t0 = Date.now();
    const created = (await c.contacts.createContact({ info: { name: { first: "Ada", last: "Lovelace" }, emails: { items: [{ email: "ada@x.io" }] } } }))
      .contact;
    const id = created?.id ?? "";
    const updated = (await c.contacts.updateContact({ contactId: id, revision: 1, info: { company: "Analytical", name: { first: "Augusta" } } })).contact;
    const label = (await c.labels.findOrCreateLabel({ displayName: "Pioneers" })).label;
    const labelled = (await c.contacts.labelContact({ contactId: id, labelKeys: [label?.key ?? ""] })).contact;
    const renamed = (await c.labels.renameLabel({ label: { key: label?.key ?? "", displayName: "Early pioneers" } })).label;
    const field = (await c.fields.findOrCreateExtendedField({ displayName: "Era", dataType: FieldDataType.TEXT })).field;
    const renamedField = (await c.fields.renameExtendedField({ field: { key: field?.key ?? "", displayName: "Century" } })).field;
    await c.fields.deleteExtendedField({ key: field?.key ?? "" });
    await c.contacts.deleteContact({ contactId: id });
    await c.labels.deleteLabel({ key: label?.key ?? "" });

    const w = watch(c);
    const events = await w.waitFor(10);
    await sleep(100);
    expect(w.events).toHaveLength(10);
    expect(events.map((e) => [e.eventType, e.entityFqdn, e.slug, e.entityId, e.entityEventSequence])).toEqual([
      ["contact_created", "contacts.v1.contact", "created", id, "1"],
      ["contact_updated", "contacts.v1.contact", "updated", id, "2"],
      ["label_created", "contacts.v1.label", "created", label?.key, "1"],
      ["contact_updated", "contacts.v1.contact", "updated", id, "3"],
      ["label_updated", "contacts.v1.label", "updated", label?.key, "2"],
      ["extended_field_created", "contacts.v1.extended_field", "created", field?.key, "1"],
      ["extended_field_updated", "contacts.v1.extended_field", "updated", field?.key, "2"],
      ["extended_field_deleted", "contacts.v1.extended_field", "deleted", field?.key, "3"],
      ["contact_deleted", "contacts.v1.contact", "deleted", id, "4"],
      ["label_deleted", "contacts.v1.label", "deleted", label?.key, "3"],
    ]);
    for (const e of events) {
      expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(e.cursor).toMatch(CURSOR);
      expect(e.tenantId).toBe(c.id);
      expect(e.identity).toMatchObject({ identityType: IdentityType.USER, subject: "dev" });
      expect(e.originatedFrom).toBeUndefined();
      const ms = Number(e.eventTime?.seconds) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
      expect(ms).toBeGreaterThanOrEqual(t0 - 1000);
      expect(ms).toBeLessThanOrEqual(Date.now());
    }
    expect(new Set(events.map((e) => e.id)).size).toBe(10);
    expect(new Set(events.map((e) => e.cursor)).size).toBe(10);
    // The entity after each change; deleted events carry it as it was before the delete.
    const contactOf = (e: Event | undefined) => (e?.entity.case === "contact" ? e.entity.value : undefined);
    expect(contactOf(events[0])).toEqual(created);
    expect(contactOf(events[1])).toEqual(updated);
    expect(contactOf(events[3])).toEqual(labelled);
    expect(contactOf(events[8])).toEqual(labelled);
    expect(events[2]?.entity).toMatchObject({ case: "label", value: { key: label?.key, displayName: "Pioneers" } });
    expect(events[4]?.entity).toEqual({ case: "label", value: renamed });
    expect(events[5]?.entity).toMatchObject({ case: "extendedField", value: { key: field?.key, displayName: "Era" } });
    expect(events[6]?.entity).toEqual({ case: "extendedField", value: renamedField });
    expect(events[7]?.entity).toEqual({ case: "extendedField", value: renamedField });
    expect(events[9]?.entity).toEqual({ case: "label", value: renamed });
    // modified_fields on updates only.
    expect(events.map((e) => e.modifiedFields)).toEqual([
      [],
      ["info.company", "info.name"],
      [],
      ["info.labelKeys"],
      ["displayName"],
      [],
      ["displayName"],
      [],
      [],
      [],
    ]);
  });

  it("streams a merge as target contact_updated, contact_deleted per source (originated_from merge), then contact_merged", async () => {
    const c = tenant();
    const target = (await c.contacts.createContact({ info: { name: { first: "T" } } })).contact;
    const s1 = (await c.contacts.createContact({ info: { name: { first: "S1" }, emails: { items: [{ email: "s1@x.io" }] } } })).contact;
    const s2 = (await c.contacts.createContact({ info: { name: { first: "S2" }, company: "Two" } })).contact;
    const w = watch(c);
    await w.waitFor(3);
    const merged = (
      await c.contacts.mergeContacts({ targetContactId: target?.id ?? "", targetContactRevision: 1, sourceContactIds: [s1?.id ?? "", s2?.id ?? ""] })
    ).contact;
    const events = (await w.waitFor(7)).slice(3);
    expect(events.map((e) => [e.eventType, e.slug, e.entityId, e.originatedFrom, e.entityEventSequence])).toEqual([
      ["contact_updated", "updated", target?.id, "merge", "2"],
      ["contact_deleted", "deleted", s1?.id, "merge", "2"],
      ["contact_deleted", "deleted", s2?.id, "merge", "2"],
      ["contact_merged", "merged", target?.id, undefined, "3"],
    ]);
    expect(events[0]?.entity).toEqual({ case: "contact", value: merged });
    expect(events[0]?.modifiedFields).toEqual(expect.arrayContaining(["info.emails", "info.company", "lastActivity"]));
    expect(events[1]?.entity).toEqual({ case: "contact", value: s1 });
    expect(events[2]?.entity).toEqual({ case: "contact", value: s2 });
    expect(events[3]?.entity.case).toBe("contactMerged");
    expect(events[3]?.entity.value).toMatchObject({ targetContactId: target?.id, sourceContactIds: [s1?.id, s2?.id], targetContact: merged });
  });

  it("resumes after a cursor with the next event, and follows live", async () => {
    const c = tenant();
    await someWrites(c);
    const all = await watch(c).waitFor(4);
    const resumed = watch(c, { afterCursor: all[1]?.cursor ?? "", start: WatchStart.OLDEST });
    expect((await resumed.waitFor(2)).map((e) => e.id)).toEqual([all[2]?.id, all[3]?.id]);
    // Then live.
    const later = (await c.contacts.createContact({ info: { name: { first: "Later" } } })).contact;
    expect((await resumed.waitFor(3))[2]).toMatchObject({ eventType: "contact_created", entityId: later?.id });
    // After the last event: nothing until the next write.
    const tail = watch(c, { afterCursor: resumed.events[2]?.cursor ?? "" });
    await sleep(150);
    expect(tail.events).toHaveLength(0);
    await c.contacts.deleteContact({ contactId: later?.id ?? "" });
    expect((await tail.waitFor(1))[0]).toMatchObject({ eventType: "contact_deleted", entityId: later?.id });
  });

  it("NOW (and no start at all) skips what was committed before the call", async () => {
    const c = tenant();
    await someWrites(c);
    const now = watch(c, { start: WatchStart.NOW });
    const unset = watch(c, {});
    // The server takes "now" when the call starts, which the client cannot observe: write probes
    // until both watches have seen one. Each must then hold a run of the latest probes, in order,
    // and nothing from before.
    const probes: string[] = [];
    while (now.events.length === 0 || unset.events.length === 0) {
      if (probes.length >= 50) throw new Error("the watches never started");
      probes.push((await c.contacts.createContact({ info: { name: { first: `Probe ${probes.length}` } } })).contact?.id ?? "");
      await sleep(50);
    }
    for (const w of [now, unset]) {
      const deadline = Date.now() + 5_000;
      while (w.events.at(-1)?.entityId !== probes.at(-1) && Date.now() < deadline) await sleep(20);
      const last = w.events;
      const ids = last.map((e) => e.entityId);
      expect(ids.at(-1)).toBe(probes.at(-1));
      expect(ids).toEqual(probes.slice(probes.length - ids.length));
      expect(last.every((e) => e.eventType === "contact_created")).toBe(true);
    }
  });

  it("filters by entity fqdn and by slug, and a filtered watch resumes from its own cursors", async () => {
    const c = tenant();
    const { a, b, label } = await someWrites(c);
    const field = (await c.fields.findOrCreateExtendedField({ displayName: "Shoe", dataType: FieldDataType.NUMBER })).field;
    await c.contacts.deleteContact({ contactId: b?.id ?? "" });
    await c.labels.deleteLabel({ key: label?.key ?? "" }); // label_deleted, then the cleanup's contact_updated of a
    await c.fields.deleteExtendedField({ key: field?.key ?? "" });
    const all = await watch(c).waitFor(9);
    const kinds = (events: Event[]) => events.map((e) => `${e.eventType}:${e.entityId}`);
    const expectFiltered = async (filter: WatchInit["filter"], keep: (e: Event) => boolean) => {
      const want = all.filter(keep);
      const w = watch(c, { start: WatchStart.OLDEST, filter });
      expect(kinds(await w.waitFor(want.length))).toEqual(kinds(want));
      await sleep(100);
      expect(w.events).toHaveLength(want.length);
      return w.events;
    };
    await expectFiltered({ entityFqdns: ["contacts.v1.contact"] }, (e) => e.entityFqdn === "contacts.v1.contact");
    await expectFiltered({ entityFqdns: ["contacts.v1.label"] }, (e) => e.entityFqdn === "contacts.v1.label");
    await expectFiltered({ entityFqdns: ["contacts.v1.extended_field"] }, (e) => e.entityFqdn === "contacts.v1.extended_field");
    await expectFiltered({ entityFqdns: ["contacts.v1.label", "contacts.v1.extended_field"] }, (e) => e.entityFqdn !== "contacts.v1.contact");
    await expectFiltered({ slugs: ["deleted"] }, (e) => e.slug === "deleted");
    await expectFiltered({ slugs: ["created", "deleted"] }, (e) => e.slug !== "updated");
    const contactUpdates = await expectFiltered(
      { entityFqdns: ["contacts.v1.contact"], slugs: ["updated"] },
      (e) => e.entityFqdn === "contacts.v1.contact" && e.slug === "updated",
    );
    expect(contactUpdates.map((e) => e.entityId)).toEqual([a?.id, a?.id]);
    // An unknown kind matches nothing (and is not an error).
    const none = watch(c, { start: WatchStart.OLDEST, filter: { entityFqdns: ["contacts.v1.nothing"] } });
    await sleep(200);
    expect([none.events.length, none.error]).toEqual([0, undefined]);
    // Resuming a filtered watch from its last cursor continues with the next matching event.
    const first = watch(c, { start: WatchStart.OLDEST, filter: { slugs: ["created"] } });
    const created = await first.waitFor(4);
    const resumed = watch(c, { afterCursor: created[1]?.cursor ?? "", filter: { slugs: ["created"] } });
    expect(kinds(await resumed.waitFor(2))).toEqual(kinds(created.slice(2, 4)));
  });

  it("a watcher sees only its own tenant's events", async () => {
    const a = tenant();
    const b = tenant();
    const wa = watch(a);
    const wb = watch(b);
    await Promise.all([someWrites(a), someWrites(b)]);
    await someWrites(b); // the label exists now: three more events
    const ea = await wa.waitFor(4);
    const eb = await wb.waitFor(7);
    await sleep(200);
    expect([wa.events.length, wb.events.length]).toEqual([4, 7]);
    expect(new Set(ea.map((e) => e.tenantId))).toEqual(new Set([a.id]));
    expect(new Set(eb.map((e) => e.tenantId))).toEqual(new Set([b.id]));
    const aContacts = (await a.contacts.queryContacts({})).contacts.map((x) => x.id);
    for (const e of ea.filter((e) => e.entityFqdn === "contacts.v1.contact")) expect(aContacts).toContain(e.entityId);
    // B's cursor means nothing in A beyond A's own log.
    const last = eb.at(-1)?.cursor ?? "";
    await expectError(streamError(a.events, { afterCursor: last }), { code: Code.InvalidArgument, reason: "INVALID_CURSOR" });
  });

  it("a malformed cursor, or one ahead of the log, is INVALID_ARGUMENT INVALID_CURSOR", async () => {
    const c = tenant();
    await someWrites(c);
    // "ev1." and "ev1.!!!" once decoded to position 0 and replayed the whole log; "ev1.MQ==" is
    // position 1 with padding, not a cursor this service issued.
    const malformed = [
      "nope",
      "ev1.",
      "ev1.!!!",
      "ev1.MQ==",
      " ev1.MQ",
      "ev2.MQ",
      `ev1.${Buffer.from("-3").toString("base64url")}`,
      `ev1.${Buffer.from("x").toString("base64url")}`,
    ];
    for (const afterCursor of [...malformed, cursorOf(5)]) {
      await expectError(streamError(c.events, { afterCursor }), { code: Code.InvalidArgument, reason: "INVALID_CURSOR", field: "after_cursor" });
    }
    // The last event's own cursor is fine (nothing to send yet).
    const w = watch(c, { afterCursor: cursorOf(4) });
    await sleep(150);
    expect([w.events.length, w.error]).toEqual([0, undefined]);
  });

  it("a cursor older than retention is FAILED_PRECONDITION CURSOR_EXPIRED; OLDEST starts after what was removed", async () => {
    const c = tenant();
    const { a } = await someWrites(c); // seq 1–4
    await c.contacts.updateContact({ contactId: a?.id ?? "", revision: 2, info: { company: "Five" } }); // seq 5
    const all = await watch(c).waitFor(5);
    // Age the first three events past the 30-day retention.
    const old = Date.now() - 40 * 86_400_000;
    await t.server.db("events").where({ tenant_id: c.id }).andWhere("seq", "<=", 3).update({ created_at: old });
    for (const cursor of [all[0]?.cursor, all[1]?.cursor]) {
      await expectError(streamError(c.events, { afterCursor: cursor ?? "" }), {
        code: Code.FailedPrecondition,
        reason: "CURSOR_EXPIRED",
        metadata: { oldestAvailableAfter: all[2]?.cursor ?? "" },
      });
    }
    // The first event is gone from the log (seq 2 and 3 stay as their entities' newest events,
    // which number the entities' next events, but no cursor reaches them any more).
    expect((await t.server.db("events").where({ tenant_id: c.id }).orderBy("seq").pluck("seq")).map(Number)).not.toContain(1);
    // The cursor of the last removed event is still good: nothing after it was removed.
    const fromThird = watch(c, { afterCursor: all[2]?.cursor ?? "" });
    expect((await fromThird.waitFor(2)).map((e) => e.id)).toEqual([all[3]?.id, all[4]?.id]);
    const oldest = watch(c, { start: WatchStart.OLDEST });
    expect((await oldest.waitFor(2)).map((e) => e.id)).toEqual([all[3]?.id, all[4]?.id]);
    await sleep(100);
    expect([fromThird.events.length, oldest.events.length]).toEqual([2, 2]);
  });

  it("entity_event_sequence keeps counting after the entity's earlier events were removed by retention", async () => {
    const c = tenant();
    const created = (await c.contacts.createContact({ info: { name: { first: "Old" } } })).contact;
    const id = created?.id ?? "";
    await c.contacts.updateContact({ contactId: id, revision: 1, info: { company: "Two" } });
    const label = (await c.labels.findOrCreateLabel({ displayName: "Recycled" })).label?.key ?? "";
    await c.labels.deleteLabel({ key: label });
    // A contact whose life ended: none of its events need to stay.
    const gone = (await c.contacts.createContact({ info: { name: { first: "Gone" } } })).contact?.id ?? "";
    await c.contacts.deleteContact({ contactId: gone });
    await t.server
      .db("events")
      .where({ tenant_id: c.id })
      .update({ created_at: Date.now() - 40 * 86_400_000 });
    const w = watch(c);
    await sleep(200); // the watch start applies retention
    expect(await t.server.db("events").where({ tenant_id: c.id, entity_id: gone }).count({ n: "*" }).first()).toMatchObject({ n: 0 });
    await c.contacts.updateContact({ contactId: id, revision: 2, info: { company: "Three" } });
    // A label key can come back after its deletion; its sequence goes on.
    await c.labels.findOrCreateLabel({ displayName: "Recycled" });
    const events = await w.waitFor(2);
    expect(events.map((e) => [e.eventType, e.entityId, e.entityEventSequence])).toEqual([
      ["contact_updated", id, "3"],
      ["label_created", label, "3"],
    ]);
    // The kept events did their job and are gone: one row per entity, the new one.
    const rows = await t.server.db("events").where({ tenant_id: c.id }).orderBy("seq").select("entity_id", "entity_seq");
    expect(rows.map((r) => [r.entity_id, Number(r.entity_seq)])).toEqual([
      [id, 3],
      [label, 3],
    ]);
  });

  it("a watcher reading while retention removes events it has not reached gets CURSOR_EXPIRED, not a silent gap", async () => {
    const c = tenant();
    const id = (await c.contacts.createContact({ info: { name: { first: "Busy" } } })).contact?.id ?? "";
    for (let r = 1; r <= 5; r++) await c.contacts.updateContact({ contactId: id, revision: r, info: { company: `Rev ${r + 1}` } });
    // A slow consumer at position 2, reading two events at a time (the service layer, to set the batch).
    const abort = new AbortController();
    const caller = { tenantId: c.id, subject: "dev", identityType: "USER" as const };
    const options = { retentionMs: 30 * 86_400_000, pollMs: 50, batch: 2, bookmarkMs: 60_000 };
    const stream = watchEvents(t.server.deps, caller, { start: "OLDEST", entityFqdns: [], slugs: [] }, abort.signal, options);
    expect((await stream.next()).value).toEqual({ kind: "bookmark", seq: 0 });
    expect((await stream.next()).value).toMatchObject({ kind: "event", event: { seq: 1 } });
    expect((await stream.next()).value).toMatchObject({ kind: "event", event: { seq: 2 } });
    // Meanwhile events 1–4 pass retention and another watch's start removes them.
    await t.server
      .db("events")
      .where({ tenant_id: c.id })
      .andWhere("seq", "<=", 4)
      .update({ created_at: Date.now() - 40 * 86_400_000 });
    await pruneEvents(t.server.db, c.id, Date.now() - options.retentionMs);
    await expect(stream.next()).rejects.toMatchObject({ reason: "CURSOR_EXPIRED", metadata: { oldestAvailableAfter: cursorOf(4) } });
    abort.abort();
  });

  it("follows commits that do not wake it (another server process) by polling", async () => {
    const c = tenant();
    const w = watch(c);
    await sleep(200);
    // An outbox append that bypasses this process's in-memory wake-up, as another process's would.
    const caller = { tenantId: c.id, subject: "other-process", identityType: "APP" as const };
    await t.server.db.transaction((trx) =>
      appendEvents(trx, caller, [
        {
          eventType: "label_created",
          entityFqdn: "contacts.v1.label",
          slug: "created",
          entityId: "custom.elsewhere",
          payload: {
            kind: "label",
            label: { namespace: "custom", namespaceDisplayName: "Custom", key: "custom.elsewhere", displayName: "Elsewhere", labelType: "USER_DEFINED" },
          },
        },
      ]),
    );
    const started = Date.now();
    const [e] = await w.waitFor(1, 3_000);
    expect(e).toMatchObject({ entityId: "custom.elsewhere", identity: { identityType: IdentityType.APP, subject: "other-process" } });
    // Within the poll interval (EVENTS_POLL_MS, 500 ms by default), plus slack.
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("delivers each write to a connected watcher quickly (commit-to-watcher latency, 200 writes)", async () => {
    const c = tenant();
    const w = watch(c);
    await sleep(200);
    // response→watcher: from the write's response to the event's arrival (the event may even
    // overtake the response: 0). append→watcher: from the event's own time, taken in the write's
    // transaction before its commit, to its arrival: an upper bound of commit→watcher.
    const histogram = createHistogram();
    const fromAppend = createHistogram();
    let contactId = "";
    let revision = 0;
    for (let i = 0; i < 200; i++) {
      if (i % 10 === 0) {
        const res = await c.contacts.createContact({ info: { name: { first: `Writer ${i}` } } });
        contactId = res.contact?.id ?? "";
        revision = res.contact?.revision ?? 0;
      } else {
        const res = await c.contacts.updateContact({ contactId, revision, info: { company: `Co ${i}` } });
        revision = res.contact?.revision ?? 0;
      }
      const answered = performance.now();
      const [e] = (await w.waitFor(i + 1)).slice(i);
      expect(e).toMatchObject({ entityId: contactId, entityEventSequence: String(revision) });
      const eventTime = Number(e?.eventTime?.seconds) * 1000 + Math.floor((e?.eventTime?.nanos ?? 0) / 1e6);
      histogram.record(Math.max(1, Math.round(((w.arrivals[i] ?? Number.NaN) - answered) * 1000)));
      fromAppend.record(Math.max(1, ((w.arrivalsWall[i] ?? Number.NaN) - eventTime) * 1000));
    }
    const ms = (h: ReturnType<typeof createHistogram>, p: number) => (h.percentile(p) / 1000).toFixed(1);
    console.log(
      `[events] latency (${store}, 200 writes, response→watcher) p50=${ms(histogram, 50)}ms p99=${ms(histogram, 99)}ms max=${ms(histogram, 100)}ms;` +
        ` append→watcher p50=${ms(fromAppend, 50)}ms p99=${ms(fromAppend, 99)}ms`,
    );
    expect(histogram.percentile(99) / 1000).toBeLessThan(100);
  });

  it("an aborted watch ends on the server too (no watcher left behind); watchers of one tenant share one reader", async () => {
    const c = tenant();
    const bus = t.server.deps.eventBus as unknown as { emitter: { listenerCount(name: string): number } };
    const listeners = () => bus.emitter.listenerCount(c.id);
    const until = async (ok: () => boolean) => {
      const deadline = Date.now() + 5_000;
      while (!ok() && Date.now() < deadline) await sleep(20);
      return ok();
    };
    const feeds = t.server.deps.eventFeeds;
    const ws = Array.from({ length: 5 }, () => watch(c));
    expect(await until(() => feeds.watchers(c.id) === 5)).toBe(true);
    // Five watchers of one tenant, one reader of its log (one listener for its commits).
    expect(listeners()).toBe(1);
    await Promise.all(ws.map((w) => w.stop()));
    expect(await until(() => feeds.watchers(c.id) === 0 && listeners() === 0)).toBe(true);
  });
});

describe("WatchEvents from a plain @grpc/grpc-js + proto-loader client", () => {
  let t: TestServer;
  let client: grpc.Client;
  const tenant = "grpcjs-events";
  beforeAll(async () => {
    t = await startTestServer("sqlite");
    const root = join(import.meta.dirname, "..");
    const def = protoLoader.loadSync("contacts/v1/events_service.proto", {
      includeDirs: [join(root, "proto"), join(root, "third_party")],
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const v1 = (grpc.loadPackageDefinition(def).contacts as grpc.GrpcObject).v1 as grpc.GrpcObject;
    const Events = v1.EventsService as grpc.ServiceClientConstructor;
    client = new Events(`127.0.0.1:${t.server.grpcPort}`, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    client?.close();
    await t?.close();
  });

  interface EventObject {
    id: string;
    cursor: string;
    eventType: string;
    entityFqdn: string;
    slug: string;
    entityId: string;
    eventTime: { seconds: string; nanos: number };
    entityEventSequence: string;
    identity: { identityType: string; subject: string };
    tenantId: string;
    modifiedFields: string[];
    entity: string;
    contact?: { id: string; revision: number; info: { name: { first: string } } };
  }

  /** Reads `count` events from a WatchEvents call, then cancels it. */
  function read(req: object, count: number): Promise<EventObject[]> {
    const md = new grpc.Metadata();
    md.set("x-tenant-id", tenant);
    const call = (client as unknown as { WatchEvents(req: object, md: grpc.Metadata): grpc.ClientReadableStream<EventObject> }).WatchEvents(req, md);
    const got: EventObject[] = [];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        call.cancel();
        reject(new Error(`got ${got.length} of ${count} events`));
      }, 5_000);
      call.on("data", (e: EventObject) => {
        if (e.eventType === "bookmark") return;
        got.push(e);
        if (got.length === count) {
          clearTimeout(timer);
          call.cancel();
          resolve(got);
        }
      });
      call.on("error", (err: grpc.ServiceError) => {
        if (err.code === grpc.status.CANCELLED && got.length === count) return;
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  it("consumes the stream, cancels it, resumes from the last cursor, and reads INVALID_CURSOR", async () => {
    // (bookmarks are skipped by read(); their cursors are covered below)
    const { contacts } = t.clients(tenant);
    const ids: string[] = [];
    for (const first of ["One", "Two", "Three"]) ids.push((await contacts.createContact({ info: { name: { first } } })).contact?.id ?? "");
    await contacts.updateContact({ contactId: ids[0] ?? "", revision: 1, info: { company: "Updated" } });
    const firstTwo = await read({ start: "WATCH_START_OLDEST" }, 2);
    expect(firstTwo[0]).toMatchObject({
      eventType: "contact_created",
      entityFqdn: "contacts.v1.contact",
      slug: "created",
      entityId: ids[0],
      entityEventSequence: "1",
      identity: { identityType: "IDENTITY_TYPE_USER", subject: "dev" },
      tenantId: tenant,
      entity: "contact",
      contact: { id: ids[0], revision: 1, info: { name: { first: "One" } } },
    });
    expect(firstTwo[0]?.cursor).toMatch(CURSOR);
    expect(Number(firstTwo[0]?.eventTime.seconds)).toBeGreaterThan(1_700_000_000);
    const rest = await read({ afterCursor: firstTwo[1]?.cursor }, 2);
    expect(rest.map((e) => [e.eventType, e.entityId, e.entityEventSequence, e.modifiedFields])).toEqual([
      ["contact_created", ids[2], "1", []],
      ["contact_updated", ids[0], "2", ["info.company"]],
    ]);
    // Live: a write after the call started arrives.
    const live = read({ afterCursor: rest[1]?.cursor, filter: { slugs: ["deleted"] } }, 1);
    await new Promise((r) => setTimeout(r, 100));
    await contacts.deleteContact({ contactId: ids[1] ?? "" });
    expect((await live)[0]).toMatchObject({ eventType: "contact_deleted", entityId: ids[1], contact: { id: ids[1] } });
    const err = await read({ afterCursor: "garbage" }, 1).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe("bookmarks", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer("sqlite");
  });
  afterAll(async () => {
    await t?.close();
  });

  it("a watch from NOW that sees no change still holds a cursor that resumes without a gap", async () => {
    const { contacts } = t.clients("bm");
    const events = t.client(EventsService, "bm");
    await contacts.createContact({ info: { name: { first: "Before" } } });
    // Start at NOW, read only the opening bookmark, and drop the stream.
    const firstOf = async (req: Parameters<typeof events.watchEvents>[0], skipBookmarks: boolean) => {
      const abort = new AbortController();
      try {
        for await (const e of events.watchEvents(req, { signal: abort.signal })) {
          if (skipBookmarks && e.eventType === "bookmark") continue;
          abort.abort();
          return e;
        }
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      }
      throw new Error("the stream ended");
    };
    const opening = await firstOf({ start: WatchStart.NOW }, false);
    expect(opening.eventType).toBe("bookmark");
    expect(opening.entity.case).toBeUndefined();
    const cursor = opening.cursor;
    // A change made while nobody watched is the first thing the resumed stream delivers.
    const { contact } = await contacts.createContact({ info: { name: { first: "While away" } } });
    expect(await firstOf({ afterCursor: cursor }, true)).toMatchObject({ eventType: "contact_created", entityId: contact?.id });
  });

  it("events filtered out still move the position forward with a bookmark", async () => {
    const { labels } = t.clients("bm2");
    const events = t.client(EventsService, "bm2");
    const abort = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      try {
        for await (const e of events.watchEvents({ start: WatchStart.NOW, filter: { entityFqdns: ["contacts.v1.contact"] } }, { signal: abort.signal })) {
          seen.push(`${e.eventType}:${e.cursor}`);
          if (seen.length === 2) abort.abort();
        }
      } catch {
        // aborted
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    await labels.findOrCreateLabel({ displayName: "Not a contact event" });
    await done;
    expect(seen[0]?.startsWith("bookmark:")).toBe(true);
    expect(seen[1]).toBe(`bookmark:${cursorOf(1)}`);
  });
});
