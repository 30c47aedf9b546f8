/**
 * Seeds the query bench's database: one big tenant (default 1,000,000 contacts) and smaller
 * tenants around it (default 5 × 20,000), through the store's own bulk path
 * (`insertContacts`), in transactions of a few thousand contacts. Labels and custom extended
 * fields are created through the services first, and every contact's info goes through the
 * service's `normaliseInfo` (ids, primary flags, parsed phones), so the rows are exactly what
 * CreateContact would have written. Constraints, durability settings and the server's
 * configuration are left alone.
 *
 *   DATABASE_URL=mysql://root@127.0.0.1:3306/contacts_bench node --import tsx bench/seed.ts --contacts 1000000
 *
 * Options: --contacts N (1000000, the big tenant), --small-tenants N (5), --small-contacts N
 * (20000 each), --batch N (2000 contacts per transaction), --concurrency N (2 transactions in
 * flight), --seed N (1), --reset (drop and recreate the database first).
 * Tenants: bench-big, and bench-s1…bench-sN, half of them sorting before bench-big and half after
 * (`bench-a…` / `bench-z…`), so the big tenant's index ranges have neighbours on both sides.
 */
import { cpus } from "node:os";
import mysql from "mysql2/promise";
import type { Caller } from "../server/src/domain/caller.js";
import type { StoredContact } from "../server/src/domain/contacts.js";
import { findOrCreateExtendedField } from "../server/src/services/extended-fields.js";
import { findOrCreateLabel } from "../server/src/services/labels.js";
import pino from "pino";
import { startServer } from "../server/src/app.js";
import { DEFAULTS } from "../server/src/config.js";
import type { ServiceDeps } from "../server/src/services/deps.js";
import { INDEX_TABLE_NAMES } from "../server/src/store/contact-index.js";
import { insertContacts } from "../server/src/store/contacts.js";
import { inTransaction } from "../server/src/store/db.js";
import { BIG_TENANT, FIELDS, generateContact, type Keys, LABELS, prng, smallTenants, storedContact } from "./seed-data.js";

