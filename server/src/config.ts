import type { AuthConfig } from "./auth/jwt.js";

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
  /** Deadline cap of unary calls, and the deadline of those that set none (response streams are not capped), on both ports. `MAX_TIMEOUT_MS`, default 30000. */
  maxTimeoutMs: number;
  /** HTTP/2 streams per connection. `MAX_CONCURRENT_STREAMS`, default 100. */
  maxConcurrentStreams: number;
  /** Origins whose pages may call the Connect port from a browser (`*`: any). `CORS_ORIGINS`, comma-separated; default none. */
  corsOrigins: string[];
  /** How long SIGTERM waits for in-flight calls. `SHUTDOWN_GRACE_MS`, default 10000. */
  shutdownGraceMs: number;
  /** Custom labels per tenant. `LABELS_QUOTA`, default 1000. */
  labelsQuota: number;
  /** Custom extended fields per tenant. `FIELDS_QUOTA`, default 100. */
  fieldsQuota: number;
  /** How long DeleteLabel/DeleteExtendedField spend removing the entry from contacts before going on in the background. `CLEANUP_BUDGET_MS`, default 2000. */
  cleanupBudgetMs: number;
  /** How long a label or field removal stays with a server that stopped working on it (died) before another takes it over. `CLEANUP_LEASE_MS`, default 30000. */
  cleanupLeaseMs: number;
  /** How often a server looks for removals left by a server that died. `CLEANUP_POLL_MS`, default 2000. */
  cleanupPollMs: number;
  /** How long events are kept for WatchEvents. `EVENTS_RETENTION_DAYS`, default 30. */
  eventsRetentionDays: number;
  /** How often a watcher checks for commits made by other server processes. `EVENTS_POLL_MS`, default 500. */
  eventsPollMs: number;
  /**
   * NATS server for cross-replica wake-ups (`nats://host:4222`): with it, a commit on one replica
   * wakes the watchers and webhook dispatchers of the others at once; without it they find it at
   * their next poll. `NATS_URL`; absent → none.
   */
  natsUrl: string | undefined;
  /** Contacts per bulk job batch (one transaction). `BULK_JOB_BATCH`, default 200. */
  bulkJobBatch: number;
  /** How long a bulk job stays with a server that stopped stepping it (crashed) before another takes it. `BULK_JOB_LEASE_MS`, default 30000. */
  bulkJobLeaseMs: number;
  /** How often a server looks for bulk jobs started elsewhere or left by a crash. `BULK_JOB_POLL_MS`, default 2000. */
  bulkJobPollMs: number;
  /** Bulk jobs one server runs at once. `BULK_JOB_CONCURRENCY`, default 2. */
  bulkJobConcurrency: number;
  /** How long finished bulk jobs are kept (GetBulkJob, ListBulkJobs). `BULK_JOB_RETENTION_DAYS`, default 30. */
  bulkJobRetentionMs: number;
  /** Webhook subscriptions and their delivery. */
  webhooks: WebhookConfig;
  /** Run migrations at start. `MIGRATE_ON_START`, default true. */
  migrateOnStart: boolean;
  /** pino level. `LOG_LEVEL`, default info. */
  logLevel: string;
  /** No authentication configured: tenant from `x-tenant-id`, loopback only. */
  devMode: boolean;
  /** Token verification; absent in dev mode. */
  auth: AuthConfig | undefined;
  /** TLS for both ports; absent → plaintext (h2c). */
  tls: TlsConfig | undefined;
}

/** Webhook settings (proto/contacts/v1/webhooks_service.proto says how delivery works). */
export interface WebhookConfig {
  /** Dev only: allow loopback targets (http or https), for a receiver on this machine. `WEBHOOKS_ALLOW_LOOPBACK=true`. */
  allowLoopback: boolean;
  /** Most subscriptions per tenant. `WEBHOOKS_QUOTA`, default 20. */
  quota: number;
  /** Limit on one delivery request. `WEBHOOK_TIMEOUT_MS`, default 10000. */
  timeoutMs: number;
  /** First retry delay; doubles per failure, with jitter. `WEBHOOK_RETRY_BASE_MS`, default 5000. */
  retryBaseMs: number;
  /** Longest delay between retries. `WEBHOOK_RETRY_MAX_MS`, default 3600000 (1 h). */
  retryMaxMs: number;
  /** How long an event keeps failing before its subscription is disabled. `WEBHOOK_GIVE_UP_MS`, default 86400000 (24 h). */
  giveUpMs: number;
  /** How long the previous secret still signs after a rotation. `WEBHOOK_SECRET_OVERLAP_MS`, default 86400000 (24 h). */
  secretOverlapMs: number;
  /** How often a server looks for events committed on other servers. `WEBHOOK_POLL_MS`, default 1000. */
  pollMs: number;
  /** Subscriptions one server delivers at once. `WEBHOOK_CONCURRENCY`, default 8. */
  concurrency: number;
  /** How long a subscription stays with a server that stopped delivering it (crashed); at least twice the timeout. `WEBHOOK_LEASE_MS`, default 30000. */
  leaseMs: number;
  /** How long the delivery log (ListWebhookAttempts) is kept. `WEBHOOK_ATTEMPT_RETENTION_DAYS`, default 7. */
  attemptRetentionMs: number;
}

