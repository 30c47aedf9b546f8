/**
 * Vitest global setup: runs once in the main process before any worker starts.
 * Finds the MySQL server (test/support/mariadb.ts), exports it as MYSQL_URL, which the forked
 * workers inherit, and also provides it as `inject("mysqlUrl")`. Drops stale test databases and
 * stops a throwaway server at teardown.
 */
import type { TestProject } from "vitest/node";
import { dropStaleTestDatabases } from "./databases.js";
import { redactUrl, resolveMysqlServer } from "./mariadb.js";

declare module "vitest" {
  export interface ProvidedContext {
    mysqlUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await resolveMysqlServer();
  process.env.MYSQL_URL = server.url;
  project.provide("mysqlUrl", server.url);
  console.log(`[test db] MySQL server: ${redactUrl(server.url)} (${server.how})`);

  try {
    const stale = await dropStaleTestDatabases(server.url);
    if (stale.length > 0) console.log(`[test db] dropped ${stale.length} stale test database(s) older than 1 h`);
  } catch (err) {
    await server.stop?.();
    throw err;
  }

  return async () => {
    await server.stop?.();
  };
}
