/**
 * Querying contacts: the filter language, sort, search, offset and cursor paging, projection,
 * and facets. Validation happens against the tenant's own schema (its custom extended fields),
 * then one page is read.
 */
import type { JsonValue } from "@bufbuild/protobuf";
import type { ContactJson } from "../../../gen/contacts/v1/contact_pb.js";
import type { Caller } from "../domain/caller.js";
import {
  type ContactField,
  type ContactSchema,
  CUSTOM_FIELD_PATH,
  contactSchema,
  DEFAULT_CONTACT_SORT,
  QUERYABLE_STORED_FIELDS,
  withoutStrippedLabels,
} from "../domain/contact-query.js";
import { presentContact, type Stripped } from "../domain/contacts.js";
import { invalidField } from "../domain/errors.js";
import type { ExtendedField } from "../domain/extended-fields.js";
import { decodeCursor, encodeCursor, hashOf, type Page, type PageSpec } from "../domain/paging.js";
import { type Projection, project } from "../domain/projection.js";
import { type Filter, parseFilter, parseSort, type Scalar } from "../domain/query.js";
import { SEARCH_MAX } from "../domain/search.js";
import { strippedKeys } from "../store/cleanup-jobs.js";
import type { CompileContext } from "../store/filter-compiler.js";
import { countByLabel, countContacts, queryContactPage } from "../store/contact-queries.js";
import { extendedFieldFromRow } from "../store/extended-fields.js";
import type { ExtendedFieldRow, LabelRow } from "../store/tables.js";
import { labelFromRow } from "../store/labels.js";
import type { ServiceDeps } from "./deps.js";

/** Matches are counted up to this many; beyond, `too_many_to_count` is set. */
export const COUNT_CAP = 10_000;

export interface ContactQueryRequest {
  filter: JsonValue | undefined;
  sort: { fieldName: string; descending: boolean }[];
  search?: string;
  page: PageSpec;
  projection: Projection;
  /** Request paths for errors. */
  where: { filter: string; sort: string; cursor: string; search: string };
}

async function customFields(deps: ServiceDeps, tenantId: string): Promise<ExtendedField[]> {
  const rows = (await deps.db("extended_fields").where({ tenant_id: tenantId, namespace: "custom" })) as ExtendedFieldRow[];
  return rows.map(extendedFieldFromRow);
}

/**
 * The tenant's query schema. Its custom extended fields are read only when the request can name
 * one (every custom path has a key `custom.…`): most queries do not, and skip the round trip.
 */
async function compileContext(deps: ServiceDeps, caller: Caller, request: unknown = true) {
  await deps.tenants.ensure(caller.tenantId);
  // Only a request that names a custom field's path needs the tenant's fields (label keys, which
  // also start with "custom.", do not).
  const mayNameCustom = request === true || JSON.stringify(request ?? null).includes(CUSTOM_FIELD_PATH);
  const [fields, stripped] = await Promise.all([mayNameCustom ? customFields(deps, caller.tenantId) : [], strippedKeys(deps.db, caller.tenantId)]);
  const customTypes = new Map([...QUERYABLE_STORED_FIELDS, ...fields].map((f) => [f.key, f.dataType]));
  const cx: CompileContext = { db: deps.db, tenantId: caller.tenantId, customTypes, strippedLabels: stripped.labels };
  return { cx, schema: contactSchema(fields), stripped };
}

/** Contacts as a query or a bulk job selects them: a filter and a search, validated against the tenant's schema. */
export interface Selection {
  cx: CompileContext;
  schema: ContactSchema;
  /** The filter as requested. */
  parsed: Filter;
  /** The filter to run: `parsed` without the labels being stripped (withoutStrippedLabels). */
  filter: Filter;
  /** Trimmed; "" for none. */
  search: string;
  /** What the contacts found must not show. */
  stripped: Stripped;
}

/**
 * Parses a filter and search (`where`: their request paths, for errors). `request` is what may
 * name a custom field (by default the filter): the tenant's fields are read only then.
 */
