/**
 * Ties database queries to the RPC that runs them: when the call's signal aborts (deadline
 * passed, client cancelled), the query in flight is abandoned at once and its connection killed on
 * the server (`KILL CONNECTION`), so a slow statement or a silent network cannot hold a caller past its
 * deadline, and no query keeps running after its caller has gone.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Knex } from "knex";

interface CallScope {
  signal: AbortSignal;
}

const scope = new AsyncLocalStorage<CallScope>();

/** Runs `work` with its queries bound to `signal`. */
export function withCallSignal<T>(signal: AbortSignal, work: () => T): T {
  return scope.run({ signal }, work);
}

/** True inside an RPC (or work it started), i.e. for statements the service runs for a caller. */
export function inCall(): boolean {
  return scope.getStore() !== undefined;
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
 * Installs the binding on a MySQL knex client. It wraps the dialect's `query` on the client's
 * prototype because knex transactions run queries through a client made from that prototype,
 * not through the instance. Calls outside an RPC (migrations, health pings) are untouched.
 */
export function bindQueriesToCalls(db: Knex): void {
  if (db.client.config.client !== "mysql2") return; // better-sqlite3 runs synchronously
  const proto = Object.getPrototypeOf(db.client) as {
    query: QueryFn;
    cancelQuery(connection: unknown): Promise<void>;
    [PATCHED]?: boolean;
  };
  if (proto[PATCHED]) return;
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
  const original = proto.query;
  proto.query = function (this: typeof proto, connection, obj) {
    const signal = scope.getStore()?.signal;
    if (!signal) return original.call(this, connection, obj);
    if (signal.aborted) {
      // This also refuses knex's ROLLBACK of the call's transaction: the connection must not go
      // back to the pool with that transaction open (the next BEGIN on it would commit it), so it
      // is destroyed on release, and the server rolls the transaction back.
      dispose(connection);
      return Promise.reject(new QueryAbandonedError("the call ended before the query ran"));
    }
    const running = original.call(this, connection, obj);
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
  proto[PATCHED] = true;
}
