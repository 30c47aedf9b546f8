/**
 * Typed errors. Every failed call rejects with a ContactsApiError (or one of its subclasses, one
 * per gRPC status) carrying the gRPC status, the reference's error code from the server's
 * `google.rpc.ErrorInfo` (`err.code === "DUPLICATE_CONTACT_EXISTS"`) and its data
 * (`err.details.duplicateContactId`, `err.details.fieldViolations`).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";

/** The canonical gRPC status names. */
export type GrpcStatus =
  | "OK"
  | "CANCELLED"
  | "UNKNOWN"
  | "INVALID_ARGUMENT"
  | "DEADLINE_EXCEEDED"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "PERMISSION_DENIED"
  | "RESOURCE_EXHAUSTED"
  | "FAILED_PRECONDITION"
  | "ABORTED"
  | "OUT_OF_RANGE"
  | "UNIMPLEMENTED"
  | "INTERNAL"
  | "UNAVAILABLE"
  | "DATA_LOSS"
  | "UNAUTHENTICATED";

const STATUS_NAMES: readonly GrpcStatus[] = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

/** One bad field of a request, from the server's `google.rpc.BadRequest`. */
export interface FieldViolation {
  /** Path of the field in the request, e.g. `info.emails.items[3].email`. */
  field: string;
  /** What is wrong with it. */
  description: string;
}

/**
 * The error's data: the ErrorInfo metadata as sent by the server (all values are strings, e.g.
 * `duplicateContactId`, `duplicateEmail`, `currentRevision`, `labelsQuota`) plus
 * `fieldViolations` when the request had bad fields.
 */
export interface ErrorDetails {
  [key: string]: string | FieldViolation[] | undefined;
  /** The bad fields of an INVALID_ARGUMENT error; absent otherwise. */
  fieldViolations?: FieldViolation[];
}

/**
 * A failed call. `code` is the reference's error code when the server sent one (its ErrorInfo
 * reason: `DUPLICATE_CONTACT_EXISTS`, `CONTACT_ALREADY_CHANGED`, `MALFORMED_FILTER`, …), else the
 * gRPC status name (`UNAVAILABLE`, `DEADLINE_EXCEEDED`, `CANCELLED`).
 *
 * @example
 * try {
 *   await contacts.createContact({ emails: { items: [{ email: "ada@example.com" }] } });
 * } catch (err) {
 *   if (err instanceof ContactsApiError && err.code === "DUPLICATE_CONTACT_EXISTS") {
 *     console.log("already there:", err.details.duplicateContactId);
 *   }
 * }
 */
export class ContactsApiError extends Error {
  override name = "ContactsApiError";
  /** The numeric gRPC status code, e.g. 6 for ALREADY_EXISTS. */
  readonly grpcCode: number;
  /** The gRPC status name, e.g. `"ALREADY_EXISTS"`. */
  readonly grpcStatus: GrpcStatus;
  /** The reference's error code (ErrorInfo reason), or the gRPC status name when there is none. */
  readonly code: string;
  /** The server's message, without the code. */
  readonly rawMessage: string;
  /** The error's data: ErrorInfo metadata and `fieldViolations`. */
  readonly details: ErrorDetails;
  /** The `request_id` the SDK sent with the mutation that failed (for support and logs). */
  readonly requestId: string | undefined;

  constructor(init: {
    grpcCode: number;
    code?: string;
    message: string;
    details?: ErrorDetails;
    requestId?: string | undefined;
    cause?: unknown;
  }) {
    const grpcStatus = STATUS_NAMES[init.grpcCode] ?? "UNKNOWN";
    const code = init.code || grpcStatus;
    const details = init.details ?? {};
    super(formatMessage(code, init.message, details), { cause: init.cause });
    this.grpcCode = init.grpcCode;
    this.grpcStatus = grpcStatus;
    this.code = code;
    this.rawMessage = init.message;
    this.details = details;
    this.requestId = init.requestId;
  }

