/**
 * Bench subject: createGrpcServer serving Health/Check from a Connect
 * implementation, with two interceptors standing in for tenancy and request
 * logging. Prints `PORT <n>` when ready.
 */
import { Code, ConnectError, createContextKey, createServiceImplSpec } from "@connectrpc/connect";
import type { Interceptor } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { createGrpcServer } from "../../server/src/rpc/transport/grpc-server.js";

const tenantKey = createContextKey<string>("", { description: "tenant" });
const tenantRe = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Resolves and validates the tenant from a header, as the real one does before any DB work. */
const tenancy: Interceptor = (next) => async (req) => {
  const tenant = req.header.get("x-tenant-id") ?? "default";
  if (!tenantRe.test(tenant)) throw new ConnectError("bad tenant", Code.InvalidArgument);
  req.contextValues.set(tenantKey, tenant);
  return next(req);
};

/**
 * Builds one log record per call into a ring buffer, as a logger's call site
 * would. BENCH_LOG_JSON=1 also serializes it (what pino does on its side),
 * a cost that does not depend on the transport.
 */
const logJson = process.env.BENCH_LOG_JSON === "1";
const ring: unknown[] = new Array(256);
let ringPos = 0;
let jsonBytes = 0;
const logging: Interceptor = (next) => async (req) => {
  const start = performance.now();
  let code = "ok";
  try {
    return await next(req);
  } catch (e) {
    code = Code[ConnectError.from(e).code] ?? "unknown";
    throw e;
  } finally {
    const rec = {
      level: 30,
      time: Date.now(),
      msg: "rpc",
      service: req.service.typeName,
      method: req.method.name,
      tenant: req.contextValues.get(tenantKey),
      code,
      ms: Math.round((performance.now() - start) * 1000) / 1000,
      ua: req.header.get("user-agent"),
    };
    ring[ringPos++ & 255] = rec;
    if (logJson) jsonBytes += JSON.stringify(rec).length;
  }
};

const server = createGrpcServer(
  [
    createServiceImplSpec<typeof Health>(Health, {
      check: () => ({ status: HealthCheckResponse_ServingStatus.SERVING }),
    }),
  ],
  {
    interceptors: [tenancy, logging],
    maxReceiveMessageBytes: 4 << 20,
    maxSendMessageBytes: 4 << 20,
    maxConcurrentStreams: 1000,
    maxTimeoutMs: 30_000,
  },
);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  console.log(`PORT ${port}`);
});
process.on("SIGTERM", () => {
  server.forceShutdown();
  if (jsonBytes < 0 || ring.length < 0) console.log(jsonBytes);
});
