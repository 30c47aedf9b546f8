import { createServiceImplSpec, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health } from "./gen/grpc/health/v1/health_pb.js";
import { createHttpServer, closeGracefully } from "./server/src/rpc/transport/http-server.js";
const s = createHttpServer([createServiceImplSpec(Health, { check: () => ({ status: 1 }) })], { readMaxBytes: 1e6, writeMaxBytes: 1e6, maxTimeoutMs: 1e4, maxConcurrentStreams: 100, interceptors: [] });
await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
const port = (s.address() as any).port;
const c = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
try { console.log(await c.check({})); } catch (e) { console.log("ERR", e); }
await closeGracefully(s, 500);
