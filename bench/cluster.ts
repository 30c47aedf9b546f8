/**
 * `npm run bench:cluster` (issue 17 item 4): creates and GetContacts per second, in one run, for
 *
 *   single   1 replica on one MariaDB (its own mariadbd, innodb_flush_log_at_trx_commit=1)
 *   haproxy  2 replicas on a 3-node Galera cluster through HAProxy (every write on one node)
 *   nodes    2 replicas on the same cluster, each on its own node (writes certified across nodes)
 *
 * Every server is the compiled bench server (bench/servers/app.ts) in its own process, on the
 * same 2 shared cores as the databases and this driver; the three setups run side by side and are
 * measured in turn, round after round, so their ratios are taken under the same machine load.
 * Each phase: `--clients` concurrent callers (split evenly over the setup's replicas) for
 * `--seconds`, creates spread over `--tenants` tenants, then GetContact of the created contacts.
 * Options: --rounds N (3), --seconds S (10), --clients N (16), --tenants N (16).
 */
import { cpus, loadavg } from "node:os";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import mysql from "mysql2/promise";
import { ContactsService } from "../gen/contacts/v1/contacts_service_pb.js";
import { GaleraCluster } from "../test/support/galera.js";
import { OwnMariadb } from "../test/support/mariadb.js";
import { type BenchServer, buildServers, median, opt, startServer } from "./lib.js";

const rounds = opt("rounds", 3);
const seconds = opt("seconds", 10);
const clients = opt("clients", 16);
const tenants = opt("tenants", 16);

interface Setup {
  name: string;
  servers: BenchServer[];
  contacts: Client<typeof ContactsService>[];
  /** Created contacts, by tenant index. */
  created: string[][];
  results: { creates: number[]; gets: number[]; createP99: number[]; getP99: number[] };
}

const pct = (xs: number[], p: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? Number.NaN;

async function createDatabase(serverUrl: string): Promise<string> {
  const admin = await mysql.createConnection({ uri: serverUrl });
  await admin.query("create database if not exists contacts_bench_cluster");
  await admin.end();
  return `${serverUrl}/contacts_bench_cluster`;
}

async function setup(name: string, databaseUrls: string[]): Promise<Setup> {
  const servers: BenchServer[] = [];
  for (const [i, url] of databaseUrls.entries()) servers.push(await startServer(`${name}${i + 1}`, "app", { DATABASE_URL: url, DB_POOL_MAX: "16" }));
  return {
    name,
    servers,
    contacts: servers.map((s) => createClient(ContactsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${s.port}` }))),
    created: Array.from({ length: tenants }, () => []),
    results: { creates: [], gets: [], createP99: [], getP99: [] },
  };
}

/** `clients` callers for `seconds`; caller c uses replica c mod n and tenant c mod `tenants`. */
async function phase(
  s: Setup,
  call: (contacts: Client<typeof ContactsService>, tenant: number, i: number) => Promise<void>,
): Promise<{ perSecond: number; p99: number }> {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const contacts = s.contacts[c % s.contacts.length] as Client<typeof ContactsService>;
      for (let i = 0; performance.now() < end; i++) {
        const t0 = performance.now();
        await call(contacts, c % tenants, i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { perSecond: latencies.length / seconds, p99: pct(latencies, 99) };
}

async function measure(s: Setup, round: number): Promise<void> {
  const creates = await phase(s, async (contacts, t, i) => {
    const { contact } = await contacts.createContact(
      {
        info: { name: { first: `r${round}i${i}` }, emails: { items: [{ email: `r${round}.${t}.${i}.${Math.random().toString(36).slice(2)}@bench.example` }] } },
      },
      { headers: { "x-tenant-id": `bench-${t}` } },
    );
    s.created[t]?.push(contact?.id ?? "");
  });
  const gets = await phase(s, async (contacts, t, i) => {
    const ids = s.created[t] as string[];
    await contacts.getContact({ id: ids[(i * 7919) % ids.length] as string }, { headers: { "x-tenant-id": `bench-${t}` } });
  });
  s.results.creates.push(creates.perSecond);
  s.results.createP99.push(creates.p99);
  s.results.gets.push(gets.perSecond);
  s.results.getP99.push(gets.p99);
  console.log(
    `round ${round} ${s.name.padEnd(8)} creates ${creates.perSecond.toFixed(0).padStart(5)}/s (p99 ${creates.p99.toFixed(1)} ms)  GetContact ${gets.perSecond.toFixed(0).padStart(5)}/s (p99 ${gets.p99.toFixed(1)} ms)`,
  );
}

async function main(): Promise<void> {
  console.log(
    `node ${process.version}, ${cpus().length} cores, load avg ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}; ${rounds} rounds of ${seconds} s per phase, ${clients} clients, ${tenants} tenants`,
  );
  buildServers();
  const single = await OwnMariadb.create();
  const cluster = await GaleraCluster.up();
  const setups: Setup[] = [];
  try {
    const proxyPort = await cluster.haproxy();
    const singleUrl = await createDatabase(single.url);
    await createDatabase(cluster.url(0));
    setups.push(await setup("single", [singleUrl]));
    setups.push(
      await setup("haproxy", [`mysql://root@127.0.0.1:${proxyPort}/contacts_bench_cluster`, `mysql://root@127.0.0.1:${proxyPort}/contacts_bench_cluster`]),
    );
    setups.push(await setup("nodes", [`${cluster.url(1)}/contacts_bench_cluster`, `${cluster.url(2)}/contacts_bench_cluster`]));
    for (let r = 1; r <= rounds; r++) for (const s of setups) await measure(s, r);
    const base = setups[0] as Setup;
    console.log("\nmedians over the rounds (ratio to single):");
    for (const s of setups) {
      const c = median(s.results.creates);
      const g = median(s.results.gets);
      console.log(
        `${s.name.padEnd(8)} replicas=${s.servers.length} creates ${c.toFixed(0)}/s (${(c / median(base.results.creates)).toFixed(2)}), p99 ${median(s.results.createP99).toFixed(1)} ms; GetContact ${g.toFixed(0)}/s (${(g / median(base.results.gets)).toFixed(2)}), p99 ${median(s.results.getP99).toFixed(1)} ms`,
      );
    }
  } finally {
    for (const s of setups) for (const server of s.servers) server.proc.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 1000));
    await cluster.down();
    await single.stop();
  }
}

await main();
