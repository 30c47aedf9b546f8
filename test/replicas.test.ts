/**
 * Stateless replicas (issue 17 item 1), on MariaDB: two server processes' worth of servers on one
 * database. A commit through replica A wakes a watcher on replica B at once through NATS, though B
 * polls only once a minute (and, the control, a replica without NATS does not hear of it until its
 * poll); the outbox stays the source of truth, so a watcher resuming by cursor on either replica
 * misses nothing. And watchers of one tenant share one reader: the reads of the log while 1,000
 * watchers follow a tenant are about those of one watcher.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContactsService } from "../gen/contacts/v1/contacts_service_pb.js";
import { type Event, EventsService, WatchStart } from "../gen/contacts/v1/events_service_pb.js";
import { testNats, type TestNats } from "./support/nats.js";
import { startTestServer, type TestServer } from "./support/server.js";

const headers = (tenant: string) => ({ "x-tenant-id": tenant });

/** A watcher on one server: what it received, and when. */
class Watcher {
  readonly events: { event: Event; at: number }[] = [];
  private readonly abort = new AbortController();
  readonly started: Promise<void>;
  readonly done: Promise<void>;

  constructor(client: Client<typeof EventsService>, tenant: string, req: { afterCursor?: string; start?: WatchStart } = {}) {
    let markStarted!: () => void;
    this.started = new Promise((r) => {
      markStarted = r;
    });
    this.done = (async () => {
      try {
        for await (const e of client.watchEvents(
          { filter: { entityFqdns: ["contacts.v1.contact"] }, ...req },
          { headers: headers(tenant), signal: this.abort.signal },
        )) {
          if (e.eventType === "bookmark") markStarted();
          else this.events.push({ event: e, at: Date.now() });
        }
      } catch (err) {
        if (!this.abort.signal.aborted) throw err;
      }
    })();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

async function waitFor(what: string, ok: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  void what;
  return true;
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? 0;

describe("replicas on one MariaDB, woken through NATS", () => {
  let nats: TestNats;
  let a: TestServer;
  let b: TestServer;
  let lonely: TestServer;
  beforeAll(async () => {
    nats = await testNats();
    // Pollers once a minute: whatever arrives sooner was woken.
    a = await startTestServer("mysql", { natsUrl: nats.url, eventsPollMs: 60_000 });
    const shared = { databaseUrl: a.databaseUrl };
    b = await startTestServer("mysql", { ...shared, natsUrl: nats.url, eventsPollMs: 60_000 });
    lonely = await startTestServer("mysql", { ...shared, eventsPollMs: 60_000 });
    // Both replicas connect to NATS in the background.
    await new Promise((r) => setTimeout(r, 300));
  }, 60_000);
  afterAll(async () => {
    // A owns the database: it goes last.
    await Promise.all([b?.close(), lonely?.close()]);
    await a?.close();
    await nats?.stop();
  });

  it("a commit through replica A reaches a watcher on replica B at once; without NATS only at the next poll", { timeout: 60_000 }, async () => {
    const tenant = "replicas1";
    const contactsA = createClient(ContactsService, createGrpcTransport({ baseUrl: a.grpcUrl }));
    const onB = new Watcher(createClient(EventsService, createGrpcTransport({ baseUrl: b.grpcUrl })), tenant);
    const onLonely = new Watcher(createClient(EventsService, createGrpcTransport({ baseUrl: lonely.grpcUrl })), tenant);
    await Promise.all([onB.started, onLonely.started]);

    const latencies: number[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      const { contact } = await contactsA.createContact({ info: { name: { first: `R${i}` } } }, { headers: headers(tenant) });
      const acked = Date.now();
      ids.push(contact?.id ?? "");
      expect(await waitFor("the event on B", () => onB.events.length > i, 10_000), `event ${i} reached B`).toBe(true);
      latencies.push((onB.events[i]?.at ?? 0) - acked);
    }
    expect(onB.events.map((e) => e.event.entityId)).toEqual(ids);
    // The control: a replica without NATS, polling once a minute, has not heard of any of them.
    expect(onLonely.events).toHaveLength(0);
    console.log(
      `[replicas] create on A (acknowledged) → event on B over NATS: n=${latencies.length} p50=${percentile(latencies, 50)} ms p99=${percentile(latencies, 99)} ms max=${Math.max(...latencies)} ms; replica without NATS received ${onLonely.events.length} in the same time`,
    );

    // Resuming by cursor on the other replica misses nothing and repeats nothing.
    const cursor = onB.events[49]?.event.cursor ?? "";
    await Promise.all([onB.stop(), onLonely.stop()]);
    const resumed = new Watcher(createClient(EventsService, createGrpcTransport({ baseUrl: lonely.grpcUrl })), tenant, { afterCursor: cursor });
    expect(await waitFor("the rest on the other replica", () => resumed.events.length >= 50, 10_000)).toBe(true);
    await resumed.stop();
    expect(resumed.events.map((e) => e.event.entityId)).toEqual(ids.slice(50));
  });

  it("1,000 watchers of one tenant cost the log about the reads one does", { timeout: 120_000 }, async () => {
    const server = await startTestServer("mysql", { eventsPollMs: 200, maxConcurrentStreams: 2000 });
    try {
      const tenant = "replicas-many";
      const contacts = createClient(ContactsService, createGrpcTransport({ baseUrl: server.grpcUrl }));
      const events = createClient(EventsService, createGrpcTransport({ baseUrl: server.grpcUrl }));
      const feeds = server.server.deps.eventFeeds;
      /** Reads of the events table over 3 s with `n` watchers following the tenant while it commits. */
      const readsWith = async (n: number) => {
        const watchers = Array.from({ length: n }, () => new Watcher(events, tenant, { start: WatchStart.NOW }));
        await Promise.all(watchers.map((w) => w.started));
        let reads = 0;
        const count = (q: { sql: string }) => {
          if (/from `events`/.test(q.sql)) reads++;
        };
        server.server.db.on("query", count);
        const before = feeds.reads;
        const t0 = Date.now();
        for (let i = 0; i < 20; i++) {
          await contacts.createContact({ info: { name: { first: `M${i}` } } }, { headers: headers(tenant) });
          await new Promise((r) => setTimeout(r, 150));
        }
        server.server.db.off("query", count);
        const seconds = (Date.now() - t0) / 1000;
        expect(await waitFor("every watcher has every event", () => watchers.every((w) => w.events.length >= 20), 30_000)).toBe(true);
        await Promise.all(watchers.map((w) => w.stop()));
        return { n, seconds, reads, perSecond: reads / seconds, feedReads: feeds.reads - before };
      };
      const one = await readsWith(1);
      const many = await readsWith(1000);
      console.log(
        `[watchers] reads of the events table while the tenant commits 20 times, 150 ms apart: 1 watcher ${one.reads} in ${one.seconds.toFixed(1)} s (${one.perSecond.toFixed(1)}/s); 1,000 watchers ${many.reads} in ${many.seconds.toFixed(1)} s (${many.perSecond.toFixed(1)}/s)`,
      );
      expect(many.perSecond).toBeLessThanOrEqual(one.perSecond * 1.5 + 1);
    } finally {
      await server.close();
    }
  });
});
