/**
 * Every use of knex's private members, in one module. Deadlines (store/call-scope.ts) need four
 * things knex has no public API for:
 *
 *   1. a handle whose statements carry one call's signal, sharing the one pool (`forkClient`);
 *   2. each statement, with the connection it runs on, as it is sent (`wrapClientQuery`);
 *   3. a connection destroyed instead of reused when it goes back to the pool (`disposeConnection`);
 *   4. the statement `cancelQuery` sends (`setCancelStatement`): KILL CONNECTION, not KILL QUERY.
 *
 * The public `.timeout(ms, { cancel: true })` does not suffice: it takes a number per statement,
 * not the call's signal (a client cancelling mid-call is no timeout, and a transaction's
 * statements share one deadline), and it cancels with KILL QUERY, which travels on another
 * connection and can reach the server before the statement does, killing nothing.
 *
 * `checkKnexInternals` runs when the server starts (app.ts) and refuses to start it when one of
 * them no longer is what this module relies on; test/internals.test.ts also pins the knex version
 * the module was checked against to the lock file's, and checks the behaviour end to end.
 */
import { createRequire } from "node:module";
import type { Knex } from "knex";

/** The knex version these internals were read from and checked against. */
export const KNEX_VERIFIED = "3.3.0";

type QueryFn = (this: ClientInternals, connection: unknown, obj: unknown) => Promise<unknown>;

interface ClientInternals {
  config: Record<string | symbol, unknown>;
  query: QueryFn;
  cancelQuery(connection: unknown): Promise<void>;
  _query(connection: unknown, obj: unknown): Promise<unknown>;
  _wrappedCancelQueryCall?: (connection: unknown, connectionToKill: { threadId: number }) => Promise<unknown>;
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<void>;
}

interface KnexInternals {
  context: { client: unknown; queryBuilder(): Knex.QueryBuilder };
  client: ClientInternals;
}

const internals = (db: Knex) => db as unknown as KnexInternals;
const clientProto = (db: Knex) => Object.getPrototypeOf(internals(db).client) as ClientInternals;

/**
 * A handle on `db` whose client's configuration also holds `key: value`, read back with
 * `configOf` from inside `wrapClientQuery` — for every statement sent through the handle, or
 * through a transaction begun on it (knex copies that configuration into each transaction's
 * client). A few objects inheriting from `db`, its context and its client: no new pool.
 */
export function forkClient(db: Knex, key: symbol, value: unknown): Knex {
  const root = internals(db);
  const client = Object.create(root.client) as ClientInternals;
  client.config = Object.create(root.client.config);
  client.config[key] = value;
  const context = Object.create(root.context) as KnexInternals["context"];
  context.client = client;
  // A knex instance is a function (`db("contacts")`) whose methods forward to its context.
  const fork = function (this: unknown, tableName?: string, options?: unknown) {
    const qb = context.queryBuilder();
    return tableName ? qb.table(tableName, options as never) : qb;
  } as unknown as Knex & { context: object };
  Object.setPrototypeOf(fork, db);
  fork.context = context;
  return fork;
}

/** The configuration `forkClient` extended, seen from a client inside `wrapClientQuery`. */
export function configOf(client: unknown): Record<string | symbol, unknown> {
  return (client as ClientInternals).config;
}

const WRAPPED = Symbol.for("contacts-api.knex-query-wrapped");

/**
 * Routes every statement of `db`'s dialect through `wrap`, which calls `send` to run it. It wraps
 * the dialect's `query` on the client's prototype, because knex runs a transaction's statements
 * through a client made from that prototype, not through the instance. Once per dialect.
 */
export function wrapClientQuery(db: Knex, wrap: (client: unknown, connection: unknown, obj: unknown, send: () => Promise<unknown>) => Promise<unknown>): void {
  const proto = clientProto(db) as ClientInternals & { [WRAPPED]?: boolean };
  if (proto[WRAPPED]) return;
  const original = proto.query;
  proto.query = function (connection, obj) {
    return wrap(this, connection, obj, () => original.call(this, connection, obj));
  };
  proto[WRAPPED] = true;
}

/** Marks a pooled connection so that knex destroys it when it is released, instead of reusing it. */
export function disposeConnection(connection: unknown, reason: Error): void {
  const c = connection as { __knex__disposed?: Error };
  // The first reason is the one knex logs when it drops the connection.
  c.__knex__disposed ??= reason;
}

/** The SQL of a statement as `wrapClientQuery` sees it (knex passes a string or `{ sql }`). */
export function sqlOf(obj: unknown): string {
  return typeof obj === "string" ? obj : ((obj as { sql?: string } | undefined)?.sql ?? "");
}

/**
 * Makes `cancelQuery(connection)` (which knex sends from a new connection) run `sql` with the
 * connection's thread id as its one binding. MySQL dialects only.
 */
export function setCancelStatement(db: Knex, sql: string): void {
  const proto = clientProto(db);
  proto._wrappedCancelQueryCall = function (this: ClientInternals, conn: unknown, connectionToKill: { threadId: number }) {
    return this._query(conn, { sql, bindings: [connectionToKill.threadId], options: {} });
  };
}

/** Cancels the statement running on `connection`, as `setCancelStatement` chose. */
export function cancelStatement(client: unknown, connection: unknown): Promise<void> {
  return (client as ClientInternals).cancelQuery(connection);
}

/**
 * Checks that each internal above is still what this module relies on, against the live pool;
 * throws, naming what changed, when one is not. A few milliseconds, once at start-up.
 */
export async function checkKnexInternals(db: Knex): Promise<void> {
  const problems: string[] = [];
  const root = internals(db);
  const proto = clientProto(db);
  const mysql = db.client.config.client === "mysql2";
  if (typeof root.context?.queryBuilder !== "function") problems.push("knex instance has no context.queryBuilder()");
  if (typeof root.client?.config !== "object") problems.push("knex client has no config object");
  if (typeof proto.query !== "function") problems.push("the dialect's prototype has no query()");
  if (mysql) {
    if (typeof proto._query !== "function") problems.push("the MySQL dialect has no _query()");
    if (typeof proto._wrappedCancelQueryCall !== "function") problems.push("the MySQL dialect has no _wrappedCancelQueryCall()");
    else if (!String(proto.cancelQuery).includes("_wrappedCancelQueryCall")) problems.push("cancelQuery() no longer goes through _wrappedCancelQueryCall()");
  }
  if (problems.length === 0) {
    // The configuration of a fork reaches the client of a transaction begun on it.
    const key = Symbol("knex-internals-check");
    let seen: unknown;
    await forkClient(db, key, true).transaction(async (trx) => {
      seen = configOf((trx as unknown as KnexInternals).client)[key];
    });
    if (seen !== true) problems.push("a fork's configuration does not reach its transactions' client");
  }
  if (problems.length === 0 && mysql) {
    // A disposed connection is not handed out again.
    const first = await root.client.acquireConnection();
    disposeConnection(first, new Error("dropped on purpose by the start-up check of knex internals"));
    await root.client.releaseConnection(first);
    const second = await root.client.acquireConnection();
    await root.client.releaseConnection(second);
    if (second === first) problems.push("a connection marked __knex__disposed went back into the pool");
  }
  if (problems.length > 0) {
    const version = (createRequire(import.meta.url)("knex/package.json") as { version: string }).version;
    throw new Error(
      `knex's internals are not what store/knex-internals.ts relies on (checked with knex ${KNEX_VERIFIED}, running ${version}): ${problems.join("; ")}. Deadlines would not reach the database; refusing to start.`,
    );
  }
}
