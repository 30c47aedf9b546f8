/**
 * Ties database queries to the RPC that runs them: when the call's signal aborts (deadline
 * passed, client cancelled), the query in flight is abandoned at once and its connection killed on
 * the server (`KILL CONNECTION`), so a slow statement or a silent network cannot hold a caller past its
 * deadline, and no query keeps running after its caller has gone.
 *
 * The call's signal travels with its database handle: `bindToSignal` makes a handle for one call
 * (a few objects that inherit from the shared knex instance and its client, no new pool), and
 * every statement sent through it, or through a transaction begun on it, carries the signal in
 * its client's configuration (knex copies that object into each transaction's client). An
 * explicit handle rather than AsyncLocalStorage: the latter turns on async hooks for every
 * promise of the process, which cost ~60 µs of a ~450 µs GetContact (bench/RESULTS.md), and it
 * also bound work a call left running in the background to that call.
 */
import type { Knex } from "knex";

const SIGNAL = Symbol.for("contacts-api.call-signal");
const ROOT = Symbol.for("contacts-api.root-db");

type Bound = Knex & { [ROOT]?: Knex };

/**
 * A handle on `db` whose statements are bound to `signal`. Use it for the work of one call;
 * work that must outlive the call takes `unbound(handle)`.
 */
export function bindToSignal(db: Knex, signal: AbortSignal): Knex {
  const root = unbound(db);
  const internals = root as unknown as { context: object; client: object & { config: object } };
  const client = Object.create(internals.client) as { config: { [SIGNAL]?: AbortSignal } };
  client.config = Object.create(internals.client.config);
  client.config[SIGNAL] = signal;
  const context = Object.create(internals.context) as { client: object; queryBuilder(): Knex.QueryBuilder };
  context.client = client;
  // A knex instance is a function (`db("contacts")`) whose methods forward to its context.
  const bound = function (this: unknown, tableName?: string, options?: unknown) {
    const qb = context.queryBuilder();
    return tableName ? qb.table(tableName, options as never) : qb;
  } as unknown as Bound & { context: object };
  Object.setPrototypeOf(bound, root);
  bound.context = context;
  bound[ROOT] = root;
  return bound;
}

/** The shared handle behind a call's handle (or `db` itself). */
export function unbound(db: Knex): Knex {
  return (db as Bound)[ROOT] ?? db;
}

/** The signal of the statement being sent; set only while knex emits its `query` event. */
let sending: AbortSignal | undefined;

/**
 * True while a statement that a call runs is being sent (read from a knex `query` listener),
 * i.e. for statements the service runs for a caller.
 */
export function inCall(): boolean {
  return sending !== undefined;
}

/** The error a query gets when its call is aborted first. */
export class QueryAbandonedError extends Error {
  override readonly name = "QueryAbandonedError";
}

type QueryFn = (connection: unknown, obj: unknown) => Promise<unknown>;

/** Marks a pooled connection so that knex destroys it on release instead of reusing it. */
function dispose(connection: unknown): void {
  (connection as { __knex__disposed?: Error }).__knex__disposed = new QueryAbandonedError("abandoned by its call");
}
const PATCHED = Symbol.for("contacts-api.call-scope");

/**
 * Installs the binding on a knex client. It wraps the dialect's `query` on the client's
 * prototype because knex transactions run queries through a client made from that prototype,
 * not through the instance. Statements sent through a handle without a signal (migrations,
 * health pings, background work) are untouched. better-sqlite3 runs statements synchronously:
 * there is nothing to abandon, only the marking for `inCall`.
 */
export function bindQueriesToCalls(db: Knex): void {
  const mysql = db.client.config.client === "mysql2";
  const proto = Object.getPrototypeOf(db.client) as {
    query: QueryFn;
    cancelQuery(connection: unknown): Promise<void>;
    [PATCHED]?: boolean;
  };
  if (proto[PATCHED]) return;
  if (mysql) {
    // knex's cancelQuery sends `KILL QUERY <thread>` from a new connection. KILL CONNECTION instead:
    // the abandoned connection is never reused anyway, and a KILL QUERY that reaches the server
    // before the statement does (it travels on another connection) kills nothing, leaving the
    // statement to wait behind its lock; a killed connection runs nothing more, and the server
    // rolls its transaction back.
    (proto as unknown as { _wrappedCancelQueryCall: unknown })._wrappedCancelQueryCall = function (
      this: { _query(conn: unknown, obj: unknown): Promise<unknown> },
      conn: unknown,
      connectionToKill: { threadId: number },
    ) {
      return this._query(conn, { sql: "KILL CONNECTION ?", bindings: [connectionToKill.threadId], options: {} });
    };
  }
  const original = proto.query;
  const send = (client: typeof proto, signal: AbortSignal, connection: unknown, obj: unknown): Promise<unknown> => {
    sending = signal;
    try {
      return original.call(client, connection, obj);
    } finally {
      sending = undefined;
    }
  };
  const bound = function (this: typeof proto & { config: { [SIGNAL]?: AbortSignal } }, connection: unknown, obj: unknown): Promise<unknown> {
    const signal = this.config[SIGNAL];
    if (!signal) return original.call(this, connection, obj);
    if (!mysql) return send(this, signal, connection, obj);
    if (signal.aborted) {
      // This also refuses knex's ROLLBACK of the call's transaction: the connection must not go
      // back to the pool with that transaction open (the next BEGIN on it would commit it), so it
      // is destroyed on release, and the server rolls the transaction back.
      dispose(connection);
      return Promise.reject(new QueryAbandonedError("the call ended before the query ran"));
    }
    const running = send(this, signal, connection, obj);
    return new Promise((resolve, reject) => {
      const abandon = () => {
        // The connection never goes back to the pool (knex destroys a disposed connection on
        // release): it still has a statement on it, and the KILL below, sent from another
        // connection whenever it gets there, must not land on a statement of some later call.
        dispose(connection);
        reject(new QueryAbandonedError("the call ended while the query ran"));
        this.cancelQuery(connection).catch(() => {
          // Unreachable server: the statement ends when the server sees the connection close.
        });
      };
      signal.addEventListener("abort", abandon, { once: true });
      running.then(
        (value) => {
          signal.removeEventListener("abort", abandon);
          resolve(value);
        },
        (err: unknown) => {
          signal.removeEventListener("abort", abandon);
          reject(err);
        },
      );
    });
  };
  proto.query = function (this: typeof proto & { config: { [SIGNAL]?: AbortSignal } }, connection, obj) {
    const sent = bound.call(this, connection, obj);
    if (!mysql || !ENDS_TRANSACTION.test(typeof obj === "string" ? obj : ((obj as { sql?: string }).sql ?? ""))) return sent;
    // A COMMIT or ROLLBACK that fails on a live connection (a Galera node without quorum answers
    // both with error 1047) may leave the transaction open there; knex would put the connection
    // back in the pool all the same, and the next BEGIN on it would commit that half-done
    // transaction. Such a connection is destroyed instead, and the server rolls the transaction back.
    return sent.catch((err: unknown) => {
      dispose(connection);
      throw err;
    });
  };
  proto[PATCHED] = true;
}

const ENDS_TRANSACTION = /^\s*(COMMIT|ROLLBACK)\b/i;
