/**
 * Webhooks survive SIGKILL of the server delivering them (issue 16 item 9: at least once, in
 * order): two server processes share a database; the one holding a subscription's lease is killed
 * three times while its requests are in flight, and restarted. The other takes the subscription
 * over when the lease runs out and goes on from the last event it knows was answered. At the end
 * every committed event was delivered, first deliveries are in commit order, every request is
 * signed, and an event received twice is the same request again (same webhook-id and body).
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Knex } from "knex";
import { Webhook as Verifier } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContactsService } from "../gen/contacts/v1/contacts_service_pb.js";
import { WebhooksService } from "../gen/contacts/v1/webhooks_service_pb.js";
import { openDatabase } from "../server/src/store/db.js";
import type { WebhookRow } from "../server/src/store/tables.js";
import { createTestDatabase, type TestDatabase } from "./support/databases.js";
import { freePort, ServerProcess } from "./support/server-process.js";
import { WebhookReceiver } from "./support/webhook-receiver.js";

const TENANT = "whcrash";
const EVENTS = 150;
const KILLS = 3;

describe("webhook delivery survives SIGKILL of the delivering server, on mysql", () => {
  let database: TestDatabase;
  let db: Knex;
  let receiver: WebhookReceiver;
  const sink = { output: "" };
  let servers: ServerProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase("whcrash");
    db = openDatabase({ url: database.url, sqliteFile: "", statementTimeoutMs: 60_000, poolMax: 2 });
    receiver = await new WebhookReceiver().start();
    const env = {
      DATABASE_URL: database.url,
      WEBHOOKS_ALLOW_LOOPBACK: "true",
      WEBHOOK_TIMEOUT_MS: "1000",
      WEBHOOK_LEASE_MS: "2000",
      WEBHOOK_POLL_MS: "100",
      WEBHOOK_RETRY_BASE_MS: "100",
      WEBHOOK_RETRY_MAX_MS: "1000",
    };
    servers = [new ServerProcess("a", await freePort(), env, sink), new ServerProcess("b", await freePort(), env, sink)];
    await Promise.all(servers.map((s) => s.start()));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill()));
    await receiver?.down();
    await db?.destroy();
    await database?.drop();
  });

  it(`delivers ${EVENTS} events through ${KILLS} SIGKILLs of the lease holder: all of them, in commit order, repeats only as retries`, {
    timeout: 120_000,
  }, async () => {
    const headers = { "x-tenant-id": TENANT };
    const [a] = servers as [ServerProcess, ServerProcess];
    const hooks = createClient(WebhooksService, createGrpcTransport({ baseUrl: a.url }));
    const contacts = createClient(ContactsService, createGrpcTransport({ baseUrl: a.url }));
    // Slow answers: a kill almost always lands while a request is in flight.
    receiver.mode = { kind: "slow", delayMs: 40 };
    const { webhook } = await hooks.createWebhook({ url: receiver.url, eventTypes: ["contact_created"] }, { headers });
    const secret = webhook?.secret ?? "";
    for (let i = 0; i < EVENTS; i++) await contacts.createContact({ info: { name: { first: `K${i}` } } }, { headers });
    const committed = (await db("events").where({ tenant_id: TENANT, event_type: "contact_created" }).orderBy("seq").pluck("id")) as string[];
    expect(committed).toHaveLength(EVENTS);

    const delivered = () => new Set(receiver.delivered.map((r) => String(r.headers["webhook-id"])));
    const kills: string[] = [];
    for (let k = 0; k < KILLS; k++) {
      const before = delivered().size;
      const holder = await (async () => {
        for (let i = 0; i < 400; i++) {
          const row = (await db("webhooks").where({ tenant_id: TENANT }).first()) as WebhookRow;
          const owner = servers.find((s) => s.owns(row.lease_owner));
          if (owner && delivered().size >= before + 5) return owner;
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error(`no delivery progress before kill ${k + 1}\n${sink.output}`);
      })();
      await holder.kill();
      kills.push(`${holder.name} after ${delivered().size} delivered`);
      await holder.start();
    }
    const deadline = Date.now() + 60_000;
    while (delivered().size < EVENTS) {
      if (Date.now() > deadline) throw new Error(`delivered ${delivered().size} of ${EVENTS}\n${sink.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }

    expect([...delivered()].sort()).toEqual([...committed].sort());
    const first: string[] = [];
    for (const r of receiver.delivered) if (!first.includes(String(r.headers["webhook-id"]))) first.push(String(r.headers["webhook-id"]));
    expect(first, "first deliveries in commit order").toEqual(committed);
    const verifier = new Verifier(secret);
    let badSignatures = 0;
    const bodies = new Map<string, string>();
    let repeats = 0;
    for (const r of receiver.requests) {
      try {
        verifier.verify(r.body, r.headers as Record<string, string>);
      } catch {
        badSignatures++;
      }
      const id = String(r.headers["webhook-id"]);
      if (bodies.has(id)) {
        repeats++;
        expect(r.body).toBe(bodies.get(id));
      } else bodies.set(id, r.body);
    }
    expect(badSignatures).toBe(0);
    console.log(
      `[webhook crash] events=${EVENTS} kills=${KILLS} (${kills.join("; ")}) requests=${receiver.requests.length} delivered=${delivered().size} lost=${EVENTS - delivered().size} repeats=${repeats} badSignatures=${badSignatures}`,
    );
  });
});
