/**
 * Bench baseline: a plain grpc-js server (proto-loader) answering
 * grpc.health.v1.Health/Check with SERVING. Prints `PORT <n>` when ready.
 */
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { projectRoot } from "./root.js";

const def = protoLoader.loadSync(join(projectRoot, "third_party/grpc/health/v1/health.proto"), {
  enums: String,
  defaults: true,
});
const pkg = grpc.loadPackageDefinition(def) as unknown as {
  grpc: { health: { v1: { Health: { service: grpc.ServiceDefinition } } } };
};

const server = new grpc.Server();
server.addService(pkg.grpc.health.v1.Health.service, {
  check: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
    cb(null, { status: "SERVING" });
  },
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  console.log(`PORT ${port}`);
});
process.on("SIGTERM", () => server.forceShutdown());
