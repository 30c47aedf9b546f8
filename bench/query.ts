/**
 * The query bench: p50/p99 of QueryContacts per query shape over gRPC, each against the very SQL
 * the server ran for that call, replayed through a raw mysql2 connection in the same run.
 *
 *   DATABASE_URL=mysql://root@127.0.0.1:3407/contacts_bench node --import tsx bench/query.ts [--write]
 *
 * Two servers of the same code run on the seeded database (bench/seed.ts): one in its own process,
 * compiled and started as `npm start` does (bench/servers/app.ts, logging each call), answers the
 * timed calls; one in this process (startServer) answers the untimed call before each timed one,
 * whose statements its knex `query` event captures. With --in-process the timed calls go to the
 * one in this process too (how runs A–L were measured: its event loop then also ran the client,
 * the raw replay and the capture). Timed calls go over gRPC to a grpc-js port from a grpc-js
 * client that keeps the response as bytes (server latency, without the client library's
 * decoding); the untimed call reads only the response's paging metadata (decoding its contacts
 * made garbage in this process), and a Connect client walks the cursor to the deep page. One
 * call at a time. The captured statements of a call: the raw side runs those
 * statements in order through mysql2 with the server's session settings, the ones the server ran
 * side by side (a page and its count) side by side on two connections. Each
 * parameter set is called once untimed (to capture its SQL and warm it), then server and raw
 * are timed back to back, alternating which goes first. Latencies go into
 * perf_hooks.createHistogram(). Ratio = server / raw at p50 and at p99.
 *
 * Options: --in-process, --runs N (1000 per shape: a p99 of 200 calls is their second slowest, so
 * one stall more or less moves it; of 1000, the tenth), --only a,b (shape ids: email, prefix, label, range, company,
 * search, cursor0, cursorN, offset), --depth N (500000), --write
 * (append the table to bench/RESULTS.md), --explain (print EXPLAIN of each shape's page query),
 * --statements (raw time of each statement of a call), --slowest N (the N slowest calls of each
 * shape, with their requests and totals),
 * --tenant T (bench-big), --no-collect (no young-generation collection of this process before
 * each timed call; see collector()).
 *
 * Stalls: a process per core (pinned with taskset) runs a 1 ms timer and reports every gap of
 * more than STALL_MS (the core not running it: on this VM an idle timer sees a 15–35 ms gap every few seconds);
 * each shape reports those that fell within its timed calls, to tell such a stall from a slow call.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { createHistogram, PerformanceObserver } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { create, fromBinary, type JsonObject, toBinary } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import mysql from "mysql2/promise";
import pino from "pino";
import { type PagingMetadata, PagingMetadataSchema, SortOrder } from "../gen/contacts/v1/common_pb.js";
import { ContactsService, type QueryContactsRequest, QueryContactsRequestSchema } from "../gen/contacts/v1/contacts_service_pb.js";
import { startServer } from "../server/src/app.js";
import { DEFAULTS } from "../server/src/config.js";
import { inCall } from "../server/src/store/call-scope.js";
import { type BenchServer, buildServers, startServer as startBenchServer } from "./lib.js";
import { BIG_TENANT, COMPANIES, FIRST_NAMES, LAST_NAMES, prng } from "./seed-data.js";

type Request = Partial<Omit<QueryContactsRequest, "$typeName" | "query">> & {
  query?: {
    filter?: JsonObject;
    sort?: { fieldName: string; order: SortOrder }[];
    pagingMethod?: { case: "paging"; value: { limit?: number; offset?: number } } | { case: "cursorPaging"; value: { limit?: number; cursor?: string } };
    fields?: string[];
  };
};

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const RUNS = Number(opt("runs") ?? 1000);
const DEPTH = Number(opt("depth") ?? 500_000);
const ONLY = opt("only")?.split(",");
const TENANT = opt("tenant") ?? BIG_TENANT;
const WRITE = args.includes("--write");
const EXPLAIN = args.includes("--explain");
const STATEMENTS = args.includes("--statements");
const SLOWEST = Number(opt("slowest") ?? 0);
const IN_PROCESS = args.includes("--in-process");
const url = process.env.DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is required (the database bench/seed.ts filled)");
  process.exit(2);
}

interface Statement {
  sql: string;
  bindings: unknown[];
  uid: string;
  start: number;
  /** Statements of one group ran at the same time (the page and its count). */
  group?: number;
}

