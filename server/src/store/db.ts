import { setTimeout as sleep } from "node:timers/promises";
import knex, { type Knex } from "knex";
import { migrationSource } from "./migrations/index.js";

export type Db = Knex;
/** A database handle or an open transaction; store functions take either, the caller owns the transaction. */
export type Executor = Knex | Knex.Transaction;

export interface DatabaseOptions {
  /** `mysql://user:pass@host:port/db`; absent → embedded SQLite at `sqliteFile`. */
  url: string | undefined;
  /** SQLite file path (or `:memory:`). Default `./data/contacts.db`. */
  sqliteFile: string;
  /** Server-side statement time limit, in ms (MariaDB `max_statement_time`). */
  statementTimeoutMs: number;
  /** Most pooled MySQL connections. */
  poolMax: number;
  /** Where knex's own warnings and errors go (connection errors, pool trouble). */
  log?: { warn(msg: string): void; error(msg: string): void };
}

function knexLog(log: DatabaseOptions["log"]) {
  if (!log) return undefined;
  const text = (m: unknown) => (m instanceof Error ? m.message : String(m));
  return {
    warn: (m: unknown) => log.warn(text(m)),
    error: (m: unknown) => log.error(text(m)),
    deprecate: (m: unknown) => log.warn(text(m)),
    debug: () => {},
  };
}

export function isMysql(db: Executor): boolean {
  return db.client.config.client === "mysql2";
}

/** The parts of a knex client that send one statement on one connection. */
interface StatementClient {
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<void>;
  query(connection: unknown, obj: { sql: string; bindings: Knex.Value[]; options: object; method: string }): Promise<{ response: unknown }>;
}

/**
 * Rows of a read-only statement written in SQL both stores speak, sent through the client's
 * `query` on a pooled connection (or the transaction's) without a query builder or knex's runner
 * (a raw query's builder, SQL formatting and events cost more CPU than MariaDB's answer to a
 * point select). The client's `query` is still the one every statement goes through: it emits
 * knex's `query` event (the tenant audit), binds the statement to its call's deadline
 * (store/call-scope.ts) and reports `query-error`. For the hottest reads only.
 */
export async function selectRows<T>(db: Executor, sql: string, bindings: readonly Knex.Value[]): Promise<T[]> {
  const client = db.client as StatementClient;
  const connection = await client.acquireConnection();
  try {
    const { response } = await client.query(connection, { sql, bindings: [...bindings], options: {}, method: "raw" });
    // mysql2 answers [rows, fields]; better-sqlite3 answers rows.
    return (isMysql(db) ? (response as [T[], unknown])[0] : response) as T[];
  } finally {
    await client.releaseConnection(connection);
  }
}

/**
 * Sends statements in one round trip on MariaDB (the connection's multi-statement mode), in order,
 * stopping at the first that fails; on SQLite, which runs in-process and has no round trip to
 * save, one after another. Resolves with each statement's result: on MariaDB the driver's (rows,
 * or a header with `affectedRows` and `insertId`). A write of one contact is ~10 statements; on a
 * machine where every socket write and read costs a system call, each round trip saved is CPU
 * saved on both sides (bench/RESULTS.md).
 */
export async function sendTogether(trx: Executor, statements: readonly (Knex.QueryBuilder | Knex.Raw)[]): Promise<unknown[]> {
  if (statements.length === 0) return [];
  if (!isMysql(trx) || statements.length === 1) {
    const results: unknown[] = [];
    for (const q of statements) results.push(await q);
    return results;
  }
  const parts = statements.map((q) => q.toSQL().toNative());
  // Straight to the client's `query` (see selectRows), not through knex.raw, which would scan
  // the joined text for its own placeholders again: the compiled statements hold only `?` value
  // placeholders, which mysql2 fills.
  const client = trx.client as StatementClient;
  const connection = await client.acquireConnection();
  try {
    const results: unknown[] = [];
    for (const group of bySize(parts)) {
      const sql = group.map((p) => p.sql).join(";\n");
      const { response } = await client.query(connection, { sql, bindings: group.flatMap((p) => p.bindings as Knex.Value[]), options: {}, method: "raw" });
      // One statement answers with its result alone, several with a list of theirs.
      results.push(...(group.length === 1 ? [(response as [unknown])[0]] : (response as [unknown[]])[0]));
    }
    return results;
  } finally {
    await client.releaseConnection(connection);
  }
}

/** What one round trip of sendTogether carries at most: well under MariaDB's max_allowed_packet (16 MiB). */
const TOGETHER_BYTES = 4 * 1024 * 1024;

