/**
 * The private members of dependencies the server relies on (store/knex-internals.ts,
 * rpc/transport/node-internals.ts): pinned to the versions they were checked against, checked at
 * start-up, and their effect shown end to end — so that an upgrade that changes one fails here,
 * loudly, instead of silently turning off deadlines or the fast path.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import mysql from "mysql2/promise";
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fastSignals, streamEndWorks } from "../server/src/rpc/transport/node-internals.js";
import { bindQueriesToCalls, bindToSignal, QueryAbandonedError } from "../server/src/store/call-scope.js";
import { type Db, openDatabase } from "../server/src/store/db.js";
import { checkKnexInternals, KNEX_VERIFIED } from "../server/src/store/knex-internals.js";
import { createTestDatabase, type TestDatabase } from "./support/databases.js";

const lock = JSON.parse(readFileSync(join(import.meta.dirname, "..", "package-lock.json"), "utf8")) as { packages: Record<string, { version: string }> };

describe("dependencies' private members", () => {
  it("knex in the lock file is the version store/knex-internals.ts was checked against", () => {
    // Upgrading knex? Read store/knex-internals.ts against the new version's source, run this
    // file, and only then bump KNEX_VERIFIED.
    expect(lock.packages["node_modules/knex"]?.version).toBe(KNEX_VERIFIED);
  });

  it("Node's AbortSignal slots and stream end flag are what node-internals.ts relies on", () => {
    expect(process.versions.node.split(".")[0]).toBe("20");
    expect(fastSignals, "FastSignals fell back to AbortControllers").toBe(true);
    expect(streamEndWorks).toBe(true);
  });

  it("the start-up check refuses a knex whose internals are missing, naming them", async () => {
    const broken = { client: { config: { client: "mysql2" } }, context: {} } as unknown as Knex;
    Object.setPrototypeOf(broken.client, {});
    await expect(checkKnexInternals(broken)).rejects.toThrow(/refusing to start.*|no context\.queryBuilder/s);
    await expect(checkKnexInternals(broken)).rejects.toThrow(/_wrappedCancelQueryCall/);
  });
});

describe("knex internals against MariaDB", () => {
  let database: TestDatabase;
  let db: Db;
  beforeAll(async () => {
    database = await createTestDatabase("internals");
    db = openDatabase({ url: database.url, sqliteFile: ":memory:", statementTimeoutMs: 30_000, poolMax: 4 });
    bindQueriesToCalls(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it("pass the start-up check", async () => {
    await expect(checkKnexInternals(db)).resolves.toBeUndefined();
  });

  it("a call's abort ends its statement at once and kills its connection on the server (not only the statement)", async () => {
    const controller = new AbortController();
    const bound = bindToSignal(db, controller.signal);
    let thread = 0;
    const started = Date.now();
    const outcome = bound
      .transaction(async (trx) => {
        const [[row]] = (await trx.raw("select connection_id() as id")) as unknown as [[{ id: number }]];
        thread = Number(row?.id);
        await trx.raw("select sleep(5)");
      })
      .then(
        () => "completed",
        (err: unknown) => err,
      );
    while (thread === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    const result = await outcome;
    expect(result).toBeInstanceOf(QueryAbandonedError);
    expect(Date.now() - started).toBeLessThan(2000);
    // KILL CONNECTION: the thread goes; a KILL QUERY would leave it in the processlist, idle.
    const admin = await mysql.createConnection({ uri: database.url });
    try {
      let present = true;
      for (let i = 0; i < 100 && present; i++) {
        const [rows] = (await admin.query("select id from information_schema.processlist where id = ?", [thread])) as unknown as [unknown[]];
        present = rows.length > 0;
        if (present) await new Promise((r) => setTimeout(r, 20));
      }
      expect(present, `connection ${thread} still on the server`).toBe(false);
    } finally {
      await admin.end();
    }
    // The pool goes on with fresh connections.
    const [[row]] = (await db.raw("select 1 as one")) as unknown as [[{ one: number }]];
    expect(row?.one).toBe(1);
  });
});

describe("knex internals on SQLite", () => {
  it("pass the start-up check", async () => {
    const db = openDatabase({ url: undefined, sqliteFile: ":memory:", statementTimeoutMs: 30_000, poolMax: 1 });
    try {
      bindQueriesToCalls(db);
      await expect(checkKnexInternals(db)).resolves.toBeUndefined();
    } finally {
      await db.destroy();
    }
  });
});
