/**
 * Wires the server: database, services, handlers, interceptors and both transports. Used by
 * main.ts, by the tests (through real sockets) and by the SDK's test server.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import { createServiceImplSpec, type ServiceImpl, type ServiceImplSpec } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { ContactsService } from "../../gen/contacts/v1/contacts_service_pb.js";
import { EventsService } from "../../gen/contacts/v1/events_service_pb.js";
import { ExtendedFieldsService } from "../../gen/contacts/v1/extended_fields_service_pb.js";
import { LabelsService } from "../../gen/contacts/v1/labels_service_pb.js";
import { WebhooksService } from "../../gen/contacts/v1/webhooks_service_pb.js";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../../gen/google/rpc/status_pb.js";
import { devAuthenticator, tokenAuthenticator } from "./auth/authenticate.js";
import { createTokenVerifier } from "./auth/jwt.js";
import type { Config } from "./config.js";
import { contactsHandlers } from "./rpc/contacts.js";
import { eventsHandlers, eventToJson } from "./rpc/events.js";
import { extendedFieldsHandlers } from "./rpc/extended-fields.js";
import { describeBug, malformedRequest } from "./rpc/errors.js";
import { healthService } from "./rpc/health.js";
import { errorInterceptor, loggingInterceptor, tenancyInterceptor } from "./rpc/interceptors.js";
import { labelsHandlers } from "./rpc/labels.js";
import { reflectionServices } from "./rpc/reflection.js";
import { webhooksHandlers } from "./rpc/webhooks.js";
import { closeGrpcGracefully, createGrpcServer } from "./rpc/transport/grpc-server.js";
import { closeGracefully, createHttpServer } from "./rpc/transport/http-server.js";
import { BulkJobRunner } from "./services/bulk-job-runner.js";
import { CleanupRunner } from "./services/cleanup.js";
import { type ServiceDeps, TenantDirectory } from "./services/deps.js";
import { EventBus, EventFeeds, type WatchOptions } from "./services/events.js";
import { WebhookDispatcher } from "./services/webhook-dispatcher.js";
import { NatsWakeups } from "./services/wakeups.js";
import { type Resolve, WebhookSender } from "./services/webhook-sender.js";
import { type Db, migrateLatest, openDatabase } from "./store/db.js";
import { bindQueriesToCalls } from "./store/call-scope.js";
import { checkKnexInternals } from "./store/knex-internals.js";
import { DatabaseHealth } from "./store/health.js";

export interface RunningServer {
  /** The bound gRPC port (useful when configured as 0). */
  grpcPort: number;
  /** The bound Connect/gRPC-Web/gRPC HTTP port. */
  httpPort: number;
  /** "mysql" or "sqlite". */
  storeName: string;
  db: Db;
  deps: ServiceDeps;
  /** The server's bulk job runner (tests step jobs through it). */
  bulkJobs: BulkJobRunner;
  /** The server's webhook dispatcher. */
  webhooks: WebhookDispatcher;
  /** Stops accepting calls, drains in-flight ones (up to the grace period), closes the database. */
  close(): Promise<void>;
}

function spec<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): ServiceImplSpec {
  return createServiceImplSpec(service, impl);
}

/** What tests may stand in for: how webhook target names are resolved (DNS rebinding tests). */
export interface ServerHooks {
  resolveWebhookHost?: Resolve;
}

