/**
 * `@contacts-api/testing`: a real Contacts API server in your test process, on an in-memory
 * SQLite database — no MySQL, no ports to configure, nothing left behind.
 *
 * The server is the real one (server/src, compiled into this package under dist/server), so
 * tests see the same validation, errors and events as production. A package of its own, so that
 * `@contacts-api/sdk` carries none of the server's runtime (knex, pino, jose, grpc-js, …). It needs the optional peer
 * dependency `better-sqlite3` (version 12): `npm install --save-dev better-sqlite3`.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type ClientOptions, type ContactsClient, createClient } from "@contacts-api/sdk";

/** Options of `startTestServer`. */
export interface TestServerOptions {
  /** The tenant of the returned `client` (dev mode: `x-tenant-id`). Default `"test"`. */
  tenantId?: string;
  /** Server log level (pino): `"silent"` (default), `"info"`, `"debug"`, … */
  logLevel?: string;
  /** Custom labels per tenant. Default 1000. */
  labelsQuota?: number;
  /** Custom extended fields per tenant. Default 100. */
  fieldsQuota?: number;
  /** Options for the returned `client` (timeouts, retries). */
  client?: Omit<ClientOptions, "baseUrl" | "token" | "tenantId" | "transport">;
}

/** A running in-process server. */
export interface TestServer {
  /** A client for `tenantId`, connected over gRPC. */
  client: ContactsClient;
  /** The server's gRPC URL, e.g. `http://127.0.0.1:41234`: pass it as `baseUrl` to other clients. */
  url: string;
  /** The Connect / gRPC-Web / gRPC URL (HTTP/1.1 and HTTP/2). */
  httpUrl: string;
  /** The tenant of `client`. */
  tenantId: string;
  /** A client for another tenant (tenants are isolated from each other). */
  clientFor(tenantId: string): ContactsClient;
  /** Stops the server and discards its database. */
  close(): Promise<void>;
}

interface RunningServer {
  grpcPort: number;
  httpPort: number;
  close(): Promise<void>;
}

interface ServerModules {
  startServer(config: Record<string, unknown>, log: unknown): Promise<RunningServer>;
  DEFAULTS: Record<string, unknown>;
}

/**
 * Finds the server code: compiled into this package (dist/server/…), or — when the SDK runs from
 * its sources inside the repository — the repository's server/src.
 */
async function loadServer(): Promise<ServerModules> {
  const candidates = [
    { app: "./server/server/src/app.js", config: "./server/server/src/config.js" },
    { app: "../../server/src/app.ts", config: "../../server/src/config.ts" },
  ];
  for (const c of candidates) {
    const app = new URL(c.app, import.meta.url);
    if (!existsSync(fileURLToPath(app))) continue;
    const [appModule, configModule] = await Promise.all([
      import(app.href) as Promise<Pick<ServerModules, "startServer">>,
      import(new URL(c.config, import.meta.url).href) as Promise<Pick<ServerModules, "DEFAULTS">>,
    ]);
    return { startServer: appModule.startServer, DEFAULTS: configModule.DEFAULTS };
  }
  throw new Error("@contacts-api/testing: the bundled server is missing (dist/server); reinstall the package");
}

async function loadLogger(level: string): Promise<unknown> {
  const { pino } = await import("pino");
  return pino({ level });
}

/**
 * Starts a Contacts API server in this process on free ports and an in-memory SQLite database,
 * and returns a ready client.
 *
 * @example
 * import { startTestServer } from "@contacts-api/testing";
 * const server = await startTestServer();
 * const { contact } = await server.client.contacts.createContact({ name: { first: "Ada" } });
 * await server.close();
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  try {
    await import("better-sqlite3" as string);
  } catch (err) {
    throw new Error("@contacts-api/testing needs better-sqlite3 (version 12), an optional peer dependency: npm install --save-dev better-sqlite3", {
      cause: err,
    });
  }
  const { startServer, DEFAULTS } = await loadServer();
  const log = await loadLogger(options.logLevel ?? "silent");
  const server = await startServer(
    {
      ...DEFAULTS,
      grpcPort: 0,
      httpPort: 0,
      host: "127.0.0.1",
      databaseUrl: undefined,
      sqliteFile: ":memory:",
      devMode: true,
      auth: undefined,
      tls: undefined,
      shutdownGraceMs: 1_000,
      eventsPollMs: 50,
      ...(options.labelsQuota !== undefined ? { labelsQuota: options.labelsQuota } : {}),
      ...(options.fieldsQuota !== undefined ? { fieldsQuota: options.fieldsQuota } : {}),
    },
    log,
  );
  const url = `http://127.0.0.1:${server.grpcPort}`;
  const tenantId = options.tenantId ?? "test";
  const clients: ContactsClient[] = [];
  const clientFor = (tenant: string) => {
    const client = createClient({ ...(options.client ?? {}), baseUrl: url, tenantId: tenant });
    clients.push(client);
    return client;
  };
  return {
    client: clientFor(tenantId),
    url,
    httpUrl: `http://127.0.0.1:${server.httpPort}`,
    tenantId,
    clientFor,
    async close() {
      for (const c of clients) c.close();
      await server.close();
    },
  };
}
