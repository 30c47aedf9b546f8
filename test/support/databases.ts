/**
 * One fresh database per test file (or per test) on the server named by MYSQL_URL, which the
 * global setup (test/support/global-setup.ts) resolves and exports to the workers.
 *
 * Names look like `t_<prefix>_<creation time, base 36 ms>_<8 random hex>`, so leftovers from
 * crashed runs can be recognised and aged by `dropStaleTestDatabases` without touching any other
 * database (including other `t_…` databases that don't follow this exact pattern).
 */
import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";

export interface TestDatabase {
  /** `mysql://…/<name>`: same server and credentials as MYSQL_URL, with this database selected. */
  url: string;
  name: string;
  /** Drops the database; safe to call more than once. */
  drop: () => Promise<void>;
}

const NAME_RE = /^t_(?:[a-z0-9_]*_)?([0-9a-z]{6,11})_([0-9a-f]{8})$/;

export function serverUrl(): string {
  const url = process.env.MYSQL_URL;
  if (!url) {
    throw new Error(
      "MYSQL_URL is not set: run the tests through `npm test` (or `npx vitest`, whose global setup " +
        "test/support/global-setup.ts finds a server and sets it).",
    );
  }
  return url;
}

/** The server URL with `name` as its database, keeping credentials and query parameters. */
export function urlForDatabase(server: string, name: string): string {
  const u = new URL(server);
  u.pathname = `/${name}`;
  return u.toString();
}

function serverConnection(server: string): Promise<mysql.Connection> {
  // Strip any database from the URL: we connect to the server, not to a schema that may not exist.
  return mysql.createConnection({ uri: urlForDatabase(server, ""), connectTimeout: 10_000 });
}

function testDatabaseName(prefix: string): string {
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 32);
  const stamp = Date.now().toString(36);
  const rand = randomBytes(4).toString("hex");
  return clean ? `t_${clean}_${stamp}_${rand}` : `t_${stamp}_${rand}`;
}

/** Creation time encoded in a test database name, or undefined when the name is not ours. */
export function testDatabaseCreatedAt(name: string): number | undefined {
  const m = NAME_RE.exec(name);
  if (!m?.[1]) return undefined;
  const ms = Number.parseInt(m[1], 36);
  // Plausibility window (2020..2200) so that e.g. `t_foo_bar_deadbeef` is not misread as ours.
  return ms > 1_577_836_800_000 && ms < 7_258_118_400_000 ? ms : undefined;
}

export async function createTestDatabase(prefix = ""): Promise<TestDatabase> {
  const server = serverUrl();
  const name = testDatabaseName(prefix);
  const conn = await serverConnection(server);
  try {
    await conn.query(`CREATE DATABASE ${conn.escapeId(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await conn.end();
  }
  let dropped = false;
  return {
    name,
    url: urlForDatabase(server, name),
    drop: async () => {
      if (dropped) return;
      const c = await serverConnection(server);
      try {
        await c.query(`DROP DATABASE IF EXISTS ${c.escapeId(name)}`);
        dropped = true;
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * Drops databases created by createTestDatabase more than `maxAgeMs` ago (crashed or killed runs).
 * Only names matching the exact `t_…_<time>_<hex8>` pattern are considered. Returns the dropped names.
 */
export async function dropStaleTestDatabases(server = serverUrl(), maxAgeMs = 60 * 60 * 1000): Promise<string[]> {
  const conn = await serverConnection(server);
  const dropped: string[] = [];
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 't\\_%'");
    const cutoff = Date.now() - maxAgeMs;
    for (const row of rows) {
      const name = String(row.name);
      const created = testDatabaseCreatedAt(name);
      if (created === undefined || created > cutoff) continue;
      await conn.query(`DROP DATABASE IF EXISTS ${conn.escapeId(name)}`);
      dropped.push(name);
    }
  } finally {
    await conn.end();
  }
  return dropped;
}