/** PEM file paths. With `clientCaFile`, clients must present a certificate it signed (mTLS). */
export interface TlsConfig {
  /** `TLS_CERT`. */
  certFile: string;
  /** `TLS_KEY`. */
  keyFile: string;
  /** `TLS_CLIENT_CA`. */
  clientCaFile?: string;
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
  corsOrigins: [],
  shutdownGraceMs: 10_000,
  labelsQuota: 1000,
  fieldsQuota: 100,
  cleanupBudgetMs: 2_000,
  cleanupLeaseMs: 30_000,
  cleanupPollMs: 2_000,
  eventsRetentionDays: 30,
  eventsPollMs: 500,
  natsUrl: undefined,
  bulkJobBatch: 200,
  bulkJobLeaseMs: 30_000,
  bulkJobPollMs: 2_000,
  bulkJobConcurrency: 2,
  bulkJobRetentionMs: 30 * 86_400_000,
  webhooks: {
    allowLoopback: false,
    quota: 20,
    timeoutMs: 10_000,
    retryBaseMs: 5_000,
    retryMaxMs: 3_600_000,
    giveUpMs: 86_400_000,
    secretOverlapMs: 86_400_000,
    pollMs: 1_000,
    concurrency: 8,
    leaseMs: 30_000,
    attemptRetentionMs: 7 * 86_400_000,
  },
  migrateOnStart: true,
  logLevel: "info",
  devMode: true,
  auth: undefined,
  tls: undefined,
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
  const auth = authFromEnv(env);
  const devMode = auth === undefined;
  if (devMode && env.NODE_ENV === "production") {
    throw new Error(
      "NODE_ENV=production but no authentication is configured: refusing to start an open server. " +
        "Set AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_JWKS_FILE, or unset NODE_ENV for a loopback-only dev server.",
    );
  }
  const tls = tlsFromEnv(env);
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
    corsOrigins: (env.CORS_ORIGINS ?? "")
      .split(",")
      .map((o) => o.trim())
      .filter(Boolean),
    shutdownGraceMs: int(env, "SHUTDOWN_GRACE_MS", DEFAULTS.shutdownGraceMs),
    labelsQuota: int(env, "LABELS_QUOTA", DEFAULTS.labelsQuota),
    fieldsQuota: int(env, "FIELDS_QUOTA", DEFAULTS.fieldsQuota),
    cleanupBudgetMs: int(env, "CLEANUP_BUDGET_MS", DEFAULTS.cleanupBudgetMs),
    cleanupLeaseMs: Math.max(100, int(env, "CLEANUP_LEASE_MS", DEFAULTS.cleanupLeaseMs)),
    cleanupPollMs: Math.max(10, int(env, "CLEANUP_POLL_MS", DEFAULTS.cleanupPollMs)),
    eventsRetentionDays: int(env, "EVENTS_RETENTION_DAYS", DEFAULTS.eventsRetentionDays),
    eventsPollMs: Math.max(10, int(env, "EVENTS_POLL_MS", DEFAULTS.eventsPollMs)),
    natsUrl: env.NATS_URL || undefined,
    bulkJobBatch: Math.max(1, int(env, "BULK_JOB_BATCH", DEFAULTS.bulkJobBatch)),
    bulkJobLeaseMs: Math.max(100, int(env, "BULK_JOB_LEASE_MS", DEFAULTS.bulkJobLeaseMs)),
    bulkJobPollMs: Math.max(10, int(env, "BULK_JOB_POLL_MS", DEFAULTS.bulkJobPollMs)),
    bulkJobConcurrency: Math.max(1, int(env, "BULK_JOB_CONCURRENCY", DEFAULTS.bulkJobConcurrency)),
    bulkJobRetentionMs: int(env, "BULK_JOB_RETENTION_DAYS", DEFAULTS.bulkJobRetentionMs / 86_400_000) * 86_400_000,
    webhooks: webhooksFromEnv(env),
    migrateOnStart: env.MIGRATE_ON_START !== "false",
    logLevel: env.LOG_LEVEL || DEFAULTS.logLevel,
    devMode,
    auth,
    tls,
  };
}