/** Consecutive statements in groups of about TOGETHER_BYTES of text and values (a huge insert alone). */
function bySize<T extends { sql: string; bindings: readonly unknown[] }>(parts: readonly T[]): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let size = 0;
  for (const p of parts) {
    const bytes = p.sql.length + p.bindings.reduce<number>((n, b) => n + (typeof b === "string" ? b.length : 8), 0);
    if (group.length > 0 && size + bytes > TOGETHER_BYTES) {
      groups.push(group);
      group = [];
      size = 0;
    }
    group.push(p);
    size += bytes;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** Opens the configured database. Does not connect yet (knex connects lazily). */
export function openDatabase(options: DatabaseOptions): Db {
  if (options.url) {
    const url = new URL(options.url);
    if (url.protocol !== "mysql:") throw new Error(`DATABASE_URL must be mysql://…, got ${url.protocol}`);
    const statementTimeoutS = options.statementTimeoutMs / 1000;
    return knex({
      client: "mysql2",
      connection: {
        // `?socket=/run/mysqld/mysqld.sock` talks to a local server over its Unix socket,
        // which costs the server less CPU per statement than loopback TCP.
        ...(url.searchParams.get("socket")
          ? { socketPath: url.searchParams.get("socket") as string }
          : { host: url.hostname, port: url.port ? Number(url.port) : 3306 }),
        user: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
        database: url.pathname.replace(/^\//, ""),
        charset: "utf8mb4",
        connectTimeout: 5_000,
        supportBigNumbers: true,
        // sendTogether (below) sends a write's statements in one round trip. Every statement the
        // store sends is built with bindings, never with client text spliced in.
        multipleStatements: true,
        // Fail fast instead of queueing forever when the server goes silent (partition).
        enableKeepAlive: true,
      },
      pool: {
        min: 0,
        max: options.poolMax,
        afterCreate(conn: { query: (sql: string, cb: (err: Error | null) => void) => void }, done: (err: Error | null, conn: unknown) => void) {
          // MariaDB enforces the time limit on every statement, so a runaway query cannot hold
          // a connection. READ COMMITTED: every read sees the latest commit; correctness rests
          // on explicit row locks (contact rows, dedupe keys, the tenant row), not on snapshots.
          conn.query(`SET SESSION max_statement_time = ${statementTimeoutS}`, (err) => {
            if (err) return done(err, conn);
            conn.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", (err2) => done(err2, conn));
          });
        },
      },
      acquireConnectionTimeout: 5_000,
      migrations: { migrationSource, tableName: "knex_migrations" },
      ...(options.log ? { log: knexLog(options.log) } : {}),
    });
  }
  return knex({
    client: "better-sqlite3",
    connection: { filename: options.sqliteFile },
    useNullAsDefault: true,
    // One connection: SQLite serialises writers anyway, and transactions then cannot interleave.
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: { pragma: (s: string) => unknown }, done: (err: Error | null, conn: unknown) => void) {
        conn.pragma("journal_mode = WAL");
        conn.pragma("busy_timeout = 5000");
        conn.pragma("synchronous = NORMAL");
        // LIKE compares case-sensitively, as it does under MySQL's utf8mb4_bin, and can then use
        // an index for prefix matches.
        conn.pragma("case_sensitive_like = ON");
        done(null, conn);
      },
    },
    migrations: { migrationSource, tableName: "knex_migrations" },
    ...(options.log ? { log: knexLog(options.log) } : {}),
  });
}

/** The MariaDB named lock that servers take to migrate one database, one at a time. */
const MIGRATION_LOCK = "contacts-api:migrations";

/**
 * Runs pending migrations; returns the names applied. Servers started together on one database
 * take turns: on MariaDB each takes a named lock (GET_LOCK, held by its connection: a server
 * that dies lets go of it) before knex looks at anything, and waits for it up to `waitMs`; the
 * next one then finds nothing left to do. Holding it, a server also repairs knex's own lock
 * table, which cannot be held by anyone else: a lock left set by a server that died while
 * migrating, or a second lock row left by two servers that created the table at once (knex then
 * takes every lock to be held, forever).
 */
export async function migrateLatest(db: Db, waitMs = 600_000): Promise<string[]> {
  const latest = async () => ((await db.migrate.latest()) as [number, string[]])[1];
  if (!isMysql(db)) return latest();
  const client = db.client as StatementClient;
  const connection = await client.acquireConnection();
  const run = async (sql: string, bindings: Knex.Value[]) =>
    ((await client.query(connection, { sql, bindings, options: {}, method: "raw" })).response as [Record<string, unknown>[]])[0];
  try {
    const deadline = Date.now() + waitMs;
    // One second at a time: the statement time limit applies to the wait.
    while (Number((await run("select get_lock(?, 1) as got", [MIGRATION_LOCK]))[0]?.got) !== 1) {
      if (Date.now() > deadline) throw new Error(`another server has been migrating this database for over ${waitMs} ms`);
    }
    try {
      await repairMigrationLock(db);
      return await latest();
    } finally {
      await run("select release_lock(?) as released", [MIGRATION_LOCK]);
    }
  } finally {
    await client.releaseConnection(connection);
  }
}

async function repairMigrationLock(db: Db): Promise<void> {
  if (!(await db.schema.hasTable("knex_migrations_lock"))) return;
  const rows = (await db("knex_migrations_lock").select("is_locked")) as { is_locked: number }[];
  if (rows.length === 1 && Number(rows[0]?.is_locked) === 0) return;
  await db("knex_migrations_lock").delete();
  await db("knex_migrations_lock").insert({ is_locked: 0 });
}

