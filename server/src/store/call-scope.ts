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
import { cancelStatement, configOf, disposeConnection, forkClient, setCancelStatement, sqlOf, wrapClientQuery } from "./knex-internals.js";

const SIGNAL = Symbol.for("contacts-api.call-signal");
const ROOT = Symbol.for("contacts-api.root-db");

type Bound = Knex & { [ROOT]?: Knex };

/**
 * A handle on `db` whose statements are bound to `signal`. Use it for the work of one call;
 * work that must outlive the call takes `unbound(handle)`.
 */
export function bindToSignal(db: Knex, signal: AbortSignal): Knex {
  const root = unbound(db);
  const bound = forkClient(root, SIGNAL, signal) as Bound;
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

const ENDS_TRANSACTION = /^\s*(COMMIT|ROLLBACK)\b/i;

/**
 * Installs the binding on a knex client (store/knex-internals.ts has what it relies on).
 * Statements sent through a handle without a signal (migrations, health pings, background work)
 * run untouched. better-sqlite3 runs statements synchronously: there is nothing to abandon, only
 * the marking for `inCall`.
 */
export function bindQueriesToCalls(db: Knex): void {
  const mysql = db.client.config.client === "mysql2";
  // knex's cancelQuery sends `KILL QUERY <thread>` from a new connection. KILL CONNECTION instead:
  // the abandoned connection is never reused anyway, and a KILL QUERY that reaches the server
  // before the statement does (it travels on another connection) kills nothing, leaving the
  // statement to wait behind its lock; a killed connection runs nothing more, and the server
  // rolls its transaction back.
  if (mysql) setCancelStatement(db, "KILL CONNECTION ?");
  wrapClientQuery(db, (client, connection, obj, send) => {
    const sent = bound(client, connection, send);
    if (!mysql || !ENDS_TRANSACTION.test(sqlOf(obj))) return sent;
    // A COMMIT or ROLLBACK that fails on a live connection (a Galera node without quorum answers
    // both with error 1047) may leave the transaction open there; knex would put the connection
    // back in the pool all the same, and the next BEGIN on it would commit that half-done
    // transaction. Such a connection is destroyed instead, and the server rolls the transaction back.
    return sent.catch((err: unknown) => {
      disposeConnection(connection, new QueryAbandonedError("its transaction did not end cleanly"));
      throw err;
    });
  });

  function bound(client: unknown, connection: unknown, send: () => Promise<unknown>): Promise<unknown> {
    const signal = configOf(client)[SIGNAL] as AbortSignal | undefined;
    if (!signal) return send();
    const marked = () => {
      sending = signal;
      try {
        return send();
      } finally {
        sending = undefined;
      }
    };
    if (!mysql) return marked();
    if (signal.aborted) {
      // This also refuses knex's ROLLBACK of the call's transaction: the connection must not go
      // back to the pool with that transaction open (the next BEGIN on it would commit it), so it
      // is destroyed on release, and the server rolls the transaction back.
      disposeConnection(connection, new QueryAbandonedError("abandoned by its call"));
      return Promise.reject(new QueryAbandonedError("the call ended before the query ran"));
    }
    const running = marked();
    return new Promise((resolve, reject) => {
      const abandon = () => {
        // The connection never goes back to the pool (knex destroys a disposed connection on
        // release): it still has a statement on it, and the KILL below, sent from another
        // connection whenever it gets there, must not land on a statement of some later call.
        disposeConnection(connection, new QueryAbandonedError("abandoned by its call"));
        reject(new QueryAbandonedError("the call ended while the query ran"));
        cancelStatement(client, connection).catch(() => {
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
  }
}
