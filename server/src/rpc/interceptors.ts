import { Code, ConnectError, type Interceptor, type StreamResponse, type UnaryResponse } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Authenticator } from "../auth/authenticate.js";
import { kCaller } from "./context.js";
import { describeBug, toConnectError } from "./errors.js";

/** Services whose calls act for a tenant; reflection and health do not. */
function isTenantScoped(typeName: string): boolean {
  return typeName.startsWith("contacts.v1.");
}

async function* mapStreamErrors<T>(messages: AsyncIterable<T>, map: (err: unknown) => ConnectError): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    throw map(err);
  }
}

/**
 * Turns every failure into a gRPC status through the one mapper (rpc/errors.ts), for unary
 * calls and for errors raised while a stream is running. Bugs are logged with their stack here
 * and reach the client only as INTERNAL.
 */
export function errorInterceptor(log: Logger): Interceptor {
  const map = (err: unknown, method: string): ConnectError => {
    const { error, bug } = toConnectError(err);
    if (bug) log.error({ err: describeBug(err), method }, "unhandled error");
    return error;
  };
  return (next) => async (req) => {
    const method = req.method.name;
    let res: UnaryResponse | StreamResponse;
    try {
      res = await next(req);
    } catch (err) {
      throw map(err, method);
    }
    if (res.stream) return { ...res, message: mapStreamErrors(res.message, (err) => map(err, method)) };
    return res;
  };
}

/** Puts the caller of every tenant-scoped call into the request context (`kCaller`). */
export function tenancyInterceptor(authenticate: Authenticator): Interceptor {
  return (next) => async (req) => {
    const service = req.service.typeName;
    // Health and reflection touch no tenant data and run no queries.
    if (!isTenantScoped(service)) return next(req);
    req.contextValues.set(kCaller, await authenticate(req.header, `${service}/${req.method.name}`));
    return next(req);
  };
}

/**
 * One structured line per call: method, status code, duration, tenant. Never request or
 * response bodies (personal data) and never headers (tokens).
 */
export function loggingInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const line = (code: Code | 0) => {
      const durationMs = Math.round((performance.now() - started) * 100) / 100;
      const tenant = req.contextValues.get(kCaller)?.tenantId;
      const fields = { method: `${req.service.typeName}/${req.method.name}`, code: code === 0 ? "OK" : Code[code], durationMs, tenant };
      if (code === Code.Internal || code === Code.Unknown) log.error(fields, "rpc");
      else log.info(fields, "rpc");
    };
    let res: UnaryResponse | StreamResponse;
    try {
      res = await next(req);
    } catch (err) {
      line(err instanceof ConnectError ? err.code : Code.Unknown);
      throw err;
    }
    if (!res.stream) {
      line(0);
      return res;
    }
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        try {
          yield* messages;
          line(0);
        } catch (err) {
          line(err instanceof ConnectError ? err.code : Code.Unknown);
          throw err;
        }
      })(),
    };
  };
}
