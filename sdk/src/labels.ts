/** `client.labels`: the reference SDK's labels functions over contacts.v1.LabelsService. */
import type { JsonObject } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { type CallOptions, runMutation, runRead } from "./call.js";
import { enumToProto, request, toSdk } from "./codec.js";
import {
  ContactLabelSchema,
  DeleteLabelRequestSchema,
  FindOrCreateLabelRequestSchema,
  GetLabelRequestSchema,
  LabelsService,
  LabelTypeSchema,
  ListLabelsRequestSchema,
  QueryLabelsRequestSchema,
  RenameLabelRequestSchema,
} from "./gen/contacts/v1/labels_service_pb.js";
import { LABEL_FIELDS, type LabelQueryField, tableField } from "./query-fields.js";
import { QueryBuilder, type QueryResult } from "./query.js";
import { pagingOf, pagingToWire, requireString, type Runtime, sortToWire } from "./runtime.js";
import type { ContactLabel, LabelType, Paging, PagingMetadata, Sorting } from "./types.js";

/** Options of label functions that take a language (accepted and ignored by the server). */
export interface LanguageOptions extends CallOptions {
  /** ISO-639-1 language of the display names. Accepted and ignored. */
  language?: string | null;
}

/** The answer of `findOrCreateLabel`. */
export interface FindOrCreateLabelResponse {
  /** The label found or created. */
  label: ContactLabel;
  /** True only when the label was created by this call. */
  newLabel: boolean;
}

/** Options of `listLabels`. */
export interface ListLabelsOptions extends LanguageOptions {
  /** Only labels of this type. */
  labelType?: LabelType;
  /** Only labels in this namespace, e.g. `custom`. */
  namespace?: string | null;
  /** Only labels whose display name starts with this (case-sensitive). */
  startsWith?: string | null;
  /** Sort by `displayName`, `_createdDate` or `_updatedDate`. */
  sort?: Sorting<"displayName" | "_createdDate" | "_updatedDate">;
  /** Default `{ limit: 1000, offset: 0 }`; at most 2000. */
  paging?: Paging;
}

/** The answer of `listLabels`. */
export interface ListLabelsResponse {
  /** The labels of this page. */
  labels: ContactLabel[];
  /** Paging metadata. */
  metadata: PagingMetadata;
}

/** A labels query builder. */
export type LabelsQueryBuilder = QueryBuilder<ContactLabel, LabelQueryField>;
/** A page of labels. */
export type LabelsQueryResult = QueryResult<ContactLabel, LabelsQueryBuilder>;

/** The labels module: `client.labels`. */
export interface LabelsModule {
  /**
   * Returns the label with this display name (matched case-insensitively after trimming), or
   * creates it in namespace `custom` with key `custom.<slug>`.
   *
   * @example
   * const { label, newLabel } = await labels.findOrCreateLabel("VIP Customer");
   * // label.key === "custom.vip-customer"
   * @throws ResourceExhaustedError `LABELS_QUOTA_REACHED`
   */
  findOrCreateLabel(displayName: string, options?: LanguageOptions): Promise<FindOrCreateLabelResponse>;
  /**
   * Returns a label by key.
   *
   * @example
   * const label = await labels.getLabel("contacts.customers");
   * @throws NotFoundError `LABEL_NOT_FOUND`
   */
  getLabel(key: string, options?: LanguageOptions): Promise<ContactLabel>;
  /**
   * Lists labels, filtered, sorted and paged.
   *
   * @example
   * const { labels: page } = await labels.listLabels({ labelType: "USER_DEFINED", startsWith: "VIP" });
   */
  listLabels(options?: ListLabelsOptions): Promise<ListLabelsResponse>;
  /**
   * Starts a labels query. Defaults: `skip(0)`, `limit(50)`, `descending("_createdDate")`.
   *
   * @example
   * const { items } = await labels.queryLabels().startsWith("displayName", "vip").ascending("displayName").find();
   */
  queryLabels(options?: { language?: string | null }): LabelsQueryBuilder;
  /**
   * Renames a label; its key never changes.
   *
   * @example
   * const label = await labels.renameLabel("custom.vip-customer", { displayName: "VIP" });
   * @throws FailedPreconditionError `SYSTEM_LABEL_READ_ONLY`
   */
  renameLabel(key: string, label: { displayName: string }, options?: LanguageOptions): Promise<ContactLabel>;
  /**
   * Deletes a label and removes it from every contact.
   *
   * @example
   * await labels.deleteLabel("custom.vip-customer");
   */
  deleteLabel(key: string, options?: CallOptions): Promise<void>;
}