function webhooksFromEnv(env: NodeJS.ProcessEnv): WebhookConfig {
  const d = DEFAULTS.webhooks;
  const timeoutMs = Math.max(100, int(env, "WEBHOOK_TIMEOUT_MS", d.timeoutMs));
  const leaseMs = int(env, "WEBHOOK_LEASE_MS", d.leaseMs);
  // A lease shorter than a request could run out while the request is in flight, and a second
  // server would send the next event before the first one's answer: order per contact is lost.
  if (leaseMs < 2 * timeoutMs) throw new Error(`WEBHOOK_LEASE_MS (${leaseMs}) must be at least twice WEBHOOK_TIMEOUT_MS (${timeoutMs})`);
  return {
    allowLoopback: env.WEBHOOKS_ALLOW_LOOPBACK === "true",
    quota: int(env, "WEBHOOKS_QUOTA", d.quota),
    timeoutMs,
    retryBaseMs: Math.max(1, int(env, "WEBHOOK_RETRY_BASE_MS", d.retryBaseMs)),
    retryMaxMs: Math.max(1, int(env, "WEBHOOK_RETRY_MAX_MS", d.retryMaxMs)),
    giveUpMs: int(env, "WEBHOOK_GIVE_UP_MS", d.giveUpMs),
    secretOverlapMs: int(env, "WEBHOOK_SECRET_OVERLAP_MS", d.secretOverlapMs),
    pollMs: Math.max(10, int(env, "WEBHOOK_POLL_MS", d.pollMs)),
    concurrency: Math.max(1, int(env, "WEBHOOK_CONCURRENCY", d.concurrency)),
    leaseMs,
    attemptRetentionMs: int(env, "WEBHOOK_ATTEMPT_RETENTION_DAYS", d.attemptRetentionMs / 86_400_000) * 86_400_000,
  };
}

function authFromEnv(env: NodeJS.ProcessEnv): AuthConfig | undefined {
  const secret = env.AUTH_JWT_SECRET || undefined;
  const jwksUrl = env.AUTH_JWKS_URL || undefined;
  const jwksFile = env.AUTH_JWKS_FILE || undefined;
  const sources = [secret, jwksUrl, jwksFile].filter(Boolean).length;
  if (sources === 0) return undefined;
  if (sources > 1) throw new Error("set only one of AUTH_JWT_SECRET, AUTH_JWKS_URL and AUTH_JWKS_FILE");
  if (secret && Buffer.byteLength(secret) < 32) throw new Error("AUTH_JWT_SECRET must be at least 32 bytes");
  return {
    ...(secret ? { secret } : {}),
    ...(jwksUrl ? { jwksUrl } : {}),
    ...(jwksFile ? { jwksFile } : {}),
    ...(env.AUTH_ISSUER ? { issuer: env.AUTH_ISSUER } : {}),
    ...(env.AUTH_AUDIENCE ? { audience: env.AUTH_AUDIENCE } : {}),
    clockToleranceS: int(env, "AUTH_CLOCK_TOLERANCE_S", 30),
    jwksAlgorithms: (env.AUTH_JWT_ALGORITHMS || "RS256,ES256")
      .split(",")
      .map((a) => a.trim())
      .filter(Boolean),
  };
}

function tlsFromEnv(env: NodeJS.ProcessEnv): TlsConfig | undefined {
  const certFile = env.TLS_CERT || undefined;
  const keyFile = env.TLS_KEY || undefined;
  if (!certFile && !keyFile) {
    if (env.TLS_CLIENT_CA) throw new Error("TLS_CLIENT_CA needs TLS_CERT and TLS_KEY");
    return undefined;
  }
  if (!certFile || !keyFile) throw new Error("TLS needs both TLS_CERT and TLS_KEY");
  return { certFile, keyFile, ...(env.TLS_CLIENT_CA ? { clientCaFile: env.TLS_CLIENT_CA } : {}) };
}