export async function selection(
  deps: ServiceDeps,
  caller: Caller,
  filterJson: JsonValue | undefined,
  searchText: string | undefined,
  where: { filter: string; search: string },
  request: unknown = filterJson,
): Promise<Selection> {
  const search = searchText?.trim() ?? "";
  if ([...search].length > SEARCH_MAX) throw invalidField("INVALID_SEARCH", where.search, `must be at most ${SEARCH_MAX} characters`);
  const { cx, schema, stripped } = await compileContext(deps, caller, request);
  const parsed = parseFilter(filterJson, schema, where.filter);
  return { cx, schema, parsed, filter: withoutStrippedLabels(parsed, stripped.labels), search, stripped };
}

export async function queryContacts(deps: ServiceDeps, caller: Caller, req: ContactQueryRequest): Promise<Page<ContactJson>> {
  const { cx, schema, parsed, filter, search, stripped } = await selection(deps, caller, req.filter, req.search, req.where, [req.filter, req.sort]);
  const sort = parseSort(req.sort, schema, req.where.sort)[0] ?? DEFAULT_CONTACT_SORT;
  const page = req.page;
  // The request's filter, not its rewrite: a label deleted between two pages keeps the cursor valid.
  const queryHash = hashOf({ f: parsed, s: [sort.field.path, sort.descending], q: search });
  const after = page.kind === "cursor" && page.cursor ? decodeCursor(page.cursor, queryHash, req.where.cursor) : undefined;
  if (after && (after.length !== 2 || typeof after[1] !== "string")) {
    throw invalidField("INVALID_CURSOR", req.where.cursor, "is not a cursor this service issued");
  }
  const result = await queryContactPage(cx, {
    filter,
    sort,
    ...(search ? { search } : {}),
    limit: page.limit,
    ...(page.kind === "offset" ? { offset: page.offset, countUpTo: COUNT_CAP } : {}),
    ...(after ? { after: [after[0] as Scalar, after[1] as string] as const } : {}),
  });
  const last = result.keys[result.keys.length - 1];
  const nextCursor = page.kind === "cursor" && result.hasNext && last ? encodeCursor(last, queryHash) : undefined;
  return {
    items: result.contacts.map((c) => project(presentContact(c, stripped), req.projection)),
    page: {
      count: result.contacts.length,
      offset: page.kind === "offset" ? page.offset : 0,
      ...(result.total === undefined ? {} : { total: result.total, tooManyToCount: result.tooManyToCount ?? false }),
      hasNext: result.hasNext,
      ...(nextCursor ? { nextCursor } : {}),
    },
  };
}

/** Contacts per message of an export: a query page of up to this many, read when the last was sent. */
export const EXPORT_PAGE = 500;

/**
 * Every contact matching a filter and search, newest first, a page at a time (ExportContacts).
 * Each page is a keyset query after the previous page's last contact, run only when the consumer
 * asks for the next page: no transaction or cursor stays open while a slow reader catches up, and
 * memory holds one page.
 */
export async function* exportContacts(
  deps: ServiceDeps,
  caller: Caller,
  req: { filter: JsonValue | undefined; search: string; projection: Projection },
): AsyncGenerator<ContactJson[]> {
  const { cx, filter, search, stripped } = await selection(deps, caller, req.filter, req.search, { filter: "filter", search: "search" });
  let after: readonly [Scalar, string] | undefined;
  for (;;) {
    const page = await queryContactPage(cx, {
      filter,
      sort: DEFAULT_CONTACT_SORT,
      ...(search ? { search } : {}),
      limit: EXPORT_PAGE,
      ...(after ? { after } : {}),
    });
    if (page.contacts.length > 0) yield page.contacts.map((c) => project(presentContact(c, stripped), req.projection));
    after = page.keys.at(-1);
    if (!page.hasNext || !after) return;
  }
}

export type FacetType = "ALL_CONTACTS" | "NOT_LABELED" | "LABEL" | "SUBSCRIPTION_STATUS" | "MEMBERSHIP_STATUS";

export interface Facet {
  facetType: FacetType;
  namespace: string;
  namespaceDisplayName: string;
  facetKey: string;
  facetDisplayName: string;
  count: number;
  queryFilter: Record<string, JsonValue>;
}

/** The facets of one status field: one per value, each counting the contacts with that value. */
function statusFacets(facetType: FacetType, namespace: string, namespaceDisplayName: string, path: string, values: readonly (readonly [string, string])[]) {
  return {
    path,
    values,
    facets: (counts: readonly number[]): Facet[] =>
      values.map(([value, name], i) => ({
        facetType,
        namespace,
        namespaceDisplayName,
        facetKey: value,
        facetDisplayName: name,
        count: counts[i] ?? 0,
        queryFilter: { [path]: value },
      })),
  };
}

