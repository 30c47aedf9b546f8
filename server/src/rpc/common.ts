/** Helpers shared by the handlers: request ids, paging and query decoding, page metadata. */
import { createHash } from "node:crypto";
import { create, type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import { type CursorPaging, type Paging, PagingMetadataSchema, type PagingMetadata, SortOrder, type Sorting } from "../../../gen/contacts/v1/common_pb.js";
import { invalidField } from "../domain/errors.js";
import type { PageInfo, PageSpec } from "../domain/paging.js";
import { type PagingRules, type QueryErrorCodes, resolvePage } from "../domain/query.js";
import type { MutationMeta } from "../services/mutation.js";

const REQUEST_ID_MAX = 64;

/**
 * The idempotency identity of a mutation: its method, the client's request id and a hash of
 * the request without that id.
 */
export function mutationMeta<Desc extends DescMessage>(ctx: HandlerContext, schema: Desc, req: MessageShape<Desc> & { requestId: string }): MutationMeta {
  const method = `${ctx.service.typeName}/${ctx.method.name}`;
  if (req.requestId.length > REQUEST_ID_MAX) {
    throw invalidField("INVALID_REQUEST_ID", "request_id", `must be at most ${REQUEST_ID_MAX} characters`);
  }
  const withoutId = { ...req, requestId: "" } as MessageShape<Desc>;
  const fingerprint = createHash("sha256").update(toBinary(schema, withoutId)).digest("hex");
  return { method, fingerprint, ...(req.requestId ? { requestId: req.requestId } : {}) };
}

export function sortEntries(sorts: readonly Sorting[]): { fieldName: string; descending: boolean }[] {
  return sorts.map((s) => ({ fieldName: s.fieldName, descending: s.order === SortOrder.DESC }));
}

/** The page a request asks for, from its offset or cursor paging, after defaults and limits. */
export function pageSpec(
  paging: { case: "paging"; value: Paging } | { case: "cursorPaging"; value: CursorPaging } | { case: undefined; value?: undefined },
  rules: PagingRules,
  codes: QueryErrorCodes,
  where: string,
): PageSpec {
  const at = (name: string) => (where ? `${where}.${name}` : name);
  if (paging.case === "cursorPaging") {
    const { limit } = resolvePage(paging.value.limit, 0, rules, codes, at("cursor_paging"));
    return { kind: "cursor", limit, ...(paging.value.cursor ? { cursor: paging.value.cursor } : {}) };
  }
  const { limit, offset } = resolvePage(paging.value?.limit, paging.value?.offset, rules, codes, at("paging"));
  return { kind: "offset", limit, offset };
}

export function pagingMetadata(page: PageInfo): PagingMetadata {
  return create(PagingMetadataSchema, {
    count: page.count,
    offset: page.offset,
    total: page.total ?? 0,
    tooManyToCount: page.tooManyToCount ?? false,
    hasNext: page.hasNext,
    ...(page.nextCursor ? { cursors: { next: page.nextCursor } } : {}),
  });
}

export function timestamp(date: Date | undefined) {
  return date ? timestampFromDate(date) : undefined;
}
