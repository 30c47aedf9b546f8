/**
 * The process entry point: reads the environment, starts the server, drains on SIGTERM/SIGINT.
 * The only file that knows about env and signals.
 */
import { startServer } from "./app.js";
import { configFromEnv } from "./config.js";
import { createLogger } from "./logger.js";

const log = createLogger(process.env.LOG_LEVEL || "info");

async function main(): Promise<void> {
  const config = configFromEnv(process.env);
  if (config.devMode) {
    log.warn(
      "DEV MODE: no authentication configured. Bound to 127.0.0.1 only; the tenant comes from the x-tenant-id header (default 'dev'). Do not expose this server.",
    );
  }
  const server = await startServer(config, log);
  log.info({ grpc: `${config.host}:${server.grpcPort}`, http: `${config.host}:${server.httpPort}`, store: server.storeName }, "contacts-api listening");

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, graceMs: config.shutdownGraceMs }, "draining");
    server.close().then(
      () => {
        log.info("stopped");
        log.flush();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        log.flush();
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err: unknown) => {
  log.fatal({ err: err instanceof Error ? { message: err.message, stack: err.stack } : err }, "failed to start");
  log.flush();
  process.exit(1);
});
