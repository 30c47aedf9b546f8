/**
 * `npm run bench:contacts`: in one run, with one grpc-js client, calls/s of
 *
 *   - bare:   grpc.health.v1.Health/Check on a bare grpc-js server (an empty call),
 *   - get:    ContactsService/GetContact on the real server (MariaDB store),
 *   - create: ContactsService/CreateContact on the real server (a new email each),
 *   - select: raw mysql2 point selects of the same contact row (`doc` by tenant and id)
 *             through a pool as large as the server's,
 *   - rawtx:  a raw mysql2 transaction through that pool that inserts a contact row (as the
 *             store writes it) and bumps the tenant's event sequence row, then commits: the
 *             least a create with its event in order must do,
 *   - create16, rawtx16: the same spread over 16 tenants (one sequence row each),
 *
 * each with the same number of calls in flight, the reads taking turns for several
 * rounds so that drift of the machine's speed hits all alike, then the creates (see
 * below). Prints every run, medians, and the ratios the issue asks for (GetContact /
 * bare and GetContact / raw select: medians of the per-round ratios; CreateContact /
 * bare and / raw select: ratios of medians).
 *
 * Both servers run as plain `tsc` output in their own processes. The contact
 * read is a realistic one (~1.3 KB as JSON: name, company, 2 emails, 2 phones,
 * an address, 3 labels, an extended field).
 *
 * DATABASE_URL names the MariaDB server (a `contacts_bench_contacts` database is
 * created and dropped there); default mysql://root@127.0.0.1:3306. With
 * `?socket=/run/mysqld/mysqld.sock` the server and the raw pool both use the socket.
 *
 * Options: --rounds N (7), --calls N (5000), --warmup N (1000), --inflight N (16); BENCH_SUBJECTS=get,bare
 * runs only those subjects (to profile one: with BENCH_CPU_PROF=app, see bench/lib.ts).
 */