/** The email subscription statuses (reference §1.4) and the membership statuses (domain/contacts.ts membershipStatus). */
const STATUS_FACETS = {
  subscription: statusFacets("SUBSCRIPTION_STATUS", "emailSubscriptions", "Email subscriptions", "info.extendedFields.emailSubscriptions.subscriptionStatus", [
    ["NOT_SET", "Not set"],
    ["PENDING", "Pending"],
    ["SUBSCRIBED", "Subscribed"],
    ["UNSUBSCRIBED", "Unsubscribed"],
  ]),
  membership: statusFacets("MEMBERSHIP_STATUS", "members", "Members", "info.extendedFields.members.membershipStatus", [
    ["APPROVED", "Approved members"],
    ["PENDING", "Pending members"],
    ["DENIED", "Denied members"],
    ["INACTIVE", "Inactive members"],
  ]),
};

/** The paths QueryFacets accepts in its filter (reference §2.10). */
const FACET_FILTER_PATHS = new Set([
  "info.extendedFields.emailSubscriptions.effectiveEmail",
  "info.extendedFields.emailSubscriptions.subscriptionStatus",
  "info.extendedFields.emailSubscriptions.deliverabilityStatus",
]);

/** Every facet with its count among the contacts matching `filterJson` (all, when absent). */
export async function facets(deps: ServiceDeps, caller: Caller, filterJson: JsonValue | undefined, where: string): Promise<Facet[]> {
  const { cx, schema, stripped } = await compileContext(deps, caller);
  const facetSchema = {
    ...schema,
    field: (path: string): ContactField | undefined => (FACET_FILTER_PATHS.has(path) ? schema.field(path) : undefined),
  };
  const filter: Filter = withoutStrippedLabels(parseFilter(filterJson, facetSchema, where), stripped.labels);
  const and = (extra: Filter): Filter => ({ kind: "and", filters: [filter, extra] });
  const labelsField = schema.field("info.labelKeys") as ContactField;
  const countsOf = ({ path, values }: (typeof STATUS_FACETS)[keyof typeof STATUS_FACETS]) =>
    Promise.all(values.map(([value]) => countContacts(cx, and({ kind: "compare", field: schema.field(path) as ContactField, op: "$eq", value }))));
  const [all, notLabeled, byLabel, bySubscription, byMembership, labels] = await Promise.all([
    countContacts(cx, filter),
    countContacts(cx, and({ kind: "exists", field: labelsField, exists: false })),
    countByLabel(cx, filter),
    countsOf(STATUS_FACETS.subscription),
    countsOf(STATUS_FACETS.membership),
    deps.db("labels").where({ tenant_id: caller.tenantId }).orderBy("display_name") as Promise<LabelRow[]>,
  ]);
  const out: Facet[] = [
    {
      facetType: "ALL_CONTACTS",
      namespace: "contacts",
      namespaceDisplayName: "Contacts",
      facetKey: "all",
      facetDisplayName: "All contacts",
      count: all,
      queryFilter: {},
    },
    {
      facetType: "NOT_LABELED",
      namespace: "contacts",
      namespaceDisplayName: "Contacts",
      facetKey: "not-labeled",
      facetDisplayName: "Not labeled",
      count: notLabeled,
      queryFilter: { "info.labelKeys": { $exists: false } },
    },
  ];
  for (const row of labels) {
    const label = labelFromRow(row);
    out.push({
      facetType: "LABEL",
      namespace: label.namespace,
      namespaceDisplayName: label.namespaceDisplayName,
      facetKey: label.key,
      facetDisplayName: label.displayName,
      count: byLabel.get(label.key) ?? 0,
      queryFilter: { "info.labelKeys": { $hasSome: [label.key] } },
    });
  }
  // One facet per subscription status (every address starts NOT_SET here: subscriptions are
  // managed elsewhere) and per membership status.
  out.push(...STATUS_FACETS.subscription.facets(bySubscription), ...STATUS_FACETS.membership.facets(byMembership));
  return out;
}
