/**
 * The service on a 3-node MariaDB Galera cluster (issue 17 items 2 and 3), started by the test
 * (test/support/galera.ts), with HAProxy in front sending every connection to one Synced node:
 *
 * - two replicas writing one tenant through two nodes: their transactions conflict at
 *   certification (error 1213 at COMMIT, both bumping the tenant's event sequence row) and are
 *   retried by the service (store/db.ts inTransaction); the rare one that outlasts those retries
 *   reaches the client as UNAVAILABLE, which it retries with the same request_id;
 * - a watcher resuming on a node that lags behind the node its cursor came from waits for it
 *   rather than being told its cursor is invalid;
 * - the writing node SIGKILLed 5 times, SIGSTOPped for 10 s, and 2 of the 3 nodes killed at once:
 *   no acknowledged write is lost, every node ends with the same rows, and the change stream has
 *   no gap and no repeat.
 */
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContactsService } from "../gen/contacts/v1/contacts_service_pb.js";
import { EventsService, WatchStart } from "../gen/contacts/v1/events_service_pb.js";
import { GaleraCluster } from "./support/galera.js";
import { startTestServer, type TestServer } from "./support/server.js";

const missing = GaleraCluster.available();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Ack {
  id: string;
  /** When the attempt that was acknowledged started, and when its answer came. */
  started: number;
  at: number;
}

/**
 * `count` writers creating contacts in one tenant until stopped. As a client of the service does
 * (the SDK too), a failed call is retried with the same request_id, which the service applies
 * once however many attempts reach it.
 */
function startWriters(contacts: Client<typeof ContactsService>, tenant: string, prefix: string, count = 8) {
  const headers = { "x-tenant-id": tenant };
  const acked: Ack[] = [];
  const errors = new Map<string, number>();
  let stop = false;
  const writer = async (w: number) => {
    for (let i = 0; !stop; i++) {
      for (;;) {
        const started = Date.now();
        try {
          const { contact } = await contacts.createContact(
            { info: { name: { first: `${prefix}${w}n${i}` } }, requestId: `${prefix}-${w}-${i}` },
            { headers, timeoutMs: 5000 },
          );
          acked.push({ id: contact?.id ?? "", started, at: Date.now() });
          break;
        } catch (err) {
          const code = Code[ConnectError.from(err).code];
          errors.set(code, (errors.get(code) ?? 0) + 1);
          if (stop) return;
          await sleep(100);
        }
      }
    }
  };
  const running = Array.from({ length: count }, (_, w) => writer(w));
  return {
    acked,
    errors,
    /** Milliseconds from `since` to the first acknowledgement of a call made after it (waiting up to 60 s). */
    async firstAckAfter(since: number): Promise<number> {
      const deadline = since + 60_000;
      while (!acked.some((a) => a.started > since) && Date.now() < deadline) await sleep(20);
      return (acked.find((a) => a.started > since)?.at ?? Number.POSITIVE_INFINITY) - since;
    },
    async stop(): Promise<void> {
      stop = true;
      await Promise.all(running);
    },
  };
}

/** A watcher of one tenant that resumes from its last cursor whenever its stream breaks. */
function startWatcher(events: Client<typeof EventsService>, tenant: string) {
  const headers = { "x-tenant-id": tenant };
  const seen: { cursor: string; type: string; entityId: string }[] = [];
  let cursor: string | undefined;
  const abort = new AbortController();
  const running = (async () => {
    while (!abort.signal.aborted) {
      try {
        for await (const e of events.watchEvents(cursor ? { afterCursor: cursor } : { start: WatchStart.OLDEST }, { headers, signal: abort.signal })) {
          cursor = e.cursor;
          if (e.eventType !== "bookmark") seen.push({ cursor: e.cursor, type: e.eventType, entityId: e.entityId });
        }
      } catch {
        await sleep(100);
      }
    }
  })();
  return {
    seen,
    /**
     * Stops once the created event of every one of `acked` has arrived, or after `ms` (a watcher
     * that was reconnecting when the writers stopped catches up first: late is not lost).
     */
    async stopWhenSeen(acked: readonly Ack[], ms = 20_000): Promise<void> {
      const deadline = Date.now() + ms;
      const created = () => new Set(seen.filter((e) => e.type === "contact_created").map((e) => e.entityId));
      while (Date.now() < deadline && acked.some((a) => !created().has(a.id))) await sleep(100);
      abort.abort();
      await running;
    },
  };
}