function labelOf(message: Parameters<typeof toSdk>[1] | undefined): ContactLabel {
  if (!message) throw new Error("the server answered without a label");
  return toSdk<ContactLabel>(ContactLabelSchema, message);
}

function language(options: LanguageOptions | undefined): JsonObject {
  return options?.language !== undefined && options.language !== null ? { language: options.language } : {};
}

/** Creates `client.labels`. */
export function labelsModule(rt: Runtime): LabelsModule {
  const client = createClient(LabelsService, rt.transport);
  const ctx = rt.ctx;
  const field = tableField(LABEL_FIELDS);

  return {
    async findOrCreateLabel(displayName, options) {
      requireString("findOrCreateLabel", "displayName", displayName);
      const res = await runMutation(
        ctx,
        options,
        (requestId) => request(FindOrCreateLabelRequestSchema, { displayName, requestId, ...language(options) }, "findOrCreateLabel"),
        (r, o) => client.findOrCreateLabel(r, o),
      );
      return { label: labelOf(res.label), newLabel: res.newLabel };
    },

    async getLabel(key, options) {
      const req = request(GetLabelRequestSchema, { key: requireString("getLabel", "key", key), ...language(options) }, "getLabel");
      const res = await runRead(ctx, options, req, (r, o) => client.getLabel(r, o));
      return labelOf(res.label);
    },

    async listLabels(options) {
      const json: JsonObject = { ...language(options) };
      if (options?.labelType !== undefined) json.labelType = enumToProto(LabelTypeSchema, options.labelType, "listLabels(): options.labelType");
      if (options?.namespace !== undefined && options.namespace !== null) json.namespace = options.namespace;
      if (options?.startsWith !== undefined && options.startsWith !== null) json.startsWith = options.startsWith;
      const sort = sortToWire("listLabels", options?.sort, field);
      if (sort) json.sort = sort;
      if (options?.paging) json.paging = pagingToWire(options.paging);
      const req = request(ListLabelsRequestSchema, json, "listLabels");
      const res = await runRead(ctx, options, req, (r, o) => client.listLabels(r, o));
      return {
        labels: res.labels.map((l) => labelOf(l)),
        metadata: pagingOf(res.metadata),
      };
    },

    queryLabels(options) {
      return new QueryBuilder<ContactLabel, LabelQueryField>({
        name: "queryLabels()",
        field,
        fieldNames: Object.keys(LABEL_FIELDS),
        maxSort: 100,
        maxLimit: 2000,
        async run(q, callOptions) {
          const req = request(
            QueryLabelsRequestSchema,
            { query: { ...(q.filter ? { filter: q.filter } : {}), sort: q.sort, paging: q.paging }, ...language(options) },
            "queryLabels",
          );
          const res = await runRead(ctx, callOptions, req, (r, o) => client.queryLabels(r, o));
          return {
            items: res.labels.map((l) => labelOf(l)),
            pagingMetadata: pagingOf(res.pagingMetadata),
          };
        },
      });
    },

    async renameLabel(key, label, options) {
      requireString("renameLabel", "key", key);
      requireString("renameLabel", "label.displayName", label?.displayName);
      const res = await runMutation(
        ctx,
        options,
        (requestId) => request(RenameLabelRequestSchema, { label: { key, displayName: label.displayName }, requestId, ...language(options) }, "renameLabel"),
        (r, o) => client.renameLabel(r, o),
      );
      return labelOf(res.label);
    },

    async deleteLabel(key, options) {
      requireString("deleteLabel", "key", key);
      await runMutation(
        ctx,
        options,
        (requestId) => request(DeleteLabelRequestSchema, { key, requestId }, "deleteLabel"),
        (r, o) => client.deleteLabel(r, o),
      );
    },
  };
}
