/**
 * A label removal started on one server is finished by another when the first dies (issue 17
 * item 1): two server processes on one MariaDB; DeleteLabel through A returns at once
 * (CLEANUP_BUDGET_MS=0) while A's background batch waits on a contact the test holds locked; A
 * is SIGKILLed, the lock goes, and B takes the job over when A's lease runs out. Every contact
 * loses the label once: one revision and one contact_updated event each, none lost, none twice.
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContactsService } from "../gen/contacts/v1/contacts_service_pb.js";
import { LabelsService } from "../gen/contacts/v1/labels_service_pb.js";
import { openDatabase } from "../server/src/store/db.js";
import { createTestDatabase, type TestDatabase } from "./support/databases.js";
import { freePort, ServerProcess } from "./support/server-process.js";

const TENANT = "takeover";
const CONTACTS = 50;

describe("a label removal survives the death of the server running it, on mysql", () => {
  let database: TestDatabase;
  let db: Knex;
  const sink = { output: "" };
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    database = await createTestDatabase("takeover");
    db = openDatabase({ url: database.url, sqliteFile: "", statementTimeoutMs: 60_000, poolMax: 3 });
    const env = { DATABASE_URL: database.url, CLEANUP_BUDGET_MS: "0", CLEANUP_LEASE_MS: "1500", CLEANUP_POLL_MS: "100" };
    a = new ServerProcess("a", await freePort(), env, sink);
    b = new ServerProcess("b", await freePort(), env, sink);
    await Promise.all([a.start(), b.start()]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
    await db?.destroy();
    await database?.drop();
  });

  it("server B finishes what A started: one revision and one event per contact", { timeout: 60_000 }, async () => {
    const headers = { "x-tenant-id": TENANT };
    const transport = createGrpcTransport({ baseUrl: a.url });
    const labels = createClient(LabelsService, transport);
    const contacts = createClient(ContactsService, transport);
    const key = (await labels.findOrCreateLabel({ displayName: "Doomed" }, { headers })).label?.key ?? "";
    const ids: string[] = [];
    for (let i = 0; i < CONTACTS; i++) {
      const { contact } = await contacts.createContact({ info: { name: { first: `T${i}` }, labelKeys: { items: [key] } } }, { headers });
      ids.push(contact?.id ?? "");
    }
    ids.sort();

    // The batch locks its contacts in id order: holding the first keeps A's batch waiting.
    const hold = await db.transaction();
    await hold("contacts").where({ tenant_id: TENANT, id: ids[0] }).forUpdate().first("id");
    try {
      await labels.deleteLabel({ key }, { headers });
      const job = await db("cleanup_jobs").where({ tenant_id: TENANT }).first();
      expect(a.owns(job?.lease_owner ?? null), "A holds the job").toBe(true);
      await new Promise((r) => setTimeout(r, 200));
      await a.kill();
    } finally {
      await hold.commit();
    }

    const deadline = Date.now() + 30_000;
    while ((await db("cleanup_jobs").where({ tenant_id: TENANT }).count({ n: "*" }).first())?.n !== 0) {
      if (Date.now() > deadline) throw new Error(`the removal was not finished\n${sink.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(Number((await db("contact_labels").where({ tenant_id: TENANT, label_key: key }).count({ n: "*" }).first())?.n)).toBe(0);
    const revisions = (await db("contacts").where({ tenant_id: TENANT }).pluck("revision")).map(Number);
    expect(revisions).toEqual(Array(CONTACTS).fill(2));
    const events = (await db("events").where({ tenant_id: TENANT, event_type: "contact_updated" }).select("entity_id", "subject", "modified_fields")) as {
      entity_id: string;
      subject: string;
      modified_fields: string;
    }[];
    expect(events.map((e) => e.entity_id).sort()).toEqual(ids);
    expect(new Set(events.map((e) => e.modified_fields))).toEqual(new Set(['["info.labelKeys"]']));
    // Taken over: the events name the system, not the caller who deleted the label.
    expect(new Set(events.map((e) => e.subject))).toEqual(new Set(["system:cleanup"]));
  });
});
