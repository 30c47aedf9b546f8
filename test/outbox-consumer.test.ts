/**
 * RELIABILITY scenario 7, the outbox, on MariaDB: 2,000 writes by concurrent writers (creates,
 * updates, label/unlabel, deletes, merges; some failing on purpose: duplicates, stale revisions,
 * unknown labels, merges of contacts another writer just removed) while a consumer follows
 * WatchEvents and is killed and resumed from its last cursor 10 times at random moments.
 * Interleaved with them, "late committers" — transactions that take their place in the log and
 * then hold their commit for a while, some rolling back in the end — check that a cursor never
 * skips an event that commits late and never shows one that rolled back.
 *
 * Figures: committed writes without an event, events of rolled-back writes, events the consumer
 * saw twice, per-entity order inversions, and outbox events the consumer never saw: all 0.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Contact } from "../gen/contacts/v1/contact_pb.js";
import { type Event, EventsService, WatchStart } from "../gen/contacts/v1/events_service_pb.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import type { NewEvent } from "../server/src/domain/events.js";
import { appendEvents } from "../server/src/store/events.js";
import { startTestServer, type TestServer } from "./support/server.js";

const WRITES = Number(process.env.S7_WRITES ?? 2_000);
const WRITERS = 6;
const RESTARTS = 10;
const LATE_COMMITS = 16;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(Math.random() * items.length)];

interface LiveContact {
  id: string;
  revision: number;
  email: string;
}

describe("scenario 7: outbox and a resumable consumer on mysql", () => {
  let t: TestServer;
  const tenantId = "scenario7";
  beforeAll(async () => {
    t = await startTestServer("mysql");
  });
  afterAll(async () => {
    await t?.close();
  });

  it(`${WRITES} writes, consumer killed ${RESTARTS}×: nothing missing, nothing twice, nothing out of order, nothing rolled back`, {
    timeout: 120_000,
  }, async () => {
    const { contacts, labels } = t.clients(tenantId);
    const labelKeys: string[] = [];
    for (const name of ["Gold", "Silver", "Bronze", "Lead"]) labelKeys.push((await labels.findOrCreateLabel({ displayName: name })).label?.key ?? "");

    // ---- the consumer -------------------------------------------------------------------------
    const seen: Event[] = [];
    const timesSeen = new Map<string, number>();
    const lastEntitySeq = new Map<string, number>();
    let inversions = 0;
    let cursor = "";
    let restarts = 0;
    let selfEnded = 0;
    const streamErrors: string[] = [];
    let consumer: { abort: AbortController; done: Promise<void> } | undefined;
    const eventsClient = t.client(EventsService, tenantId);
    const startConsumer = () => {
      const abort = new AbortController();
      const req = cursor ? { afterCursor: cursor } : { start: WatchStart.OLDEST };
      const done = (async () => {
        try {
          for await (const e of eventsClient.watchEvents(req, { signal: abort.signal })) {
            // Killed: whatever is still in flight is lost with the process.
            if (abort.signal.aborted) return;
            if (e.eventType === "bookmark") {
              cursor = e.cursor;
              continue;
            }
            seen.push(e);
            timesSeen.set(e.id, (timesSeen.get(e.id) ?? 0) + 1);
            const key = `${e.entityFqdn}/${e.entityId}`;
            const seq = Number(e.entityEventSequence);
            if (seq <= (lastEntitySeq.get(key) ?? 0)) inversions++;
            lastEntitySeq.set(key, seq);
            cursor = e.cursor;
          }
        } catch (err) {
          if (abort.signal.aborted) return;
          // A stream that ends with DEADLINE_EXCEEDED (a client-set deadline) is resumed from its
          // cursor, as after a kill.
          if (!(err instanceof ConnectError && err.code === Code.DeadlineExceeded)) {
            streamErrors.push(err instanceof ConnectError ? `${Code[err.code]} ${err.rawMessage}` : String(err));
          }
        }
        // The stream ended without being killed: resume.
        if (!abort.signal.aborted) {
          selfEnded++;
          startConsumer();
        }
      })();
      consumer = { abort, done };
    };
    const kill = async () => {
      const c = consumer;
      c?.abort.abort();
      await c?.done;
      restarts++;
      await sleep(Math.random() * 30);
      startConsumer();
    };
    startConsumer();

    // ---- the writers --------------------------------------------------------------------------
    const live: LiveContact[] = [];
    let attempted = 0;
    let serial = 0;
    const outcomes: Record<string, number> = {};
    /** What every successful response says was committed. */
    const committedRevisions = new Set<string>(); // `${id}@${revision}` for created/updated contacts
    const deletedByDelete = new Set<string>();
    const deletedByMerge = new Set<string>();
    const merges = new Map<string, string[]>(); // `${target}@${revision}` → sources
    const unexpected: string[] = [];

    const remember = (c: Contact | undefined) => {
      if (!c) throw new Error("no contact in a successful response");
      committedRevisions.add(`${c.id}@${c.revision}`);
      const known = live.find((l) => l.id === c.id);
      if (known && known.revision < c.revision) known.revision = c.revision;
    };
    const forget = (id: string) => {
      const i = live.findIndex((l) => l.id === id);
      if (i >= 0) live.splice(i, 1);
    };
    const record = async (kind: string, call: () => Promise<void>, expectedFailures: string[]) => {
      attempted++;
      try {
        await call();
        outcomes[`${kind}:ok`] = (outcomes[`${kind}:ok`] ?? 0) + 1;
      } catch (err) {
        const reason = err instanceof ConnectError ? err.findDetails(ErrorInfoSchema)[0]?.reason : undefined;
        outcomes[`${kind}:${reason ?? "?"}`] = (outcomes[`${kind}:${reason ?? "?"}`] ?? 0) + 1;
        if (!reason || !expectedFailures.includes(reason)) unexpected.push(`${kind}: ${err instanceof Error ? err.message : String(err)}`);
      }
    };

    const oneWrite = async () => {
      const r = Math.random();
      const target = pick(live);
      if (r < 0.25 || live.length < 10) {
        // Create; one in twelve reuses an email that is (or was) taken: DUPLICATE_CONTACT_EXISTS.
        const dup = Math.random() < 1 / 12 ? pick(live) : undefined;
        const email = dup?.email ?? `w${++serial}@s7.io`;
        await record("create", async () => {
          const c = (await contacts.createContact({ info: { name: { first: `W${serial}` }, emails: { items: [{ email }] } } })).contact;
          remember(c);
          live.push({ id: c?.id ?? "", revision: c?.revision ?? 1, email });
        }, ["DUPLICATE_CONTACT_EXISTS"]);
      } else if (r < 0.55 && target) {
        // Update at the revision this writer knows; one in ten on purpose one behind.
        const stale = Math.random() < 0.1 && target.revision > 1;
        await record(
          "update",
          async () =>
            remember(
              (await contacts.updateContact({ contactId: target.id, revision: target.revision - (stale ? 1 : 0), info: { company: `Co ${attempted}` } }))
                .contact,
            ),
          ["CONTACT_ALREADY_CHANGED", "CONTACT_NOT_FOUND"],
        );
      } else if (r < 0.8 && target) {
        // Label or unlabel (a no-op when nothing changes); one in twenty with an unknown label.
        const key = Math.random() < 0.05 ? "custom.no-such-label" : (pick(labelKeys) ?? "");
        const add = Math.random() < 0.6;
        await record(add ? "label" : "unlabel", async () => {
          const req = { contactId: target.id, labelKeys: [key] };
          remember((add ? await contacts.labelContact(req) : await contacts.unlabelContact(req)).contact);
        }, ["LABEL_NOT_FOUND", "CONTACT_NOT_FOUND"]);
      } else if (r < 0.92 && target) {
        await record("delete", async () => {
          await contacts.deleteContact({ contactId: target.id });
          deletedByDelete.add(target.id);
          forget(target.id);
        }, ["CONTACT_NOT_FOUND"]);
      } else if (target) {
        const sources = live
          .filter((l) => l.id !== target.id)
          .sort(() => Math.random() - 0.5)
          .slice(0, 1 + Math.floor(Math.random() * 2));
        await record("merge", async () => {
          const req = { targetContactId: target.id, targetContactRevision: target.revision, sourceContactIds: sources.map((s) => s.id) };
          const merged = (await contacts.mergeContacts(req)).contact;
          remember(merged);
          merges.set(`${target.id}@${merged?.revision}`, req.sourceContactIds);
          for (const s of sources) {
            deletedByMerge.add(s.id);
            forget(s.id);
          }
        }, ["CONTACT_ALREADY_CHANGED", "CONTACT_NOT_FOUND"]);
      }
    };

    // ---- late committers ----------------------------------------------------------------------
    // A transaction that appends its event (taking its place in the log), then holds its commit
    // while other writers go on, as a slow transaction of any process would; every fourth rolls back.
    const lateCommitted = new Set<string>();
    const lateRolledBack = new Set<string>();
    const lateCommitter = async (i: number) => {
      const caller = { tenantId, subject: "late-committer", identityType: "APP" as const };
      const event: NewEvent = {
        eventType: "label_updated",
        entityFqdn: "contacts.v1.label",
        slug: "updated",
        entityId: `late-${i}`,
        modifiedFields: ["displayName"],
        payload: {
          kind: "label",
          label: { namespace: "custom", namespaceDisplayName: "Custom", key: `late-${i}`, displayName: `Late ${i}`, labelType: "USER_DEFINED" },
        },
      };
      const rollBack = i % 4 === 3;
      let ids: string[] = [];
      try {
        await t.server.db.transaction(async (trx) => {
          ids = (await appendEvents(trx, caller, [event])).map((e) => e.id);
          await sleep(40 + Math.random() * 80);
          if (rollBack) throw new Error("rolled back on purpose");
        });
        for (const id of ids) lateCommitted.add(id);
      } catch (err) {
        if (!rollBack) throw err;
        for (const id of ids) lateRolledBack.add(id);
      }
    };

    const started = Date.now();
    const cpuBefore = process.cpuUsage();
    const killAt = Array.from({ length: RESTARTS }, () => Math.floor(100 + Math.random() * (WRITES - 200))).sort((a, b) => a - b);
    const lateAt = Array.from({ length: LATE_COMMITS }, () => Math.floor(Math.random() * WRITES)).sort((a, b) => a - b);
    const killer = (async () => {
      for (const at of killAt) {
        while (attempted < at) await sleep(5);
        await kill();
      }
    })();
    const late = (async () => {
      for (const [i, at] of lateAt.entries()) {
        while (attempted < at) await sleep(5);
        await lateCommitter(i);
      }
    })();
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (attempted < WRITES) await oneWrite();
      }),
    );
    await Promise.all([killer, late]);
    const writing = Date.now() - started;
    const cpu = process.cpuUsage(cpuBefore);

    // ---- compare ------------------------------------------------------------------------------
    const db = t.server.db;
    const outbox = (await db("events").where({ tenant_id: tenantId }).orderBy("seq")) as {
      id: string;
      seq: number | string;
      event_type: string;
      entity_id: string;
    }[];
    const lastOutboxId = outbox.at(-1)?.id;
    const catchUp = Date.now() + 15_000;
    while (!timesSeen.has(lastOutboxId ?? "") && Date.now() < catchUp) await sleep(20);
    consumer?.abort.abort();
    await consumer?.done;

    const outboxIds = new Set(outbox.map((e) => e.id));
    const seqOf = new Map(outbox.map((e) => [e.id, Number(e.seq)]));
    const missing = outbox.filter((e) => !timesSeen.has(e.id)).length;
    const duplicates = [...timesSeen.values()].reduce((n, k) => n + (k - 1), 0);
    // The consumer saw the log in its order, across restarts.
    const seenSeqs = seen.map((e) => seqOf.get(e.id) ?? -1);
    const outOfLogOrder = seenSeqs.filter((s, i) => i > 0 && s <= (seenSeqs[i - 1] ?? 0)).length;

    // Every committed write has exactly one event, and every event belongs to a committed write.
    const contactOf = (e: Event) => (e.entity.case === "contact" ? e.entity.value : undefined);
    const revisionEvents = new Map<string, number>();
    const deleteEvents = new Map<string, Event[]>();
    const mergeEvents = new Map<string, Event>();
    let rolledBackWithEvent = 0;
    const unexplained: string[] = [];
    for (const e of seen) {
      if (lateRolledBack.has(e.id)) {
        rolledBackWithEvent++;
        continue;
      }
      if (e.entityFqdn === "contacts.v1.label") {
        if (!lateCommitted.has(e.id) && !(e.eventType === "label_created" && labelKeys.includes(e.entityId))) unexplained.push(`${e.eventType} ${e.entityId}`);
        continue;
      }
      if (e.eventType === "contact_created" || e.eventType === "contact_updated") {
        const key = `${e.entityId}@${contactOf(e)?.revision}`;
        revisionEvents.set(key, (revisionEvents.get(key) ?? 0) + 1);
        if (!committedRevisions.has(key)) unexplained.push(`${e.eventType} ${key}`);
      } else if (e.eventType === "contact_deleted") {
        deleteEvents.set(e.entityId, [...(deleteEvents.get(e.entityId) ?? []), e]);
        const viaMerge = e.originatedFrom === "merge";
        if (!(viaMerge ? deletedByMerge : deletedByDelete).has(e.entityId)) unexplained.push(`contact_deleted ${e.entityId} (${e.originatedFrom})`);
      } else if (e.eventType === "contact_merged") {
        const data = e.entity.case === "contactMerged" ? e.entity.value : undefined;
        const key = `${data?.targetContactId}@${data?.targetContact?.revision}`;
        mergeEvents.set(key, e);
        if (JSON.stringify(merges.get(key)) !== JSON.stringify(data?.sourceContactIds)) unexplained.push(`contact_merged ${key}`);
      } else unexplained.push(e.eventType);
    }
    rolledBackWithEvent += unexplained.length;
    rolledBackWithEvent += [...lateRolledBack].filter((id) => outboxIds.has(id)).length;
    let committedWithoutEvent = 0;
    for (const key of committedRevisions) if (revisionEvents.get(key) !== 1) committedWithoutEvent++;
    for (const id of [...deletedByDelete, ...deletedByMerge]) if (deleteEvents.get(id)?.length !== 1) committedWithoutEvent++;
    for (const key of merges.keys()) if (!mergeEvents.has(key)) committedWithoutEvent++;
    for (const id of lateCommitted) if (timesSeen.get(id) !== 1) committedWithoutEvent++;

    const committed = Object.entries(outcomes)
      .filter(([k]) => k.endsWith(":ok"))
      .reduce((n, [, v]) => n + v, 0);
    const failed = attempted - committed;
    console.log(
      `[scenario 7] writes=${attempted} committed=${committed} rolledBack=${failed} events=${outbox.length} ` +
        `lateCommits=${lateCommitted.size}+${lateRolledBack.size}rolledBack missing=${missing} duplicates=${duplicates} ` +
        `inversions=${inversions} rolledBackWithEvent=${rolledBackWithEvent} committedWithoutEvent=${committedWithoutEvent} ` +
        `consumerRestarts=${restarts} (streams ended by the server: ${selfEnded}) writing=${(writing / 1000).toFixed(1)}s cpu=${((cpu.user + cpu.system) / 1e6).toFixed(1)}s`,
    );
    console.log(`[scenario 7] outcomes ${JSON.stringify(outcomes)}`);

    expect(unexpected).toEqual([]);
    expect(streamErrors).toEqual([]);
    expect(unexplained).toEqual([]);
    expect({ missing, duplicates, inversions, outOfLogOrder, rolledBackWithEvent, committedWithoutEvent, restarts }).toEqual({
      missing: 0,
      duplicates: 0,
      inversions: 0,
      outOfLogOrder: 0,
      rolledBackWithEvent: 0,
      committedWithoutEvent: 0,
      restarts: RESTARTS,
    });
    // The run exercised what it claims to: failures of each kind, merges, late commits both ways.
    expect(attempted).toBeGreaterThanOrEqual(WRITES);
    expect(failed).toBeGreaterThan(0);
    expect(merges.size).toBeGreaterThan(0);
    expect(lateCommitted.size).toBeGreaterThan(0);
    expect(lateRolledBack.size).toBeGreaterThan(0);
    // Rows agree with the log: every contact created and not deleted is there, once.
    const rows = Number((await db("contacts").where({ tenant_id: tenantId }).count({ n: "*" }).first())?.n);
    const createdIds = new Set(seen.filter((e) => e.eventType === "contact_created").map((e) => e.entityId));
    expect(rows).toBe(createdIds.size - deleteEvents.size);
  });
});