export async function startServer(config: Config, log: Logger, hooks: ServerHooks = {}): Promise<RunningServer> {
  if (!config.databaseUrl && config.sqliteFile !== ":memory:") {
    mkdirSync(dirname(config.sqliteFile), { recursive: true });
  }
  const db = openDatabase({
    url: config.databaseUrl,
    sqliteFile: config.sqliteFile,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    poolMax: config.dbPoolMax,
    log: {
      warn: (msg) => log.warn({ component: "knex" }, msg),
      error: (msg) => log.error({ component: "knex" }, msg),
    },
  });
  bindQueriesToCalls(db);
  try {
    await checkKnexInternals(db);
    if (config.migrateOnStart) await migrateLatest(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  const dbHealth = new DatabaseHealth(db);
  await dbHealth.start();

  const draining = new AbortController();
  const watch: WatchOptions = { retentionMs: config.eventsRetentionDays * 86_400_000, pollMs: config.eventsPollMs, batch: 500, bookmarkMs: 15_000 };
  const eventBus = new EventBus();
  // This process's name in the leases of bulk jobs, cleanups and webhook subscriptions.
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const onBackgroundError = (err: unknown) => log.error({ err: describeBug(err) }, "background work failed");
  const cleanups = new CleanupRunner(
    { db, eventBus, draining: draining.signal },
    { owner, leaseMs: config.cleanupLeaseMs, pollMs: config.cleanupPollMs, budgetMs: config.cleanupBudgetMs },
    onBackgroundError,
  );
  const deps: ServiceDeps = {
    db,
    config: { labelsQuota: config.labelsQuota, fieldsQuota: config.fieldsQuota },
    tenants: new TenantDirectory(db),
    onBackgroundError,
    eventBus,
    eventFeeds: new EventFeeds(db, eventBus, watch, draining.signal),
    draining: draining.signal,
    cleanups,
  };
  const bulkJobs = new BulkJobRunner(
    deps,
    {
      owner,
      batchSize: config.bulkJobBatch,
      loadPage: 1000,
      leaseMs: config.bulkJobLeaseMs,
      pollMs: config.bulkJobPollMs,
      concurrency: config.bulkJobConcurrency,
      retentionMs: config.bulkJobRetentionMs,
    },
    deps.onBackgroundError,
  );
  deps.bulkJobs = bulkJobs;
  const sender = new WebhookSender({
    allowLoopback: config.webhooks.allowLoopback,
    timeoutMs: config.webhooks.timeoutMs,
    ...(hooks.resolveWebhookHost ? { resolve: hooks.resolveWebhookHost } : {}),
  });
  const webhooks = new WebhookDispatcher(
    deps,
    {
      owner,
      leaseMs: config.webhooks.leaseMs,
      pollMs: config.webhooks.pollMs,
      concurrency: config.webhooks.concurrency,
      retry: { baseMs: config.webhooks.retryBaseMs, maxMs: config.webhooks.retryMaxMs, giveUpMs: config.webhooks.giveUpMs },
      attemptRetentionMs: config.webhooks.attemptRetentionMs,
    },
    sender,
    eventToJson,
    deps.onBackgroundError,
  );
  deps.webhooks = webhooks;
  const wakeups = config.natsUrl
    ? new NatsWakeups(config.natsUrl, deps.eventBus, { warn: (m) => log.warn({ component: "wakeups" }, m), info: (m) => log.info({ component: "wakeups" }, m) })
    : undefined;

  const api: ServiceImplSpec[] = [
    spec(LabelsService, labelsHandlers(deps)),
    spec(ExtendedFieldsService, extendedFieldsHandlers(deps)),
    spec(ContactsService, contactsHandlers(deps)),
    spec(EventsService, eventsHandlers(deps, watch)),
    spec(
      WebhooksService,
      webhooksHandlers(deps, {
        allowLoopback: config.webhooks.allowLoopback,
        quota: config.webhooks.quota,
        secretOverlapMs: config.webhooks.secretOverlapMs,
      }),
    ),
  ];
  const apiServices = api.map((s) => s.service);
  const health = healthService(
    dbHealth,
    apiServices.map((s) => s.typeName),
  );
  const reflection = reflectionServices([...apiServices, health.service], [file_google_rpc_error_details, file_google_rpc_status]).map((r) =>
    spec(r.service, r.impl as Partial<ServiceImpl<typeof r.service>>),
  );
  const services = [...api, spec(health.service, health.impl), ...reflection];

  const shutdown = new AbortController();
  const authenticate = config.auth ? tokenAuthenticator(createTokenVerifier(config.auth)) : devAuthenticator;
  const interceptors = [loggingInterceptor(log), errorInterceptor(log), tenancyInterceptor(authenticate)];

  const grpcServer = createGrpcServer(services, {
    interceptors,
    maxReceiveMessageBytes: config.maxMessageBytes,
    maxSendMessageBytes: config.maxMessageBytes,
    maxConcurrentStreams: config.maxConcurrentStreams,
    maxTimeoutMs: config.maxTimeoutMs,
    shutdownSignal: shutdown.signal,
    parseError: malformedRequest,
  });
  const tlsFiles = config.tls && {
    cert: readFileSync(config.tls.certFile),
    key: readFileSync(config.tls.keyFile),
    ...(config.tls.clientCaFile ? { ca: readFileSync(config.tls.clientCaFile) } : {}),
  };
  const credentials = tlsFiles
    ? grpc.ServerCredentials.createSsl(tlsFiles.ca ?? null, [{ cert_chain: tlsFiles.cert, private_key: tlsFiles.key }], Boolean(tlsFiles.ca))
    : grpc.ServerCredentials.createInsecure();
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(`${config.host}:${config.grpcPort}`, credentials, (err, port) => (err ? reject(err) : resolve(port))),
  );

  const httpServer = createHttpServer(services, {
    interceptors,
    readMaxBytes: config.maxMessageBytes,
    writeMaxBytes: config.maxMessageBytes,
    maxTimeoutMs: config.maxTimeoutMs,
    maxConcurrentStreams: config.maxConcurrentStreams,
    corsOrigins: config.corsOrigins,
    shutdownSignal: shutdown.signal,
    parseError: malformedRequest,
    ...(tlsFiles ? { tls: tlsFiles } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(config.httpPort, config.host, () => {
      httpServer.off("error", reject);
      resolve();
    });
  });
  const httpPort = (httpServer.address() as AddressInfo).port;

  wakeups?.start();
  deps.cleanups.start();
  bulkJobs.start();
  webhooks.start();
  let closing: Promise<void> | undefined;
  return {
    grpcPort,
    httpPort,
    storeName: config.databaseUrl ? "mysql" : "sqlite",
    db,
    deps,
    bulkJobs,
    webhooks,
    close() {
      closing ??= (async () => {
        // Health says NOT_SERVING and streams end (clients resume elsewhere); unary calls in
        // flight finish within the grace period; stragglers are then aborted.
        dbHealth.close();
        draining.abort();
        await Promise.all([closeGrpcGracefully(grpcServer, config.shutdownGraceMs), closeGracefully(httpServer, config.shutdownGraceMs)]);
        shutdown.abort();
        // The batches in flight commit and the jobs' leases are given up, for another server (or
        // this one, restarted) to take over at once.
        await Promise.all([bulkJobs.stop(), webhooks.stop(), deps.cleanups.stop()]);
        sender.close();
        await wakeups?.close();
        await db.destroy();
      })();
      return closing;
    },
  };
}
