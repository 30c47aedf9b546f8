/**
 * RELIABILITY scenario 15, graceful shutdown: SIGTERM to a real server process under load.
 * Every call in flight completes or is cleanly refused (UNAVAILABLE), event streams end with
 * UNAVAILABLE so clients resume elsewhere, the process exits 0, and nothing is half-written.
 * The process's log lines, written in chunks (server/src/logger.ts), show up while it runs and
 * are all written by the time it exits: one per completed call.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import knex from "knex";
import { afterAll, describe, expect, it } from "vitest";
import { ContactsService } from "../gen/contacts/v1/contacts_service_pb.js";
import { EventsService, WatchStart } from "../gen/contacts/v1/events_service_pb.js";

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe("scenario 15: graceful shutdown", () => {
  const dir = mkdtempSync(join(tmpdir(), "contacts-shutdown-"));
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("drains on SIGTERM: in-flight calls complete or are refused cleanly, nothing half-written", async () => {
    const grpcPort = await freePort();
    const httpPort = await freePort();
    const sqliteFile = join(dir, "contacts.db");
    child = spawn(process.execPath, ["--import", "tsx", "server/src/main.ts"], {
      env: { ...process.env, GRPC_PORT: String(grpcPort), HTTP_PORT: String(httpPort), SQLITE_FILE: sqliteFile, SHUTDOWN_GRACE_MS: "5000", LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (d) => {
      stderr += String(d);
    });
    let stdout = "";
    child.stdout?.on("data", (d) => {
      stdout += String(d);
    });
    const exited = new Promise<number | null>((resolve) => child?.once("exit", (code) => resolve(code)));

    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` });
    const contacts = createClient(ContactsService, transport);
    const events = createClient(EventsService, transport);
    for (let i = 0; ; i++) {
      try {
        await contacts.listContacts({});
        break;
      } catch {
        if (i > 100) throw new Error(`server did not start: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    const watch = (async () => {
      try {
        for await (const _ of events.watchEvents({ start: WatchStart.NOW })) {
          // consume
        }
        return "ended";
      } catch (err) {
        return Code[ConnectError.from(err).code];
      }
    })();

    const outcomes: Record<string, number> = {};
    const acknowledged: string[] = [];
    let stop = false;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const res = await contacts.createContact({ info: { name: { first: `w${w}-${i}` } }, allowDuplicates: true }, { timeoutMs: 10_000 });
          acknowledged.push(res.contact?.id ?? "");
          outcomes.OK = (outcomes.OK ?? 0) + 1;
        } catch (err) {
          const e = ConnectError.from(err);
          // HTTP/2 REFUSED_STREAM means the server did not process the stream (RFC 9113 §8.7):
          // a clean refusal, safe to retry. connect-node's client reports it as INTERNAL;
          // grpc-js's client as UNAVAILABLE.
          const code = e.message.includes("REFUSED_STREAM") ? "Unavailable" : (Code[e.code] ?? "?");
          if (code !== "Unavailable") console.log("non-clean error:", e.message);
          outcomes[code] = (outcomes[code] ?? 0) + 1;
          if (code === "Unavailable") stop = true;
        }
      }
    };
    // The startup lines are far fewer than a chunk: the periodic write brings them.
    for (let i = 0; !stdout.includes('"msg":"contacts-api listening"'); i++) {
      if (i > 30) throw new Error(`no startup line on stdout after 3 s: ${stdout}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, 800));
    child.kill("SIGTERM");
    const exitCode = await exited;
    stop = true;
    await Promise.all(workers);
    const watchEnd = await watch;

    const db = knex({ client: "better-sqlite3", connection: { filename: sqliteFile }, useNullAsDefault: true });
    const rows = await db("contacts").select("id");
    const created = await db("events").where({ event_type: "contact_created" }).select("entity_id");
    await db.destroy();
    const stored = new Set(rows.map((r: { id: string }) => r.id));
    const withEvent = new Set(created.map((r: { entity_id: string }) => r.entity_id));
    const lostAcknowledged = acknowledged.filter((id) => !stored.has(id)).length;
    const halfWritten = [...stored].filter((id) => !withEvent.has(id)).length + [...withEvent].filter((id) => !stored.has(id)).length;
    const total = Object.values(outcomes).reduce((a, b) => a + b, 0);
    const clean = (outcomes.OK ?? 0) + (outcomes.Unavailable ?? 0);
    console.log(
      `[scenario 15] calls=${total} ok=${outcomes.OK ?? 0} refusedUnavailable=${outcomes.Unavailable ?? 0} other=${total - clean} ` +
        `completedOrCleanlyRefused=${((100 * clean) / total).toFixed(1)}% lostAcknowledged=${lostAcknowledged} halfWritten=${halfWritten} ` +
        `watchEnded=${watchEnd} exitCode=${exitCode} outcomes=${JSON.stringify(outcomes)}`,
    );
    expect(exitCode).toBe(0);
    expect(outcomes.OK ?? 0).toBeGreaterThan(0);
    expect(clean).toBe(total);
    expect(lostAcknowledged).toBe(0);
    expect(halfWritten).toBe(0);
    expect(watchEnd).toBe("Unavailable");

    const lines = stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; method?: string; code?: string });
    const createdOk = lines.filter((l) => l.msg === "rpc" && l.method === "contacts.v1.ContactsService/CreateContact" && l.code === "OK").length;
    console.log(`[scenario 15] log lines=${lines.length} createContactOk=${createdOk} last=${lines.at(-1)?.msg}`);
    expect(createdOk).toBe(outcomes.OK ?? 0);
    expect(lines.at(-1)?.msg).toBe("stopped");
  }, 60_000);
});
