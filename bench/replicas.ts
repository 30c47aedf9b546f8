/**
 * `npm run bench:replicas`: how soon a commit through replica A reaches a watcher on replica B,
 * two server processes (compiled, as `npm start` runs them) on one MariaDB database — with NATS
 * wake-ups (NATS_URL, default nats://127.0.0.1:4222) and, for contrast, without (B finds the
 * commit at its next poll, EVENTS_POLL_MS 500). A writer creates contacts on A one at a time,
 * `--gap` ms apart; the latency of each is from A's answer to the event's arrival on B's stream.
 * Prints p50/p90/p99/max per mode.
 *
 * DATABASE_URL names the MariaDB server (a `contacts_bench_replicas` database is created and
 * dropped); default mysql://root@127.0.0.1:3306. Options: --events N (500), --gap MS (20).
 */
import { cpus, loadavg } from "node:os";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import mysql from "mysql2/promise";
import { ContactsService } from "../gen/contacts/v1/contacts_service_pb.js";
import { EventsService } from "../gen/contacts/v1/events_service_pb.js";
import { type BenchServer, buildServers, opt, startServer } from "./lib.js";

const events = opt("events", 500);
const gap = opt("gap", 20);
const natsUrl = process.env.NATS_URL || "nats://127.0.0.1:4222";
const serverUrl = new URL(process.env.DATABASE_URL || "mysql://root@127.0.0.1:3306");
const dbName = "contacts_bench_replicas";
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${dbName}`;
const headers = { "x-tenant-id": "bench-replicas" };

const pct = (xs: number[], p: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? Number.NaN;

async function run(mode: "nats" | "poll"): Promise<void> {
  const env = { DATABASE_URL: dbUrl.toString(), ...(mode === "nats" ? { NATS_URL: natsUrl } : {}) };
  const servers: BenchServer[] = await Promise.all([startServer("a", "app", env), startServer("b", "app", env)]);
  try {
    const [a, b] = servers as [BenchServer, BenchServer];
    const contacts = createClient(ContactsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${a.port}` }));
    const watch = createClient(EventsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${b.port}` }));
    // Let the replicas reach NATS.
    await new Promise((r) => setTimeout(r, 500));
    const arrived = new Map<string, number>();
    const abort = new AbortController();
    let started!: () => void;
    const ready = new Promise<void>((r) => {
      started = r;
    });
    const stream = (async () => {
      try {
        for await (const e of watch.watchEvents({ filter: { entityFqdns: ["contacts.v1.contact"] } }, { headers, signal: abort.signal })) {
          if (e.eventType === "bookmark") started();
          else arrived.set(e.entityId, performance.now());
        }
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      }
    })();
    await ready;
    const acked = new Map<string, number>();
    for (let i = 0; i < events; i++) {
      const { contact } = await contacts.createContact({ info: { name: { first: `R${i}` } } }, { headers });
      acked.set(contact?.id ?? "", performance.now());
      await new Promise((r) => setTimeout(r, gap));
    }
    const deadline = Date.now() + 10_000;
    while (arrived.size < events && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    abort.abort();
    await stream;
    const latencies = [...acked].map(([id, at]) => (arrived.get(id) ?? Number.POSITIVE_INFINITY) - at);
    const f = (x: number) => x.toFixed(1);
    console.log(
      `${mode.padEnd(4)}: ${events} creates on A, ${arrived.size} events on B; A's answer → event on B: p50 ${f(pct(latencies, 50))} ms, p90 ${f(pct(latencies, 90))} ms, p99 ${f(pct(latencies, 99))} ms, max ${f(Math.max(...latencies))} ms`,
    );
  } finally {
    for (const s of servers) s.proc.kill("SIGTERM");
  }
}

async function main(): Promise<void> {
  console.log(
    `node ${process.version}, ${cpus().length} cores, load avg ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}; ${events} events, ${gap} ms apart; NATS ${natsUrl}`,
  );
  const admin = await mysql.createConnection({
    host: serverUrl.hostname,
    port: Number(serverUrl.port || 3306),
    user: decodeURIComponent(serverUrl.username),
    password: decodeURIComponent(serverUrl.password),
  });
  await admin.query(`drop database if exists ${dbName}`);
  await admin.query(`create database ${dbName}`);
  buildServers();
  try {
    await run("nats");
    await run("poll");
  } finally {
    await admin.query(`drop database if exists ${dbName}`);
    await admin.end();
  }
}

await main();
