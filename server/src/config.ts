/**
 * Configuration from the environment. This and main.ts are the only places that read
 * `process.env`; everything else takes a `Config`.
 */
export interface Config {
  /** gRPC (via @grpc/grpc-js) port. `GRPC_PORT`, default 50051. 0 picks a free port. */
  grpcPort: number;
  /** Connect, gRPC-Web and gRPC over HTTP/1.1 and h2c. `HTTP_PORT`, default 8080. */
  httpPort: number;
  /** Address to bind. `HOST`; dev mode always binds 127.0.0.1. Default 0.0.0.0 otherwise. */
  host: string;
  /** `DATABASE_URL` (mysql://…); absent → embedded SQLite at `sqliteFile`. */
  databaseUrl: string | undefined;
  /** `SQLITE_FILE`, default `./data/contacts.db`; `:memory:` for throwaway servers. */
  sqliteFile: string;
  /** Server-side limit per SQL statement. `DB_STATEMENT_TIMEOUT_MS`, default 5000. */
  dbStatementTimeoutMs: number;
  /** Most MySQL connections. `DB_POOL_MAX`, default 10. */
  dbPoolMax: number;
  /** Largest request or response message. `MAX_MESSAGE_BYTES`, default 4 MiB. */
  maxMessageBytes: number;
  /** Deadline cap, and the deadline of calls that set none. `MAX_TIMEOUT_MS`, default 30000. */
  maxTimeoutMs: number;
  /** HTTP/2 streams per connection. `MAX_CONCURRENT_STREAMS`, default 100. */
  maxConcurrentStreams: number;
  /** How long SIGTERM waits for in-flight calls. `SHUTDOWN_GRACE_MS`, default 10000. */
  shutdownGraceMs: number;
  /** Custom labels per tenant. `LABELS_QUOTA`, default 1000. */
  labelsQuota: number;
  /** Custom extended fields per tenant. `FIELDS_QUOTA`, default 100. */
  fieldsQuota: number;
  /** Run migrations at start. `MIGRATE_ON_START`, default true. */
  migrateOnStart: boolean;
  /** pino level. `LOG_LEVEL`, default info. */
  logLevel: string;
  /** No authentication configured: tenant from `x-tenant-id`, loopback only. */
  devMode: boolean;
}

export const DEFAULTS: Config = {
  grpcPort: 50051,
  httpPort: 8080,
  host: "127.0.0.1",
  databaseUrl: undefined,
  sqliteFile: "./data/contacts.db",
  dbStatementTimeoutMs: 5_000,
  dbPoolMax: 10,
  maxMessageBytes: 4 * 1024 * 1024,
  maxTimeoutMs: 30_000,
  maxConcurrentStreams: 100,
  shutdownGraceMs: 10_000,
  labelsQuota: 1000,
  fieldsQuota: 100,
  migrateOnStart: true,
  logLevel: "info",
  devMode: true,
};

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

/** Reads the configuration; throws with a clear message on a bad or unsafe setting. */
export function configFromEnv(env: NodeJS.ProcessEnv): Config {
  // Authentication arrives with the security work; until then every server is in dev mode.
  const devMode = true;
  if (devMode && env.NODE_ENV === "production") {
    throw new Error(
      "NODE_ENV=production but no authentication is configured: refusing to start an open server. " +
        "Configure authentication, or unset NODE_ENV for a loopback-only dev server.",
    );
  }
  return {
    grpcPort: int(env, "GRPC_PORT", DEFAULTS.grpcPort),
    httpPort: int(env, "HTTP_PORT", DEFAULTS.httpPort),
    host: devMode ? "127.0.0.1" : (env.HOST ?? "0.0.0.0"),
    databaseUrl: env.DATABASE_URL || undefined,
    sqliteFile: env.SQLITE_FILE || DEFAULTS.sqliteFile,
    dbStatementTimeoutMs: int(env, "DB_STATEMENT_TIMEOUT_MS", DEFAULTS.dbStatementTimeoutMs),
    dbPoolMax: int(env, "DB_POOL_MAX", DEFAULTS.dbPoolMax),
    maxMessageBytes: int(env, "MAX_MESSAGE_BYTES", DEFAULTS.maxMessageBytes),
    maxTimeoutMs: int(env, "MAX_TIMEOUT_MS", DEFAULTS.maxTimeoutMs),
    maxConcurrentStreams: int(env, "MAX_CONCURRENT_STREAMS", DEFAULTS.maxConcurrentStreams),
    shutdownGraceMs: int(env, "SHUTDOWN_GRACE_MS", DEFAULTS.shutdownGraceMs),
    labelsQuota: int(env, "LABELS_QUOTA", DEFAULTS.labelsQuota),
    fieldsQuota: int(env, "FIELDS_QUOTA", DEFAULTS.fieldsQuota),
    migrateOnStart: env.MIGRATE_ON_START !== "false",
    logLevel: env.LOG_LEVEL || DEFAULTS.logLevel,
    devMode,
  };
}
