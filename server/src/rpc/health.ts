import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
  HealthCheckResponseSchema,
  HealthListResponseSchema,
} from "../../../gen/grpc/health/v1/health_pb.js";
import type { DatabaseHealth } from "../store/health.js";

/**
 * grpc.health.v1.Health: SERVING while the database answers, NOT_SERVING while it does not or
 * while the server drains. The empty service name and every served service report the same.
 */
export function healthService(dbHealth: DatabaseHealth, serviceNames: readonly string[]) {
  const known = new Set(["", ...serviceNames]);
  const status = () => (dbHealth.serving ? Status.SERVING : Status.NOT_SERVING);
  const impl: ServiceImpl<typeof Health> = {
    check(req) {
      if (!known.has(req.service)) throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
      return create(HealthCheckResponseSchema, { status: status() });
    },
    list() {
      const statuses = Object.fromEntries([...known].map((name) => [name, create(HealthCheckResponseSchema, { status: status() })]));
      return create(HealthListResponseSchema, { statuses });
    },
    async *watch(req, ctx) {
      if (!known.has(req.service)) {
        yield create(HealthCheckResponseSchema, { status: Status.SERVICE_UNKNOWN });
      }
      let last = known.has(req.service) ? status() : Status.SERVICE_UNKNOWN;
      if (last !== Status.SERVICE_UNKNOWN) yield create(HealthCheckResponseSchema, { status: last });
      // Wake on every change (or cancellation) and send only real transitions.
      while (!ctx.signal.aborted) {
        await new Promise<void>((resolve) => {
          const done = () => {
            dbHealth.off("change", done);
            ctx.signal.removeEventListener("abort", done);
            resolve();
          };
          dbHealth.on("change", done);
          ctx.signal.addEventListener("abort", done);
        });
        if (ctx.signal.aborted || !known.has(req.service)) return;
        const now = status();
        if (now !== last) {
          last = now;
          yield create(HealthCheckResponseSchema, { status: now });
        }
      }
    },
  };
  return { service: Health, impl };
}