/** What each node holds of the tenant, read once it has applied everything committed before. */
async function nodeContents(cluster: GaleraCluster, tenant: string, acked: Ack[]) {
  const perNode: { rows: number; checksum: string; missing: number }[] = [];
  const deadline = Date.now() + 60_000;
  while (!(await cluster.whole())) {
    if (Date.now() > deadline) throw new Error("the three nodes are not Synced in one component");
    await sleep(250);
  }
  for (let n = 0; n < 3; n++) {
    const db = await mysql.createConnection({ uri: `${cluster.url(n)}/contacts` });
    try {
      await db.query("set session wsrep_sync_wait = 1");
      const [rows] = (await db.query("select id from contacts where tenant_id = ?", [tenant])) as unknown as [{ id: string }[]];
      const ids = new Set(rows.map((r) => r.id));
      const [[sum]] = (await db.query("checksum table contacts")) as unknown as [[{ Checksum: number }]];
      perNode.push({ rows: rows.length, checksum: String(sum?.Checksum), missing: acked.filter((a) => !ids.has(a.id)).length });
    } catch (err) {
      throw new Error(`reading node ${n + 1}: ${String(err)}`);
    } finally {
      await db.end();
    }
  }
  return perNode;
}

/** The checks every fault ends with: nothing acknowledged lost, nodes equal, the stream exact. */
function expectIntact(perNode: Awaited<ReturnType<typeof nodeContents>>, acked: Ack[], seen?: { cursor: string; type: string; entityId: string }[]) {
  expect(
    perNode.map((p) => p.missing),
    "acknowledged creates missing per node",
  ).toEqual([0, 0, 0]);
  expect(new Set(perNode.map((p) => p.rows)).size, "rows per node").toBe(1);
  expect(new Set(perNode.map((p) => p.checksum)).size, "table checksums per node").toBe(1);
  if (!seen) return;
  const cursors = seen.map((e) => e.cursor);
  expect(cursors.length - new Set(cursors).size, "events streamed twice").toBe(0);
  const created = new Set(seen.filter((e) => e.type === "contact_created").map((e) => e.entityId));
  const notStreamed = acked.filter((a) => !created.has(a.id));
  if (notStreamed.length > 0)
    console.log(
      `[galera] not streamed: ${JSON.stringify(notStreamed)}; last streamed ${JSON.stringify(seen.slice(-3))}; acknowledged last at ${Math.max(...acked.map((a) => a.at))}`,
    );
  expect(notStreamed.length, "acknowledged creates not streamed").toBe(0);
  expect(seen.length, "events streamed = contacts on the nodes").toBe(perNode[0]?.rows);
}

/** The first node that is Synced: the one HAProxy sends connections to (its list is in node order). */
async function writingNode(cluster: GaleraCluster): Promise<number> {
  for (let n = 0; n < 3; n++) if ((await cluster.state(n)) === 4) return n;
  throw new Error("no node is Synced");
}