  /** True for failures the SDK retries by itself (UNAVAILABLE). */
  get retryable(): boolean {
    return this.grpcCode === Code.Unavailable;
  }
}

function formatMessage(code: string, message: string, details: ErrorDetails): string {
  const data = Object.entries(details)
    .filter((e): e is [string, string] => typeof e[1] === "string")
    .map(([k, v]) => `${k}=${v}`);
  const violations = (details.fieldViolations ?? []).map((v) => `${v.field}: ${v.description}`);
  // The server's message for a single bad field already names it; don't say it twice.
  const extra = violations.filter((v) => v !== message);
  let text = `${code}: ${message}`;
  if (data.length > 0) text += ` (${data.join(", ")})`;
  if (extra.length > 0) text += `; ${extra.join("; ")}`;
  return text;
}

/** INVALID_ARGUMENT: a bad request, a malformed filter, a limit exceeded. See `details.fieldViolations`. */
export class InvalidArgumentError extends ContactsApiError {
  override name = "InvalidArgumentError";
}
/** NOT_FOUND: `CONTACT_NOT_FOUND`, `LABEL_NOT_FOUND`, `EXTENDED_FIELD_NOT_FOUND`. */
export class NotFoundError extends ContactsApiError {
  override name = "NotFoundError";
}
/** ALREADY_EXISTS: `DUPLICATE_CONTACT_EXISTS` (with `details.duplicateContactId`), name collisions. */
export class AlreadyExistsError extends ContactsApiError {
  override name = "AlreadyExistsError";
}
/** ABORTED: `CONTACT_ALREADY_CHANGED`, a stale revision; read the contact again and retry. */
export class AbortedError extends ContactsApiError {
  override name = "AbortedError";
}
/** FAILED_PRECONDITION: member protections, system labels and fields, `ILLEGAL_MERGE`, `CURSOR_EXPIRED`. */
export class FailedPreconditionError extends ContactsApiError {
  override name = "FailedPreconditionError";
}
/** RESOURCE_EXHAUSTED: `LABELS_QUOTA_REACHED`, `FIELDS_QUOTA_EXCEEDED`. */
export class ResourceExhaustedError extends ContactsApiError {
  override name = "ResourceExhaustedError";
}
/** UNAUTHENTICATED: no token, or a bad or expired one. */
export class UnauthenticatedError extends ContactsApiError {
  override name = "UnauthenticatedError";
}
/** PERMISSION_DENIED: the token lacks the method's scope (`details.requiredScope`). */
export class PermissionDeniedError extends ContactsApiError {
  override name = "PermissionDeniedError";
}
/** UNAVAILABLE: the server or its database cannot be reached. The SDK already retried. */
export class UnavailableError extends ContactsApiError {
  override name = "UnavailableError";
}
/** DEADLINE_EXCEEDED: the call's `timeoutMs` passed. A mutation may or may not have happened. */
export class DeadlineExceededError extends ContactsApiError {
  override name = "DeadlineExceededError";
}
/** CANCELLED: the call's `signal` was aborted. */
export class CancelledError extends ContactsApiError {
  override name = "CancelledError";
}

/** The `code` of every error the SDK throws for a bad argument, before anything is sent. */
export const INVALID_SDK_ARGUMENT = "INVALID_SDK_ARGUMENT";

/**
 * A bad argument caught before anything is sent: a wrong type, an unknown field, a bad enum
 * value, a missing ID; the message names the function and the path (`createContact(): info.name.last
 * must be a string; got 42`). A TypeError, as before it had a `code`; `code` is always
 * `INVALID_SDK_ARGUMENT`, so one `err.code` check serves it and the server's ContactsApiError alike.
 */
export class InvalidSdkArgumentError extends TypeError {
  override name = "InvalidSdkArgumentError";
  /** Always `INVALID_SDK_ARGUMENT`. */
  readonly code = INVALID_SDK_ARGUMENT;
}