interface Shape {
  /** Short name for --only. */
  id: string;
  name: string;
  /** Covered by the ≤ 25 ms p99 target. */
  indexed: boolean;
  what: string;
  /** One request per run. */
  requests: () => Promise<Request[]>;
  /**
   * A request timed (server side) right after each run's, in the same loop: two shapes compared
   * as a ratio are then measured under the same conditions, not minutes apart.
   */
  companion?: Request;
}

/**
 * This process's young generation collected before each timed call (server, raw and companion
 * alike) unless --no-collect: the capture server and the raw replay in this process make
 * garbage, and a collection of it falling inside a timed call would be timed as the server's or
 * the SQL's. (A full collection before each call instead made every call slower: its concurrent
 * sweeping ran on the other core during the call.) `pauses` are all of this process's
 * collections (performance.now() ms), to count those that still fall inside a timed call.
 */
function collector(): { collect: () => void; pauses: { from: number; to: number }[]; stop: () => void } {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as (options: { type: "minor" }) => void;
  const pauses: { from: number; to: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push({ from: e.startTime, to: e.startTime + e.duration });
  });
  observer.observe({ entryTypes: ["gc"] });
  return { collect: args.includes("--no-collect") ? () => undefined : () => gc({ type: "minor" }), pauses, stop: () => observer.disconnect() };
}

/** A gap of the stall monitor's 1 ms timer beyond this many ms is a stall. */
const STALL_MS = 10;

/**
 * Starts the stall monitor: one child process per core, pinned to it where `taskset` exists (a
 * stall may take one core only), each printing the late ticks of a 1 ms timer (wall clock time
 * and gap, ms). Returns the stalls seen so far and a stop function.
 */
function stallMonitor(): { stalls: { at: number; ms: number }[]; stop: () => void } {
  const code = `let last = performance.now(); setInterval(() => { const now = performance.now(); if (now - last > ${STALL_MS}) console.log(Date.now(), (now - last).toFixed(1)); last = now; }, 1);`;
  const pin = existsSync("/usr/bin/taskset");
  const stalls: { at: number; ms: number }[] = [];
  const children = cpus().map((_, core) => {
    const argv = [process.execPath, "-e", code];
    const [command, ...rest] = pin ? ["/usr/bin/taskset", "-c", String(core), ...argv] : argv;
    const child = spawn(command as string, rest, { stdio: ["ignore", "pipe", "inherit"] });
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      for (const line of chunk.split("\n").filter(Boolean)) {
        const [at, gap] = line.split(" ").map(Number);
        stalls.push({ at: at as number, ms: gap as number });
      }
    });
    return child;
  });
  return {
    stalls,
    stop: () => {
      for (const c of children) c.kill();
    },
  };
}

const rand = prng(42);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
const times = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

