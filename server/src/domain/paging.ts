import { createHash } from "node:crypto";
import { invalidField } from "./errors.js";
import type { Scalar } from "./query.js";

/** A page request after defaults and limits: by offset, or after a cursor. */
export type PageSpec = { kind: "offset"; limit: number; offset: number } | { kind: "cursor"; limit: number; cursor?: string };

/** What a page says about itself (PagingMetadata on the wire). */
export interface PageInfo {
  count: number;
  offset: number;
  total?: number;
  /** The total is a lower bound: counting stopped at a cap. */
  tooManyToCount?: boolean;
  hasNext: boolean;
  nextCursor?: string;
}

export interface Page<T> {
  items: T[];
  page: PageInfo;
}

/**
 * Cursors are opaque to clients: the sort values of the last row, bound to a hash of the query
 * they came from, so a cursor used with another filter or sort is refused instead of silently
 * returning the wrong rows.
 */
export function encodeCursor(after: readonly Scalar[], queryHash: string): string {
  return Buffer.from(JSON.stringify({ a: after, q: queryHash })).toString("base64url");
}

export function decodeCursor(cursor: string, queryHash: string, field: string): Scalar[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalidField("INVALID_CURSOR", field, "is not a cursor this service issued");
  }
  const p = parsed as { a?: unknown; q?: unknown };
  if (!Array.isArray(p.a) || !p.a.every((v) => typeof v === "string" || typeof v === "number")) {
    throw invalidField("INVALID_CURSOR", field, "is not a cursor this service issued");
  }
  if (p.q !== queryHash) {
    throw invalidField("INVALID_CURSOR", field, "belongs to a different filter or sort");
  }
  return p.a as Scalar[];
}

/** A stable hash of anything JSON-serialisable, for binding cursors to their query. */
export function hashOf(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("base64url").slice(0, 16);
}