/** A number argument out of its range (a query builder's `limit` or `skip`, too many sort fields). A RangeError with `code` `INVALID_SDK_ARGUMENT`. */
export class SdkArgumentRangeError extends RangeError {
  override name = "SdkArgumentRangeError";
  /** Always `INVALID_SDK_ARGUMENT`. */
  readonly code = INVALID_SDK_ARGUMENT;
}

const CLASSES: Partial<Record<Code, typeof ContactsApiError>> = {
  [Code.InvalidArgument]: InvalidArgumentError,
  [Code.NotFound]: NotFoundError,
  [Code.AlreadyExists]: AlreadyExistsError,
  [Code.Aborted]: AbortedError,
  [Code.FailedPrecondition]: FailedPreconditionError,
  [Code.ResourceExhausted]: ResourceExhaustedError,
  [Code.Unauthenticated]: UnauthenticatedError,
  [Code.PermissionDenied]: PermissionDeniedError,
  [Code.Unavailable]: UnavailableError,
  [Code.DeadlineExceeded]: DeadlineExceededError,
  [Code.Canceled]: CancelledError,
};

/** Builds the error class matching a gRPC code. */
export function apiError(init: ConstructorParameters<typeof ContactsApiError>[0]): ContactsApiError {
  const Class = CLASSES[init.grpcCode as Code] ?? ContactsApiError;
  return new Class(init);
}

/**
 * Node and HTTP/2 failures of the connection itself. The server never saw the call, or its
 * answer was lost; connect-node reports some of these as ABORTED or INTERNAL, which would be
 * mistaken for the server's own ABORTED (a stale revision). grpc-js reports them as UNAVAILABLE,
 * and so does the SDK: every mutation carries a request_id, so retrying them is safe.
 */
const CONNECTION_FAILURES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_WRITE_AFTER_END",
  "ERR_STREAM_PREMATURE_CLOSE",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_HTTP2_INVALID_STREAM",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_STREAM_ERROR",
  "ERR_HTTP2_STREAM_CANCEL",
  "ERR_HTTP2_ERROR",
  "ERR_HTTP2_PING_CANCEL",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
]);

function isConnectionFailure(err: unknown): boolean {
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (e instanceof Error && !seen.has(e)) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && CONNECTION_FAILURES.has(code)) return true;
    // HTTP/2 stream resets by a server going away (connect-node: "http/2 stream closed with error code …").
    if (/http\/2 stream closed with error code (INTERNAL_ERROR|REFUSED_STREAM|CANCEL|NO_ERROR)|GOAWAY|socket hang up|premature close/i.test(e.message)) {
      return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Turns anything a call threw into a ContactsApiError. `ownAbort` says the caller's own signal
 * was aborted, which is CANCELLED whatever the transport made of it.
 */
export function toApiError(err: unknown, requestId?: string, ownAbort = false): ContactsApiError {
  if (err instanceof ContactsApiError) return err;
  const ce = ConnectError.from(err);
  if (ownAbort) {
    return apiError({ grpcCode: Code.Canceled, message: "the call was cancelled by its signal", requestId, cause: err });
  }
  const info = ce.findDetails(ErrorInfoSchema)[0];
  const badRequest = ce.findDetails(BadRequestSchema)[0];
  let grpcCode: number = ce.code;
  // A status the server sent carries its ErrorInfo; one without it that came from a broken
  // connection is UNAVAILABLE, as grpc-js would report it.
  if (!info && grpcCode !== Code.Unavailable && grpcCode !== Code.DeadlineExceeded && isConnectionFailure(ce)) {
    grpcCode = Code.Unavailable;
  }
  const details: ErrorDetails = { ...(info?.metadata ?? {}) };
  if (badRequest && badRequest.fieldViolations.length > 0) {
    details.fieldViolations = badRequest.fieldViolations.map((v) => ({ field: v.field, description: v.description }));
  }
  return apiError({
    grpcCode,
    ...(info?.reason ? { code: info.reason } : {}),
    message: ce.rawMessage || STATUS_NAMES[grpcCode] || "error",
    details,
    requestId,
    cause: err,
  });
}