async function main(dbUrl: string): Promise<void> {
  const log = pino({ level: "silent" });
  const server = await startServer(
    { ...DEFAULTS, grpcPort: 0, httpPort: 0, databaseUrl: dbUrl, shutdownGraceMs: 1000, maxTimeoutMs: 120_000, dbStatementTimeoutMs: 60_000 },
    log,
  );
  let sink: Statement[] | undefined;
  // Only the statements a call runs (inCall), not the health checker's pings in between; with
  // when each started and ended, so the raw replay can run side by side what the server did.
  const ended = new Map<string, number>();
  server.db.on("query", (q: { sql: string; bindings?: unknown[]; __knexQueryUid?: string }) => {
    if (inCall()) sink?.push({ sql: q.sql, bindings: q.bindings ?? [], uid: q.__knexQueryUid ?? "", start: performance.now() });
  });
  server.db.on("query-response", (_r: unknown, q: { __knexQueryUid?: string }) => ended.set(q.__knexQueryUid ?? "", performance.now()));

  const tenantHeader: Interceptor = (next) => (req) => {
    req.header.set("x-tenant-id", TENANT);
    return next(req);
  };
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.grpcPort}`, interceptors: [tenantHeader] });
  const client = createClient(ContactsService, transport);
  // Two connections: statements the server ran side by side are replayed side by side.
  const raws = await Promise.all(
    [0, 1].map(async () => {
      const conn = await mysql.createConnection({ uri: dbUrl, supportBigNumbers: true, charset: "utf8mb4" });
      await conn.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
      return conn;
    }),
  );
  const raw = raws[0] as mysql.Connection;
  const rows = async <T>(sql: string, bindings: unknown[] = []) => (await raw.query(sql, bindings))[0] as T[];

  const call = async (req: Request) => client.queryContacts(req as never, { timeoutMs: 120_000 });
  // The server of the timed calls: its own process (the same code, compiled), unless --in-process.
  let timed: BenchServer | undefined;
  if (!IN_PROCESS) {
    buildServers();
    timed = await startBenchServer("app", "app", { DATABASE_URL: dbUrl, MIGRATE_ON_START: "false", DB_STATEMENT_TIMEOUT_MS: "60000" });
  }
  // Timed calls: a grpc-js client that keeps the response as bytes, so the time is the server's
  // (request sent → whole response received), not the client library's decoding as well.
  const grpcClient = new grpc.Client(`127.0.0.1:${timed?.port ?? server.grpcPort}`, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set("x-tenant-id", TENANT);
  const bytesCall = (on: grpc.Client, bytes: Buffer) =>
    new Promise<Buffer>((resolve, reject) =>
      on.makeUnaryRequest(
        "/contacts.v1.ContactsService/QueryContacts",
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        metadata,
        { deadline: Date.now() + 120_000 },
        (err, value) => (err || !value ? reject(err ?? new Error("no response")) : resolve(value)),
      ),
    );
  const timedCall = (bytes: Buffer) => bytesCall(grpcClient, bytes);
  // The untimed call whose statements are captured goes to the server in this process.
  const localClient = timed ? new grpc.Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure()) : grpcClient;
  const localCall = (bytes: Buffer) => bytesCall(localClient, bytes);
  /**
   * A response's paging metadata and contact count, without decoding the contacts: the bench
   * shares its process with the server, and decoding 50 contacts per captured call made garbage
   * whose collection fell into the timed calls that followed.
   */
  const pageOf = (bytes: Buffer): { contacts: number; pagingMetadata?: PagingMetadata } => {
    const r = new BinaryReader(bytes);
    let contacts = 0;
    let pagingMetadata: PagingMetadata | undefined;
    while (r.pos < r.len) {
      const [no, wire] = r.tag();
      if (no === 1) {
        contacts++;
        r.skip(wire);
      } else if (no === 2) pagingMetadata = fromBinary(PagingMetadataSchema, r.bytes());
      else r.skip(wire);
    }
    return { contacts, ...(pagingMetadata ? { pagingMetadata } : {}) };
  };
  const capture = async (req: Request) => {
    sink = [];
    ended.clear();
    const bytes = Buffer.from(toBinary(QueryContactsRequestSchema, create(QueryContactsRequestSchema, req as never)));
    const res = pageOf(await localCall(bytes));
    const statements = sink;
    sink = undefined;
    // The timed server sees the request once untimed too (its code warm for it, as this one's).
    if (timed) await timedCall(bytes);
    let group = 0;
    let groupEnd = 0;
    for (const st of statements) {
      if (st.start >= groupEnd) group++;
      st.group = group;
      groupEnd = Math.max(groupEnd, ended.get(st.uid) ?? st.start);
    }
    return { res, statements };
  };

  // ---- facts about the data set ------------------------------------------------------------
  const [{ n: contacts } = { n: 0 }] = await rows<{ n: number }>("select count(*) n from contacts where tenant_id = ?", [TENANT]);
  const [{ n: allContacts } = { n: 0 }] = await rows<{ n: number }>("select count(*) n from contacts");
  const [{ v: version, pool } = { v: "?", pool: "0" }] = await rows<{ v: string; pool: string }>("select version() v, @@innodb_buffer_pool_size pool");
  const fieldKeys = await rows<{ key: string; data_type: string }>(
    "select `key`, data_type from extended_fields where tenant_id = ? and namespace = 'custom'",
    [TENANT],
  );
  const numberField = fieldKeys.find((f) => f.data_type === "NUMBER")?.key;
  const labelKeys = (await rows<{ key: string }>("select `key` from labels where tenant_id = ? and namespace = 'custom' order by `key`", [TENANT])).map(
    (r) => r.key,
  );
  console.log(
    `${TENANT}: ${Number(contacts).toLocaleString("en")} contacts (${Number(allContacts).toLocaleString("en")} in all tenants); ` +
      `MariaDB ${version}, buffer pool ${Math.round(Number(pool) / 2 ** 20)} MiB; ${cpus().length} × ${cpus()[0]?.model}; Node ${process.version}`,
  );

  // ---- shapes ------------------------------------------------------------------------------
  const emailSample = async () => {
    const out: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const [r] = await rows<{ email_key: string }>(
        "select email_key from contact_emails where tenant_id = ? and contact_id >= ? order by contact_id limit 1",
        [TENANT, randomUUID()],
      );
      if (r) out.push(r.email_key);
    }
    return out;
  };
  const cursorAt = async (depth: number): Promise<string | undefined> => {
    let cursor: string | undefined;
    let seen = 0;
    const t0 = performance.now();
    while (seen < depth) {
      const limit = Math.min(1000, depth - seen);
      const res = await call({ query: { pagingMethod: { case: "cursorPaging", value: { limit, ...(cursor ? { cursor } : {}) } }, fields: ["id"] } });
      seen += res.contacts.length;
      cursor = res.pagingMetadata?.cursors?.next;
      if (!cursor) break;
      if (seen % 100_000 === 0) console.log(`  walked ${seen.toLocaleString("en")} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
    console.log(`  cursor at depth ${seen.toLocaleString("en")} after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return cursor;
  };

  const shapes: Shape[] = [
    {
      id: "email",
      name: "email eq",
      indexed: true,
      what: '`{"info.emails.email": <an existing email>}`',
      requests: async () => (await emailSample()).map((e) => ({ query: { filter: { "info.emails.email": e } } })),
    },
    {
      id: "prefix",
      name: "name startsWith",
      indexed: true,
      what: '`{"info.name.first": {"$startsWith": <2–4 letters of a first name, any case>}}`',
      requests: async () =>
        times(RUNS, () => {
          const name = pick(FIRST_NAMES);
          const p = name.slice(0, 2 + Math.floor(rand() * 3));
          return { query: { filter: { "info.name.first": { $startsWith: rand() < 0.5 ? p : p.toLowerCase() } } } };
        }),
    },
    {
      id: "label",
      name: "label hasSome",
      indexed: true,
      what: '`{"info.labelKeys": {"$hasSome": [<one of 20 labels, 0.1%–30% of contacts>]}}`',
      requests: async () => times(RUNS, (i) => ({ query: { filter: { "info.labelKeys": { $hasSome: [labelKeys[i % labelKeys.length] as string] } } } })),
    },
    {
      id: "range",
      name: "extended-field range",
      indexed: true,
      what: "NUMBER field `{$gt: x, $lt: x + 200}` (≈0.14% of contacts)",
      requests: async () =>
        times(RUNS, () => {
          const lo = Math.floor(rand() * 99_800);
          return { query: { filter: { [`info.extendedFields.${numberField}`]: { $gt: lo, $lt: lo + 200 } } } };
        }),
    },
    {
      id: "company",
      name: "company eq + sort by name",
      indexed: true,
      what: '`{"info.company": <one of 372>}`, sort `info.name.first` ASC',
      requests: async () =>
        times(RUNS, () => ({
          query: { filter: { "info.company": pick(COMPANIES) }, sort: [{ fieldName: "info.name.first", order: SortOrder.ASC }] },
        })),
    },
    {
      id: "search",
      name: "search",
      indexed: true,
      what: "`search`: a full email, a first + last name, or a 4-letter last-name prefix (⅓ each)",
      requests: async () => {
        const emails = await emailSample();
        return times(RUNS, (i) => ({
          search: i % 3 === 0 ? (emails[i] ?? "") : i % 3 === 1 ? `${pick(FIRST_NAMES)} ${pick(LAST_NAMES)}` : pick(LAST_NAMES).slice(0, 4).toLowerCase(),
        }));
      },
    },
    {
      id: "cursor0",
      name: "cursor page, depth 0",
      indexed: true,
      what: "no filter, default sort (createdDate DESC), cursor paging, 50 per page: the first page",
      requests: async () => times(RUNS, () => ({ query: { pagingMethod: { case: "cursorPaging", value: { limit: 50 } } } })),
    },
    {
      id: "cursorN",
      name: `cursor page, depth ${DEPTH.toLocaleString("en")}`,
      indexed: true,
      what: `the page after a cursor reached by walking ${DEPTH.toLocaleString("en")} contacts (pages of 1000)`,
      companion: { query: { pagingMethod: { case: "cursorPaging", value: { limit: 50 } } } },
      requests: async () => {
        const cursor = await cursorAt(DEPTH);
        return times(RUNS, () => ({ query: { pagingMethod: { case: "cursorPaging", value: { limit: 50, ...(cursor ? { cursor } : {}) } } } }));
      },
    },
    {
      id: "offset",
      name: "offset page, depth 10,000",
      indexed: true,
      what: "no filter, default sort, `paging {offset: 10000, limit: 50}` (with the capped total)",
      requests: async () => times(RUNS, () => ({ query: { pagingMethod: { case: "paging", value: { offset: 10_000, limit: 50 } } } })),
    },
  ];

  // ---- measure -----------------------------------------------------------------------------
  const stallText = (r: { stalls: { n: number; max: number } }) => (r.stalls.n === 0 ? "0" : `${r.stalls.n} (≤ ${r.stalls.max.toFixed(0)} ms)`);
  interface Result {
    shape: Shape;
    server: { p50: number; p99: number };
    raw: { p50: number; p99: number };
    statements: number;
    matches: string;
    plan: string;
    /** 1-minute load average before and after the shape's runs (other work on the machine). */
    load: [number, number];
    /** Stalls of the monitor's timer during the shape's timed calls: how many, the longest. */
    stalls: { n: number; max: number };
    /** p99 of the calls no stall fell into, and how many server calls those were. */
    calm: { server: number; raw: number; n: number };
    /** Collections of this process's garbage that fell inside its timed calls. */
    collections: number;
    /** The companion request's server times, when the shape has one. */
    companion?: { p50: number; p99: number };
  }
  const results: Result[] = [];
  const ms = (h: ReturnType<typeof createHistogram>, p: number) => h.percentile(p) / 1000;

  /** Per statement (by its SQL text) of the current shape: raw time, for --statements. */
  let perStatement = new Map<string, { sql: string; h: ReturnType<typeof createHistogram> }>();
  async function runRaw(statements: Statement[]) {
    for (let i = 0; i < statements.length; ) {
      const group = statements.filter((st) => st.group === statements[i]?.group);
      await Promise.all(
        group.map(async (st, k) => {
          const t = process.hrtime.bigint();
          await (raws[k % raws.length] as mysql.Connection).query(st.sql, st.bindings);
          if (STATEMENTS) {
            // Statements that differ only in the length of an IN list are one statement here.
            const sql = st.sql.replace(/\(\?(, \?)+\)/g, "(?, …)");
            let entry = perStatement.get(sql);
            if (!entry) {
              entry = { sql: `${group.length > 1 ? "[side by side] " : ""}${sql}`, h: createHistogram() };
              perStatement.set(sql, entry);
            }
            entry.h.record(Math.max(1, Number((process.hrtime.bigint() - t) / 1000n)));
          }
        }),
      );
      i += group.length;
    }
  }
  async function planOf(statements: Statement[]): Promise<string> {
    const page = statements.find((s) => /\bdoc\b/.test(s.sql) && /from \(select/i.test(s.sql));
    if (!page) return "?";
    const explained = await rows<{ table: string; type: string; key: string | null; rows: number; Extra: string }>(`explain ${page.sql}`, page.bindings);
    if (EXPLAIN) {
      console.log(`  ${page.sql}\n  ${JSON.stringify(page.bindings).slice(0, 300)}`);
      for (const e of explained) console.log(`    ${e.table} ${e.type} key=${e.key} rows=${e.rows} ${e.Extra ?? ""}`);
    }
    return explained
      .filter((e) => e.table && !e.table.startsWith("<"))
      .map((e) => `${e.table}:${e.type}${e.key ? `(${e.key})` : ""}`)
      .join(" ");
  }

  const monitor = stallMonitor();
  const gc = collector();
  for (const shape of shapes) {
    if (ONLY && !ONLY.includes(shape.id)) continue;
    console.log(`${shape.name}: preparing ${RUNS} requests`);
    perStatement = new Map();
    const reqs = await shape.requests();
    const loadBefore = loadavg()[0] ?? 0;
    const server = createHistogram();
    const rawH = createHistogram();
    let statements = 0;
    const totals: number[] = [];
    const slow: { us: number; req: Request; total: number; at: number }[] = [];
    let plan = "";
    /** Every timed call, for telling those a machine stall fell into. */
    const calls: { side: "server" | "raw"; at: number; until: number; from: number; to: number; us: number }[] = [];
    const companion = createHistogram();
    const companionBytes = shape.companion && Buffer.from(toBinary(QueryContactsRequestSchema, create(QueryContactsRequestSchema, shape.companion as never)));
    for (const [i, req] of reqs.entries()) {
      const { res, statements: sql } = await capture(req);
      const bytes = Buffer.from(toBinary(QueryContactsRequestSchema, create(QueryContactsRequestSchema, req as never)));
      statements = Math.max(statements, sql.length);
      totals.push(res.pagingMetadata?.tooManyToCount ? Number.POSITIVE_INFINITY : (res.pagingMetadata?.total ?? res.contacts));
      if (i === 0) plan = await planOf(sql);
      const timeServer = async () => {
        gc.collect();
        const [at, from, t] = [Date.now(), performance.now(), process.hrtime.bigint()];
        await timedCall(bytes);
        const us = Math.max(1, Number((process.hrtime.bigint() - t) / 1000n));
        server.record(us);
        calls.push({ side: "server", at, until: Date.now(), from, to: performance.now(), us });
        if (SLOWEST > 0) slow.push({ us, req, total: totals[totals.length - 1] ?? 0, at });
      };
      const timeRaw = async () => {
        gc.collect();
        const [at, from, t] = [Date.now(), performance.now(), process.hrtime.bigint()];
        await runRaw(sql);
        const us = Math.max(1, Number((process.hrtime.bigint() - t) / 1000n));
        rawH.record(us);
        calls.push({ side: "raw", at, until: Date.now(), from, to: performance.now(), us });
      };
      if (i % 2 === 0) {
        await timeServer();
        await timeRaw();
      } else {
        await timeRaw();
        await timeServer();
      }
      if (companionBytes) {
        gc.collect();
        const t = process.hrtime.bigint();
        await timedCall(companionBytes);
        companion.record(Math.max(1, Number((process.hrtime.bigint() - t) / 1000n)));
      }
    }
    // A stall is reported when it ends; it overlapped a call when it ended after the call began
    // and began (at − ms) before the call ended (clock times in whole ms: a ms of slack).
    await new Promise((r) => setTimeout(r, 50));
    const overlapping = (c: { at: number; until: number }) => monitor.stalls.filter((st) => st.at >= c.at && st.at - st.ms <= c.until + 1);
    const stalled = [...new Set(calls.flatMap(overlapping))];
    const collections = gc.pauses.filter((p) => calls.some((c) => p.to > c.from && p.from < c.to)).length;
    const calm = { server: createHistogram(), raw: createHistogram() };
    for (const c of calls) if (overlapping(c).length === 0) calm[c.side].record(c.us);
    const finite = totals.filter(Number.isFinite).sort((a, b) => a - b);
    const capped = totals.length - finite.length;
    const matches = ["cursor0", "cursorN", "offset"].includes(shape.id)
      ? "—"
      : `median ${finite[Math.floor(finite.length / 2)] ?? "-"}${capped ? `, ${capped}/${totals.length} > 10,000` : ""}`;
    const r: Result = {
      shape,
      server: { p50: ms(server, 50), p99: ms(server, 99) },
      raw: { p50: ms(rawH, 50), p99: ms(rawH, 99) },
      statements,
      matches,
      plan,
      load: [loadBefore, loadavg()[0] ?? 0],
      stalls: { n: stalled.length, max: Math.max(0, ...stalled.map((st) => st.ms)) },
      calm: { server: ms(calm.server, 99), raw: ms(calm.raw, 99), n: calm.server.count },
      collections,
      ...(companionBytes ? { companion: { p50: ms(companion, 50), p99: ms(companion, 99) } } : {}),
    };
    results.push(r);
    for (const c of slow.sort((a, b) => b.us - a.us).slice(0, SLOWEST)) {
      const total = c.total === Number.POSITIVE_INFINITY ? "> 10,000" : c.total.toLocaleString("en");
      const stall = Math.max(0, ...overlapping({ at: c.at, until: c.at + c.us / 1000 }).map((st) => st.ms));
      console.log(
        `    ${(c.us / 1000).toFixed(1)} ms${stall ? ` (a ${stall.toFixed(0)} ms stall)` : ""}, ${total} matches: ${JSON.stringify(c.req).slice(0, 160)}`,
      );
    }
    for (const st of [...perStatement.values()].sort((a, b) => b.h.count * b.h.mean - a.h.count * a.h.mean)) {
      if (st.h.count > 1)
        console.log(
          `    raw p50 ${ms(st.h, 50).toFixed(2)} p99 ${ms(st.h, 99).toFixed(2)} ms (n=${st.h.count}): ${st.sql.slice(0, Number(process.env.BENCH_SQL_CHARS ?? 160))}`,
        );
    }
    console.log(
      `  server p50 ${r.server.p50.toFixed(2)} ms p99 ${r.server.p99.toFixed(2)} ms | raw p50 ${r.raw.p50.toFixed(2)} ms p99 ${r.raw.p99.toFixed(2)} ms | ` +
        `ratio ${(r.server.p50 / r.raw.p50).toFixed(2)} / ${(r.server.p99 / r.raw.p99).toFixed(2)} | ${statements} statements | matches ${matches} | ` +
        `load ${r.load[0].toFixed(1)}→${r.load[1].toFixed(1)} | bench GCs in timed calls ${r.collections} | stalls ${stallText(r)}; without them server p99 ${r.calm.server.toFixed(2)} raw p99 ${r.calm.raw.toFixed(2)} (${r.calm.n} calls) | ${plan}`,
    );
  }
  monitor.stop();
  gc.stop();

  // ---- report ------------------------------------------------------------------------------
  const f = (x: number) => x.toFixed(1);
  const table = [
    `| shape | server p50 | server p99 | raw SQL p50 | raw SQL p99 | ratio p50 | ratio p99 | target p99 ≤ 25 ms | matches (total) | load avg | bench GCs in timed calls | stalls > ${STALL_MS} ms | server / raw p99 of calls without one | plan of the page query (table:access(key)) |`,
    "|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|---|---|---|",
    ...results.map(
      (r) =>
        `| ${r.shape.name} | ${f(r.server.p50)} | ${f(r.server.p99)} | ${f(r.raw.p50)} | ${f(r.raw.p99)} | ${(r.server.p50 / r.raw.p50).toFixed(2)} | ` +
        `${(r.server.p99 / r.raw.p99).toFixed(2)} | ${r.shape.indexed ? (r.server.p99 <= 25 ? "met" : `missed by ${f(r.server.p99 - 25)} ms`) : "—"} | ${r.matches} | ` +
        `${r.load[0].toFixed(1)}→${r.load[1].toFixed(1)} | ${r.collections} | ${stallText(r)} | ${f(r.calm.server)} / ${f(r.calm.raw)} (${r.calm.n}) | ${r.plan.replace(/\|/g, "\\|")} |`,
    ),
  ];
  const d0 = results.find((r) => r.shape.id === "cursor0");
  const dN = results.find((r) => r.shape.id === "cursorN");
  const ratio = (a: { p50: number; p99: number }, b: { p50: number; p99: number }) => `p50 ${(a.p50 / b.p50).toFixed(2)}×, p99 ${(a.p99 / b.p99).toFixed(2)}×`;
  const depthLine = [
    d0 && dN
      ? `Cursor page at depth ${DEPTH.toLocaleString("en")} vs depth 0 (server, the two shapes' runs): ${ratio(dN.server, d0.server)} (target ≤ 1.5×).`
      : "",
    dN?.companion
      ? `The same, each deep page followed by a first page in one loop (depth 0: p50 ${f(dN.companion.p50)}, p99 ${f(dN.companion.p99)} ms): ${ratio(dN.server, dN.companion)}.`
      : "",
  ]
    .filter(Boolean)
    .join(" ");
  console.log(`\n${table.join("\n")}\n${depthLine}`);

  if (WRITE) {
    const path = join(import.meta.dirname, "RESULTS.md");
    const head = existsSync(path) ? readFileSync(path, "utf8") : "";
    const section = [
      head.includes("## Query at 1M contacts") ? "### Run" : "## Query at 1M contacts",
      "",
      `${new Date().toISOString()} — ${TENANT}: ${Number(contacts).toLocaleString("en")} contacts (${Number(allContacts).toLocaleString("en")} in all tenants). ` +
        `Machine: ${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM; Node ${process.version}; ` +
        `MariaDB ${version}, innodb_buffer_pool_size ${Math.round(Number(pool) / 2 ** 20)} MiB. ${RUNS} runs per shape, milliseconds, one call at a time; ` +
        `server = QueryContacts over gRPC to the server's grpc-js port, from request sent to whole response received (a grpc-js client that does not decode the response; ${IN_PROCESS ? "server in the same process, under tsx" : "server in its own process, compiled, logging each call to /dev/null"}); raw = the same call's SQL statements in order through mysql2 (those the server ran side by side, side by side).`,
      "",
      `Command: \`DATABASE_URL=${dbUrl.replace(/:[^:@/]*@/, "@")} node --import tsx bench/query.ts ${args.join(" ")}\``,
      "",
      ...table,
      "",
      depthLine,
      "",
      ...results.map((r) => `- ${r.shape.name}: ${r.shape.what}`),
      "",
    ].join("\n");
    appendFileSync(path, `${head && !head.endsWith("\n\n") ? "\n" : ""}${section}`);
    console.log(`appended to ${path}`);
  }

  for (const conn of raws) await conn.end();
  grpcClient.close();
  if (timed) localClient.close();
  timed?.proc.kill("SIGTERM");
  await server.close();
}

main(url).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
