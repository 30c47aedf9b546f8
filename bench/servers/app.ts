/**
 * Bench subject: the real server (startServer: every interceptor, pino request
 * logging, the database) on free ports, configured from the environment like
 * `npm start` (DATABASE_URL for MariaDB, else SQLITE_FILE, default in memory).
 * Logs go to BENCH_LOG_FILE (default /dev/null) through the server's own logger
 * (server/src/logger.ts): each call still builds, serializes and writes its log line.
 * Prints `PORT <grpc> <http>` when ready.
 */
import { startServer } from "../../server/src/app.js";
import { configFromEnv } from "../../server/src/config.js";
import { createLogger } from "../../server/src/logger.js";

const log = createLogger("info", process.env.BENCH_LOG_FILE || "/dev/null");
const config = configFromEnv({
  SQLITE_FILE: ":memory:",
  ...process.env,
  GRPC_PORT: "0",
  HTTP_PORT: "0",
  NODE_ENV: "development",
});
const server = await startServer(config, log);
console.log(`PORT ${server.grpcPort} ${server.httpPort}`);
process.on("SIGTERM", () => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
