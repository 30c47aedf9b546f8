/**
 * Starts the real server in-process on free ports, on MariaDB (a fresh database) or on an
 * in-memory SQLite, and gives typed Connect clients that speak gRPC to the grpc-js port.
 */
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pino from "pino";
import { ContactsService } from "../../gen/contacts/v1/contacts_service_pb.js";
import { ExtendedFieldsService } from "../../gen/contacts/v1/extended_fields_service_pb.js";
import { LabelsService } from "../../gen/contacts/v1/labels_service_pb.js";
import { type RunningServer, type ServerHooks, startServer } from "../../server/src/app.js";
import { type Config, DEFAULTS } from "../../server/src/config.js";
import { inCall } from "../../server/src/store/call-scope.js";
import { appendFileSync } from "node:fs";
import { afterAll, beforeAll } from "vitest";
import { join } from "node:path";
import { createTestDatabase } from "./databases.js";
import { attachTenantAudit } from "./tenant-audit.js";

export type StoreName = "mysql" | "sqlite";
export const STORES: readonly StoreName[] = ["mysql", "sqlite"];

export interface TestServer {
  store: StoreName;
  server: RunningServer;
  grpcUrl: string;
  httpUrl: string;
  /** The MariaDB database's URL (mysql store). */
  databaseUrl: string | undefined;
  /** Clients for a tenant (header x-tenant-id), over gRPC to the grpc-js port. */
  clients(tenantId?: string): {
    labels: Client<typeof LabelsService>;
    fields: Client<typeof ExtendedFieldsService>;
    contacts: Client<typeof ContactsService>;
  };
  client<S extends DescService>(service: S, tenantId?: string): Client<S>;
  close(): Promise<void>;
}

export async function startTestServer(store: StoreName, overrides: Partial<Config> = {}, hooks: ServerHooks = {}): Promise<TestServer> {
  // A server given a database (another server's: replicas) shares it and leaves it to its owner.
  const database = store === "mysql" && !overrides.databaseUrl ? await createTestDatabase("srv") : undefined;
  const config: Config = {
    ...DEFAULTS,
    grpcPort: 0,
    httpPort: 0,
    databaseUrl: database?.url,
    sqliteFile: ":memory:",
    shutdownGraceMs: 1_000,
    ...overrides,
  };
  // TEST_LOG_LEVEL=error TEST_LOG_FILE=/tmp/x.log keeps the servers' logs of a run to read.
  const log = pino(
    { level: process.env.TEST_LOG_LEVEL ?? "silent" },
    process.env.TEST_LOG_FILE ? pino.destination({ dest: process.env.TEST_LOG_FILE, sync: true, append: true }) : undefined,
  );
  const server = await startServer(config, log, hooks);
  // RELIABILITY scenario 9 over the whole suite: every server a test starts is audited, and
  // run-tests.ts adds up what each one saw.
  // Only statements the server runs for a call count; a test's own checks through db do not.
  const audit = attachTenantAudit(server.db, inCall);
  const grpcUrl = `http://127.0.0.1:${server.grpcPort}`;
  const transports = new Map<string, ReturnType<typeof createGrpcTransport>>();
  const transportFor = (tenantId: string) => {
    let t = transports.get(tenantId);
    if (!t) {
      const tenantHeader: Interceptor = (next) => (req) => {
        req.header.set("x-tenant-id", tenantId);
        return next(req);
      };
      t = createGrpcTransport({ baseUrl: grpcUrl, interceptors: [tenantHeader] });
      transports.set(tenantId, t);
    }
    return t;
  };
  const client = <S extends DescService>(service: S, tenantId = "t1") => createClient(service, transportFor(tenantId));
  return {
    store,
    server,
    grpcUrl,
    httpUrl: `http://127.0.0.1:${server.httpPort}`,
    databaseUrl: config.databaseUrl,
    client,
    clients: (tenantId = "t1") => ({
      labels: client(LabelsService, tenantId),
      fields: client(ExtendedFieldsService, tenantId),
      contacts: client(ContactsService, tenantId),
    }),
    async close() {
      await server.close();
      await database?.drop();
      audit.detach();
      const violations = audit.violations();
      const dir = process.env.CONTACTS_TENANT_AUDIT_DIR;
      if (dir) {
        appendFileSync(join(dir, `${process.pid}.jsonl`), `${JSON.stringify({ checked: audit.checked().length, violations: violations.length })}\n`);
      }
      if (violations.length > 0) {
        throw new Error(`statements on tenant tables without a tenant predicate:\n${violations.map((v) => v.sql).join("\n")}`);
      }
    },
  };
}

/**
 * The server of a describe block, started before its tests and closed after them, and a fresh
 * tenant per call of `tenant()` (`{ id, labels, fields, contacts }`, ids `<prefix>1`, `<prefix>2`,
 * …): a tenant per test keeps duplicate checks, counts and event logs independent.
 */
export function suiteWithTenants(store: StoreName, prefix: string, overrides: Partial<Config> = {}) {
  let server: TestServer | undefined;
  let n = 0;
  beforeAll(async () => {
    server = await startTestServer(store, overrides);
  });
  afterAll(async () => {
    await server?.close();
  });
  const t = (): TestServer => {
    if (!server) throw new Error("the suite's server has not started (use it inside a test)");
    return server;
  };
  return {
    t,
    tenant() {
      n++;
      const id = `${prefix}${n}`;
      return { id, ...t().clients(id) };
    },
  };
}
