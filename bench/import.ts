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
 *             with the server process's max RSS before and after (`/proc/<pid>/status` VmHWM);
 *             with `--export-contacts N`, also of a tenant of N contacts written straight into
 *             the contacts table (an export reads that table alone), sampling the server's RSS
 *             every second: constant memory shows as a flat RSS whatever N.
 *
 * The server runs compiled in its own process (bench/servers/app.ts, as `npm start` runs it).
 * DATABASE_URL names the MariaDB server (a `contacts_bench_import` database is created and
 * dropped); default mysql://root@127.0.0.1:3306. Options: --contacts N (100000), --callers N (4),
 * --export-contacts N (0), --skip import,raw,label,export.
 */
import { randomUUID } from "node:crypto";
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
const exportContacts = opt("export-contacts", 0);
const skip = new Set((process.argv.find((_, i) => process.argv[i - 1] === "--skip") ?? "").split(","));
const serverUrl = new URL(process.env.DATABASE_URL || "mysql://root@127.0.0.1:3306");
const dbName = "contacts_bench_import";
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${dbName}`;
const TENANT = "import";

const md = new grpc.Metadata();
md.set("x-tenant-id", TENANT);
const passthrough = (b: Buffer): Buffer => b;

function unary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  path: string,
  inDesc: I,
  outDesc: O,
  req: MessageShape<I>,
): Promise<MessageShape<O>> {
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
  console.log(
    `node ${process.version}, ${cpus().length} cores, load avg ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}; ${total} contacts, ${callers} callers`,
  );
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
      const res = await unary(
        client,
        "/contacts.v1.LabelsService/FindOrCreateLabel",
        FindOrCreateLabelRequestSchema,
        FindOrCreateLabelResponseSchema,
        create(FindOrCreateLabelRequestSchema, { displayName: l.name }),
      );
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
    await inFlight(skip.has("import") ? 0 : batches, async (b) => {
      const items = generated.slice(b * 100, b * 100 + 100).map((g) => fromJson(ContactInfoSchema, g.info as JsonValue));
      const res = await unary(
        client,
        "/contacts.v1.ContactsService/BulkUpsertContacts",
        BulkUpsertContactsRequestSchema,
        BulkUpsertContactsResponseSchema,
        create(BulkUpsertContactsRequestSchema, { contacts: items }),
      );
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
        fromJson(BulkLabelAndUnlabelContactsRequestSchema, {
          filter: { createdDate: { $gt: "2000-01-01T00:00:00Z" } },
          labelKeysToAdd: [labelKeys.at(-1) as string],
        }),
      );
      for (;;) {
        const { job } = await unary(
          client,
          "/contacts.v1.ContactsService/GetBulkJob",
          GetBulkJobRequestSchema,
          GetBulkJobResponseSchema,
          create(GetBulkJobRequestSchema, { id: jobId }),
        );
        if (job?.status === BulkJobStatus.COMPLETED) {
          const secs = (performance.now() - t0) / 1000;
          console.log(
            `label:  ${job.totalItems} contacts (${job.successTotal} labelled) in ${secs.toFixed(1)} s = ${Math.round(job.totalItems / secs)} contacts/s (target >= 5000/s)`,
          );
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }

    /** Exports a tenant's contacts; RSS of the server sampled every second meanwhile. */
    const exportAll = async (tenantId: string) => {
      const meta = new grpc.Metadata();
      meta.set("x-tenant-id", tenantId);
      const start = maxRss(app.proc.pid as number);
      const samples: number[] = [];
      const sampler = setInterval(() => samples.push(maxRss(app.proc.pid as number).rss), 1000);
      t0 = performance.now();
      let n = 0;
      try {
        await new Promise<void>((resolve, reject) => {
          const call = client.makeServerStreamRequest(
            "/contacts.v1.ContactsService/ExportContacts",
            passthrough,
            passthrough,
            Buffer.from(toBinary(ExportContactsRequestSchema, create(ExportContactsRequestSchema, {}))),
            meta,
          );
          call.on("data", (b: Buffer) => {
            n += fromBinary(ExportContactsResponseSchema, b).contacts.length;
          });
          call.on("end", resolve);
          call.on("error", reject);
        });
      } finally {
        clearInterval(sampler);
      }
      const secs = (performance.now() - t0) / 1000;
      const after = maxRss(app.proc.pid as number);
      const deciles = [0, 0.25, 0.5, 0.75, 1].map((q) => samples[Math.min(samples.length - 1, Math.floor(q * (samples.length - 1)))]?.toFixed(0));
      console.log(
        `export: ${n} contacts in ${secs.toFixed(1)} s = ${Math.round(n / secs)} contacts/s; server RSS ${start.rss.toFixed(0)} MiB before, ` +
          `at 0/25/50/75/100% of the export ${deciles.join("/")} MiB, max RSS ${after.hwm.toFixed(0)} MiB (max before ${start.hwm.toFixed(0)} MiB)`,
      );
    };
    if (!skip.has("export")) await exportAll(TENANT);
    if (exportContacts > 0) {
      // Contact rows written straight into the table, as the store writes them, a tenant of their own.
      const rows = generated.map((g) => contactRow("export", storedContact(g)));
      const columns = Object.keys(rows[0] as object);
      t0 = performance.now();
      await inFlight(Math.ceil(exportContacts / 500), async (b) => {
        const chunk = Array.from({ length: Math.min(500, exportContacts - b * 500) }, (_, i) => {
          const r = rows[(b * 500 + i) % rows.length] as Record<string, unknown>;
          return columns.map((c) => (c === "id" ? randomUUID() : c === "created_at" ? Number(r.created_at) + b * 500 + i : r[c]));
        });
        await pool.query(`insert into contacts (${columns.join(", ")}) values ?`, [chunk]);
      });
      await pool.query("insert into tenants (tenant_id, event_seq, created_at) values ('export', 0, 0) on duplicate key update tenant_id = tenant_id");
      console.log(`seeded ${exportContacts} contact rows for the export in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      await exportAll("export");
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
