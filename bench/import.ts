/**
 * `npm run bench:import`: whole lists at once, on MariaDB, in one run:
 *
 *   - import: N generated contacts (bench/seed-data.ts) into an empty tenant through
 *             BulkUpsertContacts, 100 a call, `--callers` calls in flight (the path `npm run
 *             import` and the SDK's importContacts take), in contacts/s;
 *   - raw:    the same documents as the store writes them (store/contact-index.ts contactRow) by
 *             raw mysql2 multi-row INSERTs into the contacts table alone, 500 rows a transaction,
 *             as many callers, into another tenant: what the database takes with no index row,
 *             no duplicate check and no event;
 *   - label:  BulkLabelAndUnlabelContacts over every imported contact, from the call to COMPLETED,
 *             in contacts/s;
 *   - export: ExportContacts of every imported contact, read by a grpc-js client, in contacts/s,
 *             with the server process's max RSS before and after (`/proc/<pid>/status` VmHWM).
 *
 * The server runs compiled in its own process (bench/servers/app.ts, as `npm start` runs it).
 * DATABASE_URL names the MariaDB server (a `contacts_bench_import` database is created and
 * dropped); default mysql://root@127.0.0.1:3306. Options: --contacts N (100000), --callers N (4),
 * --skip raw,label,export.
 */
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { create, fromJson, type JsonValue, toBinary, fromBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import mysql from "mysql2/promise";
import { BulkJobStatus } from "../gen/contacts/v1/bulk_job_pb.js";
import { ContactInfoSchema } from "../gen/contacts/v1/contact_pb.js";
import {
  BulkLabelAndUnlabelContactsRequestSchema,
  BulkLabelAndUnlabelContactsResponseSchema,
  BulkUpsertContactsRequestSchema,
  BulkUpsertContactsResponseSchema,
  ExportContactsRequestSchema,
  ExportContactsResponseSchema,
  GetBulkJobRequestSchema,
  GetBulkJobResponseSchema,
  UpsertAction,
} from "../gen/contacts/v1/contacts_service_pb.js";
import { FindOrCreateExtendedFieldRequestSchema, FindOrCreateExtendedFieldResponseSchema } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { FindOrCreateLabelRequestSchema, FindOrCreateLabelResponseSchema } from "../gen/contacts/v1/labels_service_pb.js";
import { contactRow } from "../server/src/store/contact-index.js";
import { buildServers, opt, startServer } from "./lib.js";
import { FIELDS, generateContact, LABELS, prng, storedContact, type Keys } from "./seed-data.js";

const total = opt("contacts", 100_000);
const callers = opt("callers", 4);
const skip = new Set((process.argv.find((_, i) => process.argv[i - 1] === "--skip") ?? "").split(","));
const serverUrl = new URL(process.env.DATABASE_URL || "mysql://root@127.0.0.1:3306");
const dbName = "contacts_bench_import";
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${dbName}`;
const TENANT = "import";

const md = new grpc.Metadata();
md.set("x-tenant-id", TENANT);
const passthrough = (b: Buffer): Buffer => b;

function unary<I extends DescMessage, O extends DescMessage>(client: grpc.Client, path: string, inDesc: I, outDesc: O, req: MessageShape<I>): Promise<MessageShape<O>> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(path, passthrough, passthrough, Buffer.from(toBinary(inDesc, req)), md, { deadline: Date.now() + 120_000 }, (err, res) =>
      err ? reject(err) : resolve(fromBinary(outDesc, res as Buffer)),
    );
  });
}

/** Runs `work(i)` for i in [0, n) with `callers` in flight. */
async function inFlight(n: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(callers, n) }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

function maxRss(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${cpus().length} cores, load avg ${loadavg().map((l) => l.toFixed(2)).join(" ")}; ${total} contacts, ${callers} callers`);
  const admin = await mysql.createConnection({ uri: serverUrl.toString() });
  const [[version]] = (await admin.query("select version() as v")) as unknown as [[{ v: string }]];
  console.log(`MariaDB ${version?.v}`);
  await admin.query(`drop database if exists ${dbName}`);
  await admin.query(`create database ${dbName}`);
  buildServers();
  const app = await startServer("app", "app", { DATABASE_URL: dbUrl.toString() });
  const client = new grpc.Client(`127.0.0.1:${app.port}`, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": 64 * 1024 * 1024 });
  const pool = mysql.createPool({ uri: dbUrl.toString(), connectionLimit: callers });
  try {
    const labelKeys: string[] = [];
    for (const l of LABELS) {
      const res = await unary(client, "/contacts.v1.LabelsService/FindOrCreateLabel", FindOrCreateLabelRequestSchema, FindOrCreateLabelResponseSchema, create(FindOrCreateLabelRequestSchema, { displayName: l.name }));
      labelKeys.push(res.label?.key as string);
    }
    const fieldKey = async (f: { name: string; dataType: string }) =>
      (
        await unary(
          client,
          "/contacts.v1.ExtendedFieldsService/FindOrCreateExtendedField",
          FindOrCreateExtendedFieldRequestSchema,
          FindOrCreateExtendedFieldResponseSchema,
          fromJson(FindOrCreateExtendedFieldRequestSchema, { displayName: f.name, dataType: `FIELD_DATA_TYPE_${f.dataType}` }),
        )
      ).field?.key as string;
    const keys: Keys = { labels: labelKeys, number: await fieldKey(FIELDS.number), date: await fieldKey(FIELDS.date), text: await fieldKey(FIELDS.text) };
    const rand = prng(20261207);
    const generated = Array.from({ length: total }, (_, n) => generateContact(rand, n, "imp", keys));
    const batches = Math.ceil(total / 100);
    const before = maxRss(app.proc.pid as number);
    console.log(`server RSS before: ${before.rss.toFixed(0)} MiB (max ${before.hwm.toFixed(0)} MiB)`);

    // Import through BulkUpsertContacts.
    let created = 0;
    let rejected = 0;
    let t0 = performance.now();
    await inFlight(batches, async (b) => {
      const items = generated.slice(b * 100, b * 100 + 100).map((g) => fromJson(ContactInfoSchema, g.info as JsonValue));
      const res = await unary(client, "/contacts.v1.ContactsService/BulkUpsertContacts", BulkUpsertContactsRequestSchema, BulkUpsertContactsResponseSchema, create(BulkUpsertContactsRequestSchema, { contacts: items }));
      // The generator makes a few contacts with neither name, email nor phone: rejected rows.
      const failed = res.results.filter((r) => r.action === UpsertAction.FAILED);
      rejected += failed.length;
      const other = failed.find((r) => r.error?.code !== "INSUFFICIENT_CONTACT_DATA");
      if (other) throw new Error(`batch ${b}: ${other.error?.code} ${other.error?.message}`);
      created += res.results.filter((r) => r.action === UpsertAction.CREATED).length;
      if (b % 100 === 99) process.stdout.write(`  import ${(b + 1) * 100} (${Math.round(((b + 1) * 100) / ((performance.now() - t0) / 1000))}/s)\n`);
    });
    const importSecs = (performance.now() - t0) / 1000;
    const importRate = total / importSecs;
    console.log(`import: ${total} contacts (${created} created, ${rejected} rejected) in ${importSecs.toFixed(1)} s = ${Math.round(importRate)} contacts/s`);

    let rawRate = Number.NaN;
    if (!skip.has("raw")) {
      const rows = generated.map((g) => contactRow("raw", storedContact(g)));
      t0 = performance.now();
      await inFlight(Math.ceil(total / 500), async (b) => {
        const chunk = rows.slice(b * 500, b * 500 + 500);
        const columns = Object.keys(chunk[0] as object);
        const conn = await pool.getConnection();
        try {
          await conn.query("begin");
          await conn.query(`insert into contacts (${columns.join(", ")}) values ?`, [chunk.map((r) => columns.map((c) => (r as Record<string, unknown>)[c]))]);
          await conn.query("commit");
        } finally {
          conn.release();
        }
      });
      rawRate = total / ((performance.now() - t0) / 1000);
      console.log(`raw:    ${total} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s = ${Math.round(rawRate)} rows/s`);
      console.log(`import / raw = ${(importRate / rawRate).toFixed(3)} (goal >= 0.25; target import >= 3000/s)`);
    }

    if (!skip.has("label")) {
      t0 = performance.now();
      const { jobId } = await unary(
        client,
        "/contacts.v1.ContactsService/BulkLabelAndUnlabelContacts",
        BulkLabelAndUnlabelContactsRequestSchema,
        BulkLabelAndUnlabelContactsResponseSchema,
        fromJson(BulkLabelAndUnlabelContactsRequestSchema, { filter: { createdDate: { $gt: "2000-01-01T00:00:00Z" } }, labelKeysToAdd: [labelKeys.at(-1) as string] }),
      );
      for (;;) {
        const { job } = await unary(client, "/contacts.v1.ContactsService/GetBulkJob", GetBulkJobRequestSchema, GetBulkJobResponseSchema, create(GetBulkJobRequestSchema, { id: jobId }));
        if (job?.status === BulkJobStatus.COMPLETED) {
          const secs = (performance.now() - t0) / 1000;
          console.log(`label:  ${job.totalItems} contacts (${job.successTotal} labelled) in ${secs.toFixed(1)} s = ${Math.round(job.totalItems / secs)} contacts/s (target >= 5000/s)`);
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }

    if (!skip.has("export")) {
      t0 = performance.now();
      let n = 0;
      await new Promise<void>((resolve, reject) => {
        const call = client.makeServerStreamRequest("/contacts.v1.ContactsService/ExportContacts", passthrough, passthrough, Buffer.from(toBinary(ExportContactsRequestSchema, create(ExportContactsRequestSchema, {}))), md);
        call.on("data", (b: Buffer) => {
          n += fromBinary(ExportContactsResponseSchema, b).contacts.length;
        });
        call.on("end", resolve);
        call.on("error", reject);
      });
      const secs = (performance.now() - t0) / 1000;
      const after = maxRss(app.proc.pid as number);
      console.log(`export: ${n} contacts in ${secs.toFixed(1)} s = ${Math.round(n / secs)} contacts/s; server RSS ${after.rss.toFixed(0)} MiB, max RSS ${after.hwm.toFixed(0)} MiB`);
    }
  } finally {
    client.close();
    await pool.end();
    app.proc.kill("SIGTERM");
    await admin.query(`drop database if exists ${dbName}`);
    await admin.end();
  }
}

await main();
