/** `npm run migrate`: applies pending migrations to the configured database and exits. */
import { configFromEnv } from "./config.js";
import { migrateLatest, openDatabase } from "./store/db.js";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

const config = configFromEnv(process.env);
if (!config.databaseUrl && config.sqliteFile !== ":memory:") mkdirSync(dirname(config.sqliteFile), { recursive: true });
const db = openDatabase({
  url: config.databaseUrl,
  sqliteFile: config.sqliteFile,
  statementTimeoutMs: 60_000,
  poolMax: 1,
});
try {
  const applied = await migrateLatest(db);
  console.log(applied.length ? `applied: ${applied.join(", ")}` : "already up to date");
} finally {
  await db.destroy();
}