import { randomUUID } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { type DescMessage, fromBinary, fromJson, type JsonValue, type MessageShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import mysql from "mysql2/promise";
import {
  CreateContactRequestSchema,
  CreateContactResponseSchema,
  GetContactRequestSchema,
  GetContactResponseSchema,
} from "../gen/contacts/v1/contacts_service_pb.js";
import { FindOrCreateLabelRequestSchema, FindOrCreateLabelResponseSchema } from "../gen/contacts/v1/labels_service_pb.js";
import { HealthCheckRequestSchema, HealthCheckResponseSchema } from "../gen/grpc/health/v1/health_pb.js";
import { contactRow } from "../server/src/store/contact-index.js";
import { buildServers, median, opt, startServer } from "./lib.js";

const rounds = opt("rounds", 7);
const calls = opt("calls", 5000);
const warmup = opt("warmup", 1000);
const inflight = opt("inflight", 16);
const poolMax = 10; // the server's DB_POOL_MAX default

const serverUrl = new URL(process.env.DATABASE_URL || "mysql://root@127.0.0.1:3306");
const dbName = "contacts_bench_contacts";
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${dbName}`;
const tenant = "bench";

/** mysql2 options for a DATABASE_URL as the server reads it (`?socket=` for a Unix socket). */
function mysqlOptions(url: URL, database?: string): mysql.ConnectionOptions {
  const socket = url.searchParams.get("socket");
  return {
    ...(socket ? { socketPath: socket } : { host: url.hostname, port: url.port ? Number(url.port) : 3306 }),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    ...(database ? { database } : {}),
  };
}

const md = new grpc.Metadata();
md.set("x-tenant-id", tenant);
/** The 16 tenants of create16 and rawtx16. */
const tenants16 = Array.from({ length: 16 }, (_, i) => `bench-${i}`);
const mds16 = tenants16.map((t) => {
  const m = new grpc.Metadata();
  m.set("x-tenant-id", t);
  return m;
});
const passthrough = (b: Buffer): Buffer => b;

/** One unary call with a pre-encoded request; resolves with the encoded response. */
function call(client: grpc.Client, path: string, req: Uint8Array, meta: grpc.Metadata = md): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(path, passthrough, passthrough, Buffer.from(req), meta, (err, res) => (err ? reject(err) : resolve(res as Buffer)));
  });
}

async function rpc<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  path: string,
  inDesc: I,
  outDesc: O,
  json: JsonValue,
): Promise<MessageShape<O>> {
  return fromBinary(outDesc, await call(client, path, toBinary(inDesc, fromJson(inDesc, json))));
}

/** Runs `op` n times with `inflight` outstanding; returns ops/s. */
async function drive(n: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < n) await op(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inflight, n) }, worker));
  return n / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  console.log(
    `node ${process.version}, ${cpus().length} cores, load avg ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}; ${rounds} rounds x (${warmup} warm-up + ${calls} calls, ${inflight} in flight)`,
  );
  const admin = await mysql.createConnection(mysqlOptions(serverUrl));
  const [[version]] = (await admin.query("select version() as v")) as unknown as [[{ v: string }]];
  console.log(`MariaDB ${version?.v} at ${serverUrl.searchParams.get("socket") ?? serverUrl.host}`);
  await admin.query(`drop database if exists ${dbName}`);
  await admin.query(`create database ${dbName}`);
  buildServers();
  const bare = await startServer("bare", "bare-health", {});
  const app = await startServer("app", "app", { DATABASE_URL: dbUrl.toString(), DB_POOL_MAX: String(poolMax) });
  const bareClient = new grpc.Client(`127.0.0.1:${bare.port}`, grpc.credentials.createInsecure());
  const appClient = new grpc.Client(`127.0.0.1:${app.port}`, grpc.credentials.createInsecure());
  const pool = mysql.createPool({ ...mysqlOptions(serverUrl, dbName), connectionLimit: poolMax });
  try {
    const svc = "/contacts.v1.ContactsService";
    for (const key of ["vip", "newsletter", "partners"]) {
      await rpc(appClient, "/contacts.v1.LabelsService/FindOrCreateLabel", FindOrCreateLabelRequestSchema, FindOrCreateLabelResponseSchema, {
        displayName: key,
      });
    }
    const info = (email: string): JsonValue => ({
      name: { first: "Ada", last: "Lovelace" },
      company: "Analytical Engines Ltd",
      jobTitle: "Chief Mathematician",
      emails: {
        items: [
          { email, tag: "EMAIL_TAG_WORK" },
          { email: `home.${email}`, tag: "EMAIL_TAG_HOME" },
        ],
      },
      phones: {
        items: [
          { phone: "+44 20 7946 0958", tag: "PHONE_TAG_WORK" },
          { phone: "+1 415 555 0100", tag: "PHONE_TAG_MOBILE" },
        ],
      },
      addresses: {
        items: [
          {
            tag: "ADDRESS_TAG_WORK",
            address: { addressLine: "12 St James's Square", city: "London", postalCode: "SW1Y 4LB", country: "GB" },
          },
        ],
      },
      labelKeys: { items: ["custom.vip", "custom.newsletter", "custom.partners"] },
    });
    const created = await rpc(appClient, `${svc}/CreateContact`, CreateContactRequestSchema, CreateContactResponseSchema, {
      info: info("ada@example.com"),
    });
    const id = created.contact?.id as string;
    const getReq = toBinary(GetContactRequestSchema, fromJson(GetContactRequestSchema, { id }));
    const checkReq = toBinary(HealthCheckRequestSchema, fromJson(HealthCheckRequestSchema, {}));
    const got = fromBinary(GetContactResponseSchema, await call(appClient, `${svc}/GetContact`, getReq));
    if (got.contact?.id !== id) throw new Error("GetContact returned another contact");
    const [[row]] = (await pool.query("select length(doc) as n from contacts where tenant_id = ? and id = ?", [tenant, id])) as unknown as [[{ n: number }]];
    console.log(`contact ${id}: stored doc ${row?.n} bytes, GetContact response ${toBinary(GetContactResponseSchema, got).length} bytes`);

    // The sixteen tenants exist (their rows and system labels) before they are timed.
    for (const m of mds16) {
      for (const key of ["vip", "newsletter", "partners"]) {
        const req = toBinary(FindOrCreateLabelRequestSchema, fromJson(FindOrCreateLabelRequestSchema, { displayName: key }));
        await call(appClient, "/contacts.v1.LabelsService/FindOrCreateLabel", req, m);
      }
    }
    // A contact row as the store writes one (store/contact-index.ts), for the raw transaction.
    const stored = JSON.parse(
      ((await pool.query("select doc from contacts where tenant_id = ? and id = ?", [tenant, id])) as unknown as [{ doc: string }[]])[0][0]?.doc ?? "{}",
    );
    const rawRow = (tenantId: string) => {
      const row = contactRow(tenantId, { ...stored, id: randomUUID() });
      return row;
    };
    const rawTx = async (tenantId: string) => {
      const row = rawRow(tenantId);
      const conn = await pool.getConnection();
      try {
        await conn.query("begin");
        await conn.query("insert into contacts set ?", [row]);
        await conn.query("update tenants set event_seq = event_seq + 1 where tenant_id = ?", [tenantId]);
        await conn.query("commit");
      } catch (err) {
        await conn.query("rollback");
        throw err;
      } finally {
        conn.release();
      }
    };

    let serial = 0;
    const all: Record<string, () => Promise<unknown>> = {
      bare: async () => {
        const res = fromBinary(HealthCheckResponseSchema, await call(bareClient, "/grpc.health.v1.Health/Check", checkReq));
        if (res.status !== 1) throw new Error("bare server not SERVING");
      },
      get: () => call(appClient, `${svc}/GetContact`, getReq),
      create: () =>
        call(
          appClient,
          `${svc}/CreateContact`,
          toBinary(CreateContactRequestSchema, fromJson(CreateContactRequestSchema, { info: info(`c${serial++}.${randomUUID()}@example.com`) })),
        ),
      create16: () =>
        call(
          appClient,
          `${svc}/CreateContact`,
          toBinary(CreateContactRequestSchema, fromJson(CreateContactRequestSchema, { info: info(`c${serial++}.${randomUUID()}@example.com`) })),
          mds16[serial % 16],
        ),
      rawtx: () => rawTx(tenant),
      rawtx16: () => rawTx(tenants16[serial++ % 16] as string),
      select: async () => {
        const [rows] = (await pool.query("select doc from contacts where tenant_id = ? and id = ? limit 1", [tenant, id])) as unknown as [{ doc: string }[]];
        if (rows.length !== 1) throw new Error("raw select found no row");
      },
    };
    const results: Record<string, number[]> = { bare: [], get: [], create: [], select: [], rawtx: [], create16: [], rawtx16: [] };
    const only = process.env.BENCH_SUBJECTS?.split(",");
    // The reads take turns first, the creates come after them: a create leaves MariaDB flushing
    // pages and purging for a while, and measured between the reads that background work slowed
    // the bare server's empty calls more than GetContact (GetContact / bare 0.51 instead of 0.42).
    for (const phase of [
      ["bare", "get", "select"],
      ["create", "rawtx", "create16", "rawtx16"],
    ]) {
      const subjects = Object.entries(all).filter(([name]) => phase.includes(name) && (!only || only.includes(name)));
      if (subjects.length === 0) continue;
      for (const [, op] of subjects) await drive(warmup, op);
      for (let r = 1; r <= rounds; r++) {
        const line: string[] = [];
        for (const [name, op] of subjects) {
          const cps = await drive(calls, op);
          results[name]?.push(cps);
          line.push(`${name} ${Math.round(cps)}`);
        }
        console.log(`round ${r}: ${line.join(", ")} /s`);
      }
    }
    const med = (k: string): number => median(results[k] ?? []);
    /** The median of the per-round ratios (both measured in the same rounds). */
    const ratio = (a: string, b: string): string => {
      const ra = results[a] ?? [];
      const rb = results[b] ?? [];
      return median(ra.map((x, i) => x / (rb[i] ?? Number.NaN))).toFixed(3);
    };
    console.log("");
    for (const k of Object.keys(results)) console.log(`${k.padEnd(7)} median ${Math.round(med(k))} calls/s  (runs ${results[k]?.map(Math.round).join(" / ")})`);
    console.log(`GetContact / bare empty call:    ${ratio("get", "bare")}  (target >= 0.5)`);
    console.log(`GetContact / raw mysql2 select:  ${ratio("get", "select")}`);
    // Creates run in rounds of their own: their ratios are of medians.
    console.log(`CreateContact / bare empty call: ${(med("create") / med("bare")).toFixed(3)}`);
    console.log(`CreateContact / raw mysql2 select: ${(med("create") / med("select")).toFixed(3)}`);
    console.log(`CreateContact / raw transaction, one tenant:  ${ratio("create", "rawtx")}  (target >= 0.4)`);
    console.log(`CreateContact / raw transaction, 16 tenants:  ${ratio("create16", "rawtx16")}  (target >= 0.4)`);
  } finally {
    bareClient.close();
    appClient.close();
    await pool.end();
    bare.proc.kill("SIGTERM");
    app.proc.kill("SIGTERM");
    await admin.query(`drop database if exists ${dbName}`);
    await admin.end();
  }
}

await main();
