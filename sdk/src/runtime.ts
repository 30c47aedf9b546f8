/** What the modules of a client share, and small argument checks they all use. */
import { create, type JsonObject } from "@bufbuild/protobuf";
import type { Transport } from "@connectrpc/connect";
import type { CallContext } from "./call.js";
import { toSdk } from "./codec.js";
import { InvalidSdkArgumentError } from "./errors.js";
import { type PagingMetadata as PagingMetadata$, PagingMetadataSchema } from "./gen/contacts/v1/common_pb.js";
import type { QueryField } from "./query.js";
import type { CursorPaging, Paging, PagingMetadata, Sorting } from "./types.js";

/** The transport and call settings a client's modules share. */
export interface Runtime {
  transport: Transport;
  ctx: CallContext;
}

/** Rejects a missing or empty string argument before anything is sent. */
export function requireString(fn: string, name: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidSdkArgumentError(`${fn}(): ${name} must be a non-empty string; got ${value === undefined ? "undefined" : JSON.stringify(value)}`);
  }
  return value;
}

/** Rejects a missing or empty array of strings. */
export function requireStrings(fn: string, name: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === "string" && v.length > 0)) {
    throw new InvalidSdkArgumentError(`${fn}(): ${name} must be a non-empty array of strings`);
  }
  return value as string[];
}

/** A page's metadata as the SDK shape (all zero when the server sent none). */
export function pagingOf(message: PagingMetadata$ | undefined): PagingMetadata {
  return toSdk<PagingMetadata>(PagingMetadataSchema, message ?? create(PagingMetadataSchema));
}

/** A sort entry in the wire spelling, checked against the entity's sortable fields. */
export function sortToWire(fn: string, sort: Sorting | undefined, resolve: (name: string) => QueryField | undefined): JsonObject | undefined {
  if (sort === undefined) return undefined;
  const field = typeof sort?.fieldName === "string" ? resolve(sort.fieldName) : undefined;
  if (!field?.sortable) throw new InvalidSdkArgumentError(`${fn}(): cannot sort by ${JSON.stringify(sort?.fieldName)}`);
  if (sort.order !== undefined && sort.order !== "ASC" && sort.order !== "DESC") {
    throw new InvalidSdkArgumentError(`${fn}(): sort.order must be "ASC" or "DESC"`);
  }
  return { fieldName: field.wire, order: sort.order === "DESC" ? "SORT_ORDER_DESC" : "SORT_ORDER_ASC" };
}

/** Paging options as proto JSON, a `null` value left out (their types are checked when the request is parsed). */
export function pagingToWire(paging: Paging | CursorPaging): JsonObject {
  if (typeof paging !== "object" || paging === null) throw new InvalidSdkArgumentError("paging must be an object");
  return Object.fromEntries(Object.entries(paging).filter(([, v]) => v !== null && v !== undefined)) as JsonObject;
}
