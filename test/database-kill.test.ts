/**
 * RELIABILITY scenario 4 on one MariaDB (issue 17 item 3): the database is SIGKILLed 5 times under
 * 8 writers and restarted on the same data directory, while the service keeps running. Each
 * writer creates a contact and then updates it, each call with a request_id, retrying UNAVAILABLE
 * (and deadlines) with the same request_id until it is acknowledged. Afterwards every
 * acknowledged write is there at its acknowledged revision, no request made two contacts, there
 * are as many contacts as contact_created events, and the first write after each restart is
 * acknowledged within 5 s. `DB_KILLS` sets the number of kills (5).
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContactsService } from "../gen/contacts/v1/contacts_service_pb.js";
import { OwnMariadb } from "./support/mariadb.js";
import { startTestServer, type TestServer } from "./support/server.js";

const KILLS = Number(process.env.DB_KILLS ?? 5);
const WRITERS = 8;
const TENANT = "s4";
const RETRYABLE = new Set([Code.Unavailable, Code.DeadlineExceeded]);

describe("scenario 4: the database SIGKILLed under writers, on mysql", () => {
  let mdb: OwnMariadb;
  let t: TestServer;
  beforeAll(async () => {
    mdb = await OwnMariadb.create();
    const admin = await mysql.createConnection({ uri: mdb.url });
    await admin.query("create database s4");
    await admin.end();
    t = await startTestServer("mysql", { databaseUrl: `${mdb.url}/s4`, dbPoolMax: 12 });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await mdb?.stop();
  });

  it(`loses no acknowledged write through ${KILLS} kills of mariadbd, and duplicates none`, { timeout: 180_000 }, async () => {
    const contacts = createClient(ContactsService, createGrpcTransport({ baseUrl: t.grpcUrl }));
    const headers = { "x-tenant-id": TENANT };
    /** Every acknowledged write: contact id → its acknowledged revision, and when. */
    const acked = new Map<string, { name: string; revision: number }>();
    const ackTimes: number[] = [];
    const errors = new Map<string, number>();
    let stop = false;

    /** Calls until acknowledged, retrying what may be retried with the same request. */
    const untilAcked = async <T>(call: () => Promise<T>): Promise<T | undefined> => {
      for (;;) {
        try {
          const out = await call();
          ackTimes.push(Date.now());
          return out;
        } catch (err) {
          const code = err instanceof ConnectError ? err.code : Code.Unknown;
          errors.set(Code[code], (errors.get(Code[code]) ?? 0) + 1);
          if (!RETRYABLE.has(code)) throw err;
          if (stop) return undefined;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };

    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const name = `w${w}n${i}`;
        const created = await untilAcked(() =>
          contacts.createContact({ info: { name: { first: name } }, requestId: `s4-${name}` }, { headers, timeoutMs: 5000 }),
        );
        const id = created?.contact?.id;
        if (!id) return;
        acked.set(id, { name, revision: 1 });
        const updated = await untilAcked(() =>
          contacts.updateContact({ contactId: id, revision: 1, info: { company: "after" }, requestId: `s4-${name}-u` }, { headers, timeoutMs: 5000 }),
        );
        if (!updated) return;
        acked.set(id, { name, revision: updated.contact?.revision ?? 0 });
      }
    };

    const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
    const recoveries: number[] = [];
    try {
      for (let k = 0; k < KILLS; k++) {
        await new Promise((r) => setTimeout(r, 1500));
        await mdb.kill();
        await new Promise((r) => setTimeout(r, 1000));
        await mdb.start();
        const restarted = Date.now();
        const deadline = restarted + 30_000;
        while (!ackTimes.some((at) => at > restarted) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        recoveries.push((ackTimes.find((at) => at > restarted) ?? Number.POSITIVE_INFINITY) - restarted);
      }
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      stop = true;
      await Promise.all(writers);
    }

    const db = await mysql.createConnection({ uri: `${mdb.url}/s4` });
    try {
      const [rows] = (await db.query("select id, revision, json_value(doc, '$.info.name.first') as name from contacts where tenant_id = ?", [
        TENANT,
      ])) as unknown as [{ id: string; revision: number; name: string }[]];
      const byId = new Map(rows.map((r) => [r.id, r]));
      const lost = [...acked].filter(([id, a]) => (byId.get(id)?.revision ?? 0) < a.revision);
      const names = new Map<string, number>();
      for (const r of rows) names.set(r.name, (names.get(r.name) ?? 0) + 1);
      const duplicates = [...names.values()].filter((n) => n > 1).length;
      const [[created]] = (await db.query("select count(*) as n from events where tenant_id = ? and event_type = 'contact_created'", [TENANT])) as unknown as [
        [{ n: number }],
      ];
      console.log(
        `[scenario 4] kills=${KILLS} writers=${WRITERS} acknowledged contacts=${acked.size} rows=${rows.length} lostAcknowledged=${lost.length} duplicates=${duplicates} createdEvents=${created?.n} firstSuccessAfterRestartMs=${recoveries.join("/")} clientErrors=${JSON.stringify(Object.fromEntries(errors))}`,
      );
      expect(acked.size).toBeGreaterThan(KILLS * 10);
      expect(lost).toEqual([]);
      expect(duplicates).toBe(0);
      expect(Number(created?.n)).toBe(rows.length);
      for (const ms of recoveries) expect(ms).toBeLessThanOrEqual(5000);
    } finally {
      await db.end();
    }
  });
});
