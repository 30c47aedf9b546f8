/**
 * The one place where failures become gRPC statuses. Domain errors keep their reason in an
 * ErrorInfo (domain `contacts.v1`) and their field violations in a BadRequest; database outages
 * become UNAVAILABLE; anything else is a bug and becomes INTERNAL without leaking its message.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { DomainError, type ErrorKind } from "../domain/errors.js";
import { QueryAbandonedError } from "../store/call-scope.js";

export const ERROR_DOMAIN = "contacts.v1";

const CODES: Record<ErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  aborted: Code.Aborted,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  unavailable: Code.Unavailable,
  deadline_exceeded: Code.DeadlineExceeded,
};

/** Node and driver error codes that mean the database cannot be reached or went away. */
const OUTAGE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "ER_CON_COUNT_ERROR",
  "ER_SERVER_SHUTDOWN",
  "ER_QUERY_INTERRUPTED",
  "SQLITE_BUSY",
  "SQLITE_IOERR",
]);

/**
 * MariaDB statement time limit (max_statement_time), lock-wait/deadlock retries exhausted, and a
 * Galera node that is not part of the primary component (1047 "WSREP has not yet prepared node
 * for application use": it lost quorum, or is still joining; 1180 "Got error 6 during COMMIT":
 * it lost quorum while replicating the commit, which then did not happen): the client retries,
 * with its request_id, elsewhere or later.
 */
const OVERLOAD_ERRNOS = new Set([1969, 3024, 1205, 1213, 1047, 1180]);

export function isDatabaseOutage(err: unknown): boolean {
  const e = err as { code?: string; errno?: number; name?: string; message?: string; fatal?: boolean };
  if (!e || typeof e !== "object") return false;
  if (e.code && OUTAGE_CODES.has(e.code)) return true;
  if (e.fatal === true) return true;
  return typeof e.message === "string" && /Timeout acquiring a connection|Connection lost|connect ETIMEDOUT/.test(e.message);
}

/** Error texts echo client input (keys, paths, values); this bounds them so trailers stay small. */
const MAX_ECHO = 300;
/** All the violations of a call share this many bytes of echoed text. */
const ECHO_BUDGET = 4000;
const MAX_VIOLATIONS = 20;

function clipper(): (s: string) => string {
  let budget = ECHO_BUDGET;
  return (s) => {
    const max = Math.max(40, Math.min(MAX_ECHO, budget));
    if (s.length <= max) {
      budget -= s.length;
      return s;
    }
    // Never cut a surrogate pair in two (a lone surrogate is not valid UTF-8).
    const cut = /[\uD800-\uDBFF]/.test(s.charAt(max - 1)) ? max - 1 : max;
    const out = `${s.slice(0, cut)}…(${s.length - cut} more characters)`;
    budget -= out.length;
    return out;
  };
}

export function toConnectError(err: unknown): { error: ConnectError; bug: boolean } {
  if (err instanceof ConnectError) return { error: err, bug: false };
  if (err instanceof DomainError) {
    const clip = clipper();
    const details: ConstructorParameters<typeof ConnectError>[3] = [
      {
        desc: ErrorInfoSchema,
        value: create(ErrorInfoSchema, {
          reason: err.reason,
          domain: ERROR_DOMAIN,
          metadata: Object.fromEntries(Object.entries(err.metadata).map(([k, v]) => [k, clip(v)])),
        }),
      },
    ];
    if (err.violations.length > 0) {
      details.push({
        desc: BadRequestSchema,
        value: create(BadRequestSchema, {
          fieldViolations: err.violations.slice(0, MAX_VIOLATIONS).map((v) => ({ field: clip(v.field), description: clip(v.description), reason: err.reason })),
        }),
      });
    }
    return { error: new ConnectError(clip(err.message), CODES[err.kind], undefined, details), bug: false };
  }
  if (err instanceof QueryAbandonedError) {
    return { error: new ConnectError("the call's deadline passed or it was cancelled", Code.DeadlineExceeded), bug: false };
  }
  const errno = (err as { errno?: number }).errno;
  if (isDatabaseOutage(err) || (errno !== undefined && OVERLOAD_ERRNOS.has(errno))) {
    return {
      error: new ConnectError("the database is unavailable; retry later", Code.Unavailable, undefined, [
        { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: "DATABASE_UNAVAILABLE", domain: ERROR_DOMAIN }) },
      ]),
      bug: false,
    };
  }
  return { error: new ConnectError("internal error", Code.Internal), bug: true };
}

/** A request body that does not parse as its message: INVALID_ARGUMENT `MALFORMED_REQUEST`. */
export function malformedRequest(typeName: string, reason: string): ConnectError {
  return toConnectError(new DomainError("invalid_argument", "MALFORMED_REQUEST", `cannot parse ${typeName}: ${reason}`)).error;
}

/**
 * What is logged of an unexpected error: its kind, driver codes and stack frames, never its
 * message. A database driver's message is the whole statement with its values inlined (names,
 * emails, phones), and `sqlMessage` can quote them too ("Duplicate entry '…'").
 */
export function describeBug(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err };
  const e = err as Error & { code?: unknown; errno?: unknown; sqlState?: unknown };
  const frames = (e.stack ?? "").split("\n").filter((line) => /^\s+at /.test(line));
  return {
    type: e.name,
    ...(e.code !== undefined ? { code: e.code } : {}),
    ...(e.errno !== undefined ? { errno: e.errno } : {}),
    ...(e.sqlState !== undefined ? { sqlState: e.sqlState } : {}),
    stack: frames.map((line) => line.trim()).join("\n"),
  };
}