/**
 * Errors after which a transaction is run again from the start: a deadlock (on Galera also a
 * certification conflict), a lock wait timeout, and a duplicate key that the service's own code
 * did not expect (it catches those it does). The last comes from Galera too: a transaction that
 * took the tenant's next event position from its node just before a write set from another node
 * applied the same position there fails its insert with 1062 rather than being aborted with 1213.
 */
const RETRYABLE_MYSQL = new Set([1213, 1205, 1062]);

/** Attempts of a transaction that keeps meeting deadlocks or certification conflicts. */
const TRANSACTION_ATTEMPTS = 16;

/**
 * Runs `work` in a transaction, retrying it on a deadlock or lock-wait timeout (InnoDB may pick
 * any of two contending transactions as the victim; the work is safe to repeat because the
 * whole transaction rolled back). On a Galera cluster the same error comes at COMMIT when a
 * transaction lost certification to one committed through another node (two nodes bumping one
 * tenant's event sequence row): those repeat for as long as both nodes keep writing, so the
 * retries back off exponentially with full jitter (4 ms doubling to 512 ms, about 2.5 s at most)
 * until the contenders fall out of step.
 */
export async function inTransaction<T>(db: Db, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(work);
    } catch (err) {
      const errno = (err as { errno?: number }).errno;
      if (attempt >= TRANSACTION_ATTEMPTS || errno === undefined || !RETRYABLE_MYSQL.has(errno)) throw err;
      await sleep(Math.random() * 2 * 2 ** Math.min(8, attempt));
    }
  }
}

/** True when `err` is a unique-key violation, on either store. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errno?: number };
  return e.errno === 1062 || e.code === "ER_DUP_ENTRY" || e.code === "SQLITE_CONSTRAINT_UNIQUE" || e.code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}

/** Escapes LIKE's wildcards with `!` (a backslash means different things in MySQL and SQLite string literals). */
export const likeEscape = (s: string) => s.replace(/[!%_]/g, (c) => `!${c}`);

/**
 * `col` starts with `prefix`, exactly, as an index range on `col`. Not `col like 'prefix%'` alone:
 * MariaDB turns that into an index range ending at U+FFFF, which misses every value where a
 * character outside the BMP follows the prefix ("jo😀" for "jo"), and SQLite cannot use an index
 * for LIKE on BINARY columns at all. The range is `[lower, successor(prefix))`; the LIKE, kept
 * away from the range optimizer, makes it exact.
 */
export function whereStartsWith(qb: Knex.QueryBuilder, col: string, prefix: string): void {
  whereStartsWithRange(qb, col, prefix);
  const mysql = qb.client.config.client === "mysql2";
  qb.whereRaw(`${mysql ? "cast(?? as binary)" : "??"} like ? escape '!'`, [col, `${likeEscape(prefix)}%`]);
}

/**
 * The index range `whereStartsWith` narrows to: every string starting with `prefix`, and on
 * MariaDB a few more (PAD SPACE order). A caller that uses it alone checks the prefix itself.
 */
export function whereStartsWithRange(qb: Knex.QueryBuilder, col: string, prefix: string): void {
  const lower = qb.client.config.client === "mysql2" ? padSpaceLowerBound(prefix) : prefix;
  const upper = successor(prefix);
  if (lower) qb.whereRaw("?? >= ?", [col, lower]);
  if (upper !== undefined) qb.whereRaw("?? < ?", [col, upper]);
}

/** The least string greater than every string starting with `prefix` (code point order). */
function successor(prefix: string): string | undefined {
  const chars = [...prefix];
  while (chars.length > 0) {
    const cp = (chars.pop() as string).codePointAt(0) as number;
    if (cp < 0x10ffff) return chars.join("") + String.fromCodePoint(cp + 1 === 0xd800 ? 0xe000 : cp + 1);
  }
  return undefined;
}

/**
 * A lower bound of the strings starting with `prefix` under MariaDB's PAD SPACE collations, where
 * "ab\tc" < "ab" (the shorter side is padded with spaces), so `prefix` itself is not one. With
 * `c` the prefix's last character above U+0020 and `a` what precedes it: `a`, the character
 * before `c`, and U+10FFFF — below every string starting with `a c`, above all others but those
 * starting with `a`, that character and U+10FFFF. ('' — no bound — when there is no such `c`.)
 */
function padSpaceLowerBound(prefix: string): string {
  const chars = [...prefix];
  let i = chars.length - 1;
  while (i >= 0 && ((chars[i] as string).codePointAt(0) as number) <= 0x20) i--;
  if (i < 0) return "";
  const c = (chars[i] as string).codePointAt(0) as number;
  return `${chars.slice(0, i).join("")}${String.fromCodePoint(c - 1 === 0xdfff ? 0xd7ff : c - 1)}\u{10FFFF}`;
}