describe.skipIf(missing !== undefined)("the service on a 3-node Galera cluster", () => {
  let cluster: GaleraCluster;
  let a: TestServer;
  let b: TestServer;
  /** A replica connected through HAProxy. */
  let h: TestServer;
  beforeAll(async () => {
    cluster = await GaleraCluster.up();
    const admin = await mysql.createConnection({ uri: cluster.url(0) });
    await admin.query("create database contacts");
    await admin.end();
    a = await startTestServer("mysql", { databaseUrl: `${cluster.url(0)}/contacts` });
    b = await startTestServer("mysql", { databaseUrl: `${cluster.url(1)}/contacts`, migrateOnStart: false });
    const port = await cluster.haproxy();
    h = await startTestServer("mysql", { databaseUrl: `mysql://root@127.0.0.1:${port}/contacts`, migrateOnStart: false });
  }, 240_000);
  afterAll(async () => {
    await h?.close();
    await b?.close();
    await a?.close();
    await cluster?.down();
  });

  it("two replicas writing one tenant through two nodes: certification conflicts are retried, every create lands once on every node", {
    timeout: 120_000,
  }, async () => {
    const tenant = "galera1";
    const headers = { "x-tenant-id": tenant };
    const clients = [a, b].map((s) => createClient(ContactsService, createGrpcTransport({ baseUrl: s.grpcUrl })));
    const failures = new Map<string, number>();
    const ids: string[] = [];
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        const contacts = clients[w % 2] as (typeof clients)[number];
        for (let i = 0; i < 25; i++) {
          for (let attempt = 1; ; attempt++) {
            try {
              const { contact } = await contacts.createContact({ info: { name: { first: `g${w}n${i}` } }, requestId: `g-${w}-${i}` }, { headers });
              ids.push(contact?.id ?? "");
              break;
            } catch (err) {
              const code = Code[ConnectError.from(err).code];
              failures.set(code, (failures.get(code) ?? 0) + 1);
              if (code !== "Unavailable" || attempt >= 5) break;
            }
          }
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const perNode = await nodeContents(
      cluster,
      tenant,
      ids.map((id) => ({ id, started: 0, at: 0 })),
    );
    console.log(
      `[galera] 2 replicas on 2 nodes, 16 writers, 400 creates in ${seconds.toFixed(1)} s: acknowledged=${ids.length} errors the clients retried=${JSON.stringify(Object.fromEntries(failures))} rows per node=${perNode.map((p) => p.rows).join("/")}`,
    );
    expect(
      [...failures.keys()].filter((k) => k !== "Unavailable"),
      "only UNAVAILABLE, which a client retries",
    ).toEqual([]);
    expect(new Set(ids).size).toBe(400);
    expect(perNode.map((p) => p.rows)).toEqual([400, 400, 400]);
  });

  it("a watcher resuming on a node that lags behind its cursor's node waits for it: no false INVALID_CURSOR", { timeout: 60_000 }, async () => {
    const tenant = "galera-lag";
    const headers = { "x-tenant-id": tenant };
    const onA = createClient(ContactsService, createGrpcTransport({ baseUrl: a.grpcUrl }));
    const eventsA = createClient(EventsService, createGrpcTransport({ baseUrl: a.grpcUrl }));
    const eventsB = createClient(EventsService, createGrpcTransport({ baseUrl: b.grpcUrl }));
    await onA.createContact({ info: { name: { first: "before" } } }, { headers });
    // Replica B knows the tenant (and node 2 has its row) before node 2 starts lagging.
    await createClient(ContactsService, createGrpcTransport({ baseUrl: b.grpcUrl })).listContacts({}, { headers });

    // Node 2 stops applying the others' transactions: FLUSH TABLES WITH READ LOCK desyncs it and
    // pauses its appliers until UNLOCK TABLES.
    const lagging = await mysql.createConnection({ uri: cluster.url(1) });
    await lagging.query("flush tables with read lock");
    let unlocked = false;
    try {
      const { contact } = await onA.createContact({ info: { name: { first: "while lagging" } } }, { headers });
      let cursor = "";
      for await (const e of eventsA.watchEvents({ start: WatchStart.OLDEST }, { headers })) {
        if (e.entityId === contact?.id) {
          cursor = e.cursor;
          break;
        }
      }
      const peek = await mysql.createConnection({ uri: `${cluster.url(1)}/contacts` });
      const [[row]] = (await peek.query("select count(*) as n from contacts where tenant_id = ?", [tenant])) as unknown as [[{ n: number }]];
      await peek.end();
      expect(Number(row?.n), "node 2 has not applied the second create").toBe(1);

      // Resume on B (node 2) from the cursor A gave: it waits for node 2 to catch up.
      const got: string[] = [];
      let failure: unknown;
      const watchAbort = new AbortController();
      const watching = (async () => {
        try {
          for await (const e of eventsB.watchEvents({ afterCursor: cursor }, { headers, signal: watchAbort.signal })) got.push(e.eventType);
        } catch (err) {
          if (!watchAbort.signal.aborted) failure = err;
        }
      })();
      await sleep(1500);
      expect(failure, "the watcher was refused while node 2 lagged").toBeUndefined();
      await lagging.query("unlock tables");
      unlocked = true;
      const third = await onA.createContact({ info: { name: { first: "after" } } }, { headers });
      const deadline = Date.now() + 20_000;
      while (!got.includes("contact_created") && failure === undefined && Date.now() < deadline) await sleep(20);
      watchAbort.abort();
      await watching;
      console.log(
        `[galera lag] watcher on the lagging node: ${JSON.stringify(got)} failure=${failure ? ConnectError.from(failure).message : "none"} (third contact ${third.contact?.id})`,
      );
      expect(failure).toBeUndefined();
      expect(got).toEqual(["bookmark", "contact_created"]);
    } finally {
      if (!unlocked) await lagging.query("unlock tables");
      await lagging.end();
    }
  });

  it("the writing node SIGKILLed 5 times behind HAProxy: failover, 0 lost acknowledged writes, a gap-free change stream", { timeout: 300_000 }, async () => {
    const tenant = "galera-failover";
    const writers = startWriters(createClient(ContactsService, createGrpcTransport({ baseUrl: h.grpcUrl })), tenant, "f");
    const watcher = startWatcher(createClient(EventsService, createGrpcTransport({ baseUrl: h.grpcUrl })), tenant);
    const failovers: number[] = [];
    try {
      for (let k = 0; k < 5; k++) {
        await sleep(1500);
        const writing = await writingNode(cluster);
        await cluster.kill(writing);
        failovers.push(await writers.firstAckAfter(Date.now()));
        await cluster.start(writing);
      }
      await sleep(1500);
    } finally {
      await writers.stop();
    }
    await watcher.stopWhenSeen(writers.acked);
    const perNode = await nodeContents(cluster, tenant, writers.acked);
    const cursors = watcher.seen.map((e) => e.cursor);
    console.log(
      `[galera failover] kills=5 acknowledged=${writers.acked.length} failoverMs=${failovers.join("/")} clientErrors=${JSON.stringify(Object.fromEntries(writers.errors))} perNode=${JSON.stringify(perNode)} streamed=${watcher.seen.length} duplicates=${cursors.length - new Set(cursors).size}`,
    );
    expectIntact(perNode, writers.acked, watcher.seen);
  });

  it("the writing node SIGSTOPped for 10 s behind HAProxy: the others take over, it rejoins, nothing acknowledged is lost", { timeout: 180_000 }, async () => {
    const tenant = "galera-sigstop";
    const writers = startWriters(createClient(ContactsService, createGrpcTransport({ baseUrl: h.grpcUrl })), tenant, "s");
    const watcher = startWatcher(createClient(EventsService, createGrpcTransport({ baseUrl: h.grpcUrl })), tenant);
    let failover = 0;
    let rejoin = "";
    try {
      await sleep(1500);
      const stopped = await writingNode(cluster);
      await cluster.kill(stopped, "SIGSTOP");
      const at = Date.now();
      failover = await writers.firstAckAfter(at);
      await sleep(Math.max(0, at + 10_000 - Date.now()));
      await cluster.kill(stopped, "SIGCONT");
      const resumed = Date.now();
      // Evicted while stopped, the node finds itself outside the primary component when it
      // resumes; it rejoins by itself, or else after a restart.
      while (!(await cluster.whole()) && Date.now() < resumed + 30_000) await sleep(250);
      if (await cluster.whole()) {
        rejoin = `by itself, Synced ${Date.now() - resumed} ms after SIGCONT`;
      } else {
        await cluster.kill(stopped);
        const restarting = Date.now();
        await cluster.start(stopped);
        rejoin = `after a restart, Synced ${Date.now() - restarting} ms after it`;
      }
      await sleep(1500);
    } finally {
      await writers.stop();
    }
    await watcher.stopWhenSeen(writers.acked);
    console.log(`[galera sigstop] rejoined ${rejoin}`);
    const perNode = await nodeContents(cluster, tenant, writers.acked);
    console.log(
      `[galera sigstop] acknowledged=${writers.acked.length} failoverMs=${failover} rejoined ${rejoin} clientErrors=${JSON.stringify(Object.fromEntries(writers.errors))} perNode=${JSON.stringify(perNode)} streamed=${watcher.seen.length}`,
    );
    expect(failover).toBeLessThan(30_000);
    expectIntact(perNode, writers.acked, watcher.seen);
  });

  it("2 of 3 nodes killed: the last refuses writes (none acknowledged, none lost), and serves again once bootstrapped", { timeout: 240_000 }, async () => {
    const tenant = "galera-quorum";
    // Writers through HAProxy and straight to the node that survives.
    const survivor = 2;
    const direct = await startTestServer("mysql", { databaseUrl: `${cluster.url(survivor)}/contacts`, migrateOnStart: false });
    const viaProxy = startWriters(createClient(ContactsService, createGrpcTransport({ baseUrl: h.grpcUrl })), tenant, "q");
    const viaNode = startWriters(createClient(ContactsService, createGrpcTransport({ baseUrl: direct.grpcUrl })), tenant, "d", 4);
    let killed = 0;
    let nonPrimaryAt = 0;
    let bootstrapAt = 0;
    let recovered = 0;
    try {
      await sleep(1500);
      killed = Date.now();
      await Promise.all([cluster.kill(0), cluster.kill(1)]);
      // The survivor leaves the primary component once it has given up on the other two (~5 s).
      while ((await cluster.state(survivor)) === 4 && Date.now() < killed + 60_000) await sleep(100);
      nonPrimaryAt = Date.now();
      await sleep(5000);
      // An operator brings the cluster back: the survivor bootstraps a new primary component, the
      // others rejoin it.
      bootstrapAt = Date.now();
      const admin = await mysql.createConnection({ uri: cluster.url(survivor) });
      await admin.query("set global wsrep_provider_options = 'pc.bootstrap=YES'");
      await admin.end();
      recovered = await viaNode.firstAckAfter(bootstrapAt);
      await cluster.start(0);
      await cluster.start(1);
      await sleep(1500);
    } finally {
      await viaProxy.stop();
      await viaNode.stop();
      await direct.close();
    }
    const acked = [...viaProxy.acked, ...viaNode.acked];
    const refusedButAcked = acked.filter((x) => x.started > nonPrimaryAt && x.at < bootstrapAt).length;
    const perNode = await nodeContents(cluster, tenant, acked);
    console.log(
      `[galera quorum] nonPrimaryAfterMs=${nonPrimaryAt - killed} acknowledged=${acked.length} acknowledgedWithoutQuorum=${refusedButAcked} firstAckAfterBootstrapMs=${recovered} errorsViaHAProxy=${JSON.stringify(Object.fromEntries(viaProxy.errors))} errorsViaNode=${JSON.stringify(Object.fromEntries(viaNode.errors))} perNode=${JSON.stringify(perNode)}`,
    );
    expect(refusedButAcked).toBe(0);
    expect(viaNode.errors.get("Unavailable") ?? 0, "the survivor answered UNAVAILABLE without quorum").toBeGreaterThan(0);
    expect(viaNode.errors.get("Internal") ?? 0).toBe(0);
    expect(viaProxy.errors.get("Internal") ?? 0).toBe(0);
    expectIntact(perNode, acked);
  });
});