const args = process.argv.slice(2);
function opt(name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a number`);
  return v;
}
const BIG = opt("contacts", 1_000_000);
const SMALL_TENANTS = opt("small-tenants", 5);
const SMALL = opt("small-contacts", 20_000);
const BATCH = Math.max(1, opt("batch", 2000));
const CONCURRENCY = Math.max(1, opt("concurrency", 2));
const SEED = opt("seed", 1);
const RESET = args.includes("--reset");

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is required, e.g. mysql://root@127.0.0.1:3306/contacts_bench");
  process.exit(2);
}

async function ensureDatabase(dbUrl: string): Promise<void> {
  const u = new URL(dbUrl);
  const name = u.pathname.replace(/^\//, "");
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`unexpected database name "${name}"`);
  u.pathname = "/";
  const conn = await mysql.createConnection({ uri: u.toString() });
  try {
    if (RESET) {
      console.log(`dropping database ${name}`);
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
    }
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await conn.end();
  }
}

const meta = (what: string) => ({ method: "bench/seed", fingerprint: what });

async function defineSchema(deps: ServiceDeps, caller: Caller): Promise<Keys> {
  const labels: string[] = [];
  for (const l of LABELS) labels.push((await findOrCreateLabel(deps, caller, l.name, meta(`label:${l.name}`))).entity.key);
  const field = async (f: { name: string; dataType: "NUMBER" | "DATE" | "TEXT" }) =>
    (await findOrCreateExtendedField(deps, caller, f.name, f.dataType, meta(`field:${f.name}`))).entity.key;
  return { labels, number: await field(FIELDS.number), date: await field(FIELDS.date), text: await field(FIELDS.text) };
}

interface Totals {
  contacts: number;
  startedAt: number;
}

async function seedTenant(deps: ServiceDeps, tenantId: string, count: number, seed: number, totals: Totals): Promise<void> {
  const caller: Caller = { tenantId, subject: "bench-seed", identityType: "USER" };
  const keys = await defineSchema(deps, caller);
  const [counted] = (await deps.db("contacts").where({ tenant_id: tenantId }).count({ n: "*" })) as { n: number }[];
  const existing = Number(counted?.n ?? 0);
  if (existing >= count) {
    console.log(`${tenantId}: already has ${existing} contacts, skipping`);
    return;
  }
  if (existing > 0) throw new Error(`${tenantId} has ${existing} of ${count} contacts: rerun with --reset`);

  const rand = prng(seed);
  const tag = tenantId.replace(/[^a-z0-9]/g, "");
  let next = 0;
  const tenantStart = performance.now();
  let lastReport = tenantStart;
  let sinceReport = 0;

  const makeBatch = (): StoredContact[] => {
    const out: StoredContact[] = [];
    for (let k = 0; k < BATCH && next < count; k++, next++) {
      out.push(storedContact(generateContact(rand, next, tag, keys)));
    }
    return out;
  };

  // Workers alternate: while one transaction is in the database, the next batch is generated.
  const worker = async () => {
    for (;;) {
      const batch = makeBatch();
      if (batch.length === 0) return;
      await inTransaction(deps.db, (trx) => insertContacts(trx, tenantId, batch));
      totals.contacts += batch.length;
      sinceReport += batch.length;
      const now = performance.now();
      if (now - lastReport >= 5000) {
        const done = next;
        console.log(
          `${tenantId}: ${done.toLocaleString("en")}/${count.toLocaleString("en")} ` +
            `(${Math.round((sinceReport / (now - lastReport)) * 1000)} contacts/s now, ` +
            `${Math.round((totals.contacts / (now - totals.startedAt)) * 1000)} contacts/s overall, ` +
            `${((now - totals.startedAt) / 1000).toFixed(0)} s)`,
        );
        lastReport = now;
        sinceReport = 0;
      }
      // Let the other worker's generation and this one's I/O interleave.
      await new Promise((r) => setImmediate(r));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const s = (performance.now() - tenantStart) / 1000;
  console.log(`${tenantId}: ${count.toLocaleString("en")} contacts in ${s.toFixed(1)} s (${Math.round(count / s)} contacts/s)`);
}

const INDEX_TABLES = ["contacts", ...INDEX_TABLE_NAMES];

async function main(dbUrl: string): Promise<void> {
  await ensureDatabase(dbUrl);
  // The real server's wiring (migrations, services and their dependencies); no call is made to
  // its ports: the seed uses its services and its database handle directly.
  const server = await startServer(
    { ...DEFAULTS, grpcPort: 0, httpPort: 0, databaseUrl: dbUrl, dbPoolMax: CONCURRENCY + 2, dbStatementTimeoutMs: 600_000, shutdownGraceMs: 1000 },
    pino({ level: "warn" }),
  );
  const { db, deps } = server;
  try {
    const version = ((await db.raw("select version() as v")) as { v: string }[][])[0]?.[0];
    console.log(
      `seeding ${BIG.toLocaleString("en")} contacts into ${BIG_TENANT} and ${SMALL_TENANTS} × ${SMALL.toLocaleString("en")} around it ` +
        `(batch ${BATCH}, ${CONCURRENCY} in flight, seed ${SEED}) — ${cpus().length} cores, Node ${process.version}, MariaDB ${version?.v}`,
    );
    const totals: Totals = { contacts: 0, startedAt: performance.now() };
    const smalls = smallTenants(SMALL_TENANTS);
    const before = smalls.filter((t) => t < BIG_TENANT);
    const after = smalls.filter((t) => t > BIG_TENANT);
    for (const [i, t] of before.entries()) await seedTenant(deps, t, SMALL, SEED * 1000 + i + 1, totals);
    await seedTenant(deps, BIG_TENANT, BIG, SEED * 1000, totals);
    for (const [i, t] of after.entries()) await seedTenant(deps, t, SMALL, SEED * 1000 + before.length + i + 1, totals);
    const seconds = (performance.now() - totals.startedAt) / 1000;

    // Exact row counts of what was written, and the whole rate including index rows.
    let rows = 0;
    const counts: string[] = [];
    for (const table of INDEX_TABLES) {
      const [counted] = (await db(table).count({ n: "*" })) as { n: number }[];
      const n = Number(counted?.n ?? 0);
      rows += n;
      counts.push(`${table} ${Number(n).toLocaleString("en")}`);
    }
    console.log(`rows now in the database: ${counts.join(", ")}`);
    if (totals.contacts > 0) {
      console.log(
        `inserted ${totals.contacts.toLocaleString("en")} contacts in ${seconds.toFixed(1)} s: ` +
          `${Math.round(totals.contacts / seconds)} contacts/s, ~${Math.round((rows * totals.contacts) / (BIG + SMALL * SMALL_TENANTS) / seconds)} rows/s (all tables)`,
      );
    }
    console.log("analyzing tables");
    for (const table of INDEX_TABLES) await db.raw(`ANALYZE TABLE ??`, [table]);
  } finally {
    await server.close();
  }
}

main(url).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
