/**
 * Typed failures of the domain. Each carries a stable `reason` (the reference's error code) and
 * a kind; the rpc edge maps kinds to gRPC codes in one place (rpc/errors.ts).
 */
export type ErrorKind =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "aborted"
  | "failed_precondition"
  | "resource_exhausted"
  | "unauthenticated"
  | "permission_denied"
  | "unavailable"
  | "deadline_exceeded";

/** One bad field of a request, with its path in the request (e.g. `info.emails.items[3].email`). */
export interface FieldViolation {
  field: string;
  description: string;
}

export class DomainError extends Error {
  override readonly name = "DomainError";
  constructor(
    readonly kind: ErrorKind,
    readonly reason: string,
    message: string,
    readonly metadata: Readonly<Record<string, string>> = {},
    readonly violations: readonly FieldViolation[] = [],
  ) {
    super(message);
  }
}

/** A validation failure of one field: INVALID_ARGUMENT with a BadRequest violation for `field`. */
export function invalidField(reason: string, field: string, description: string, metadata: Record<string, string> = {}): DomainError {
  return new DomainError("invalid_argument", reason, `${field}: ${description}`, metadata, [{ field, description }]);
}

export function notFound(reason: string, message: string, metadata: Record<string, string> = {}) {
  return new DomainError("not_found", reason, message, metadata);
}

export function failedPrecondition(reason: string, message: string, metadata: Record<string, string> = {}) {
  return new DomainError("failed_precondition", reason, message, metadata);
}
