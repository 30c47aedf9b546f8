import { createServiceImplSpec } from "@connectrpc/connect";
import { Health } from "./gen/grpc/health/v1/health_pb.js";
import { createHttpServer, closeGracefully } from "./server/src/rpc/transport/http-server.js";
const s = createHttpServer([createServiceImplSpec(Health, { check: () => ({ status: 1 }) })], { readMaxBytes: 1e6, writeMaxBytes: 1e6, maxTimeoutMs: 1e4, maxConcurrentStreams: 100, interceptors: [] });
await new Promise<void>((r) => s.listen(18080, "127.0.0.1", r));
console.log("up");
process.on("SIGTERM", async () => { const t = Date.now(); await closeGracefully(s, 3000); console.log("closed in", Date.now() - t, "ms"); });
