/**
 * Ties database queries to the RPC that runs them: when the call's signal aborts (deadline
 * passed, client cancelled), the query in flight is abandoned at once and killed on the server
 * (`KILL QUERY`), so a slow statement or a silent network cannot hold a caller past its
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
  const original = proto.query;
  proto.query = function (this: typeof proto, connection, obj) {
    const signal = scope.getStore()?.signal;
    if (!signal) return original.call(this, connection, obj);
    if (signal.aborted) return Promise.reject(new QueryAbandonedError("the call ended before the query ran"));
    const running = original.call(this, connection, obj);
    return new Promise((resolve, reject) => {
      const abandon = () => {
        reject(new QueryAbandonedError("the call ended while the query ran"));
        this.cancelQuery(connection).catch(() => {
          // Unreachable server: never reuse a connection with a statement still on it.
          (connection as { __knex__disposed?: Error }).__knex__disposed = new QueryAbandonedError("abandoned");
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
