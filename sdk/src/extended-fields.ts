/** `client.extendedFields`: the reference SDK's extended-field functions over contacts.v1.ExtendedFieldsService. */
import type { JsonObject } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { type CallOptions, runMutation, runRead } from "./call.js";
import { enumToProto, request, toSdk } from "./codec.js";
import {
  DeleteExtendedFieldRequestSchema,
  ExtendedFieldSchema,
  ExtendedFieldsService,
  FieldDataTypeSchema,
  FieldTypeSchema,
  FindOrCreateExtendedFieldRequestSchema,
  GetExtendedFieldRequestSchema,
  ListExtendedFieldsRequestSchema,
  QueryExtendedFieldsRequestSchema,
  RenameExtendedFieldRequestSchema,
} from "./gen/contacts/v1/extended_fields_service_pb.js";
import { EXTENDED_FIELD_FIELDS, type ExtendedFieldQueryField, tableField } from "./query-fields.js";
import { QueryBuilder, type QueryResult } from "./query.js";
import { pagingOf, pagingToWire, requireString, type Runtime, sortToWire } from "./runtime.js";
import type { ExtendedField, FieldDataType, FieldType, Paging, PagingMetadata, Sorting } from "./types.js";

/** The answer of `findOrCreateExtendedField`. */
export interface FindOrCreateExtendedFieldResponse {
  /** The field found or created. */
  field: ExtendedField;
  /** True only when the field was created by this call. */
  newField: boolean;
}

/** Options of `listExtendedFields`. */
export interface ListExtendedFieldsOptions extends CallOptions {
  /** Only fields of this type (`SYSTEM` or `USER_DEFINED`). */
  fieldType?: FieldType;
  /** Only fields in this namespace, e.g. `custom`. */
  namespace?: string | null;
  /** Only fields whose display name starts with this (case-sensitive). */
  startsWith?: string | null;
  /** Sort by `displayName`, `_createdDate` or `_updatedDate`. */
  sort?: Sorting<"displayName" | "_createdDate" | "_updatedDate">;
  /** Default `{ limit: 100, offset: 0 }`; at most 1000. */
  paging?: Paging;
}

/** The answer of `listExtendedFields`. */
export interface ListExtendedFieldsResponse {
  /** The fields of this page, system fields included. */
  fields: ExtendedField[];
  /** Paging metadata. */
  metadata: PagingMetadata;
}

/** An extended fields query builder. */
export type ExtendedFieldsQueryBuilder = QueryBuilder<ExtendedField, ExtendedFieldQueryField>;
/** A page of extended fields. */
export type ExtendedFieldsQueryResult = QueryResult<ExtendedField, ExtendedFieldsQueryBuilder>;

/** The extended fields module: `client.extendedFields`. */
export interface ExtendedFieldsModule {
  /**
   * Returns the custom field with this display name, or creates it (key `custom.<slug>`).
   * `dataType` is ignored when the field exists.
   *
   * @example
   * const { field, newField } = await extendedFields.findOrCreateExtendedField("Shoe size", "NUMBER");
   * // field.key === "custom.shoe-size"
   * @throws ResourceExhaustedError `FIELDS_QUOTA_EXCEEDED` beyond 100 custom fields
   */
  findOrCreateExtendedField(displayName: string, dataType: FieldDataType, options?: CallOptions): Promise<FindOrCreateExtendedFieldResponse>;
  /**
   * Returns a field by key.
   *
   * @example
   * const field = await extendedFields.getExtendedField("custom.shoe-size");
   * @throws NotFoundError `EXTENDED_FIELD_NOT_FOUND`
   */
  getExtendedField(key: string, options?: CallOptions): Promise<ExtendedField>;
  /**
   * Lists fields (system fields included), filtered, sorted and paged.
   *
   * @example
   * const { fields } = await extendedFields.listExtendedFields({ fieldType: "USER_DEFINED" });
   */
  listExtendedFields(options?: ListExtendedFieldsOptions): Promise<ListExtendedFieldsResponse>;
  /**
   * Starts an extended fields query. Defaults: `skip(0)`, `limit(50)`, `descending("_createdDate")`.
   *
   * @example
   * const { items } = await extendedFields.queryExtendedFields().eq("dataType", "NUMBER").find();
   */
  queryExtendedFields(): ExtendedFieldsQueryBuilder;
  /**
   * Renames a custom field; its key never changes.
   *
   * @example
   * const field = await extendedFields.renameExtendedField("custom.shoe-size", { displayName: "Shoe size (EU)" });
   * @throws FailedPreconditionError `SYSTEM_FIELD_READ_ONLY`
   */
  renameExtendedField(key: string, field: { displayName: string }, options?: CallOptions): Promise<ExtendedField>;
  /**
   * Deletes a custom field and every contact's value for it.
   *
   * @example
   * await extendedFields.deleteExtendedField("custom.shoe-size");
   */
  deleteExtendedField(key: string, options?: CallOptions): Promise<void>;
}

function fieldOf(message: Parameters<typeof toSdk>[1] | undefined): ExtendedField {
  if (!message) throw new Error("the server answered without an extended field");
  return toSdk<ExtendedField>(ExtendedFieldSchema, message);
}

/** Creates `client.extendedFields`. */
export function extendedFieldsModule(rt: Runtime): ExtendedFieldsModule {
  const client = createClient(ExtendedFieldsService, rt.transport);
  const ctx = rt.ctx;
  const field = tableField(EXTENDED_FIELD_FIELDS);

  return {
    async findOrCreateExtendedField(displayName, dataType, options) {
      requireString("findOrCreateExtendedField", "displayName", displayName);
      const type = enumToProto(FieldDataTypeSchema, dataType, "findOrCreateExtendedField(): dataType");
      const res = await runMutation(
        ctx,
        options,
        (requestId) => request(FindOrCreateExtendedFieldRequestSchema, { displayName, dataType: type, requestId }, "findOrCreateExtendedField"),
        (r, o) => client.findOrCreateExtendedField(r, o),
      );
      return { field: fieldOf(res.field), newField: res.newField };
    },

    async getExtendedField(key, options) {
      const req = request(GetExtendedFieldRequestSchema, { key: requireString("getExtendedField", "key", key) }, "getExtendedField");
      const res = await runRead(ctx, options, req, (r, o) => client.getExtendedField(r, o));
      return fieldOf(res.field);
    },

    async listExtendedFields(options) {
      const json: JsonObject = {};
      if (options?.fieldType !== undefined) json.fieldType = enumToProto(FieldTypeSchema, options.fieldType, "listExtendedFields(): options.fieldType");
      if (options?.namespace !== undefined && options.namespace !== null) json.namespace = options.namespace;
      if (options?.startsWith !== undefined && options.startsWith !== null) json.startsWith = options.startsWith;
      const sort = sortToWire("listExtendedFields", options?.sort, field);
      if (sort) json.sort = sort;
      if (options?.paging) json.paging = pagingToWire(options.paging);
      const req = request(ListExtendedFieldsRequestSchema, json, "listExtendedFields");
      const res = await runRead(ctx, options, req, (r, o) => client.listExtendedFields(r, o));
      return { fields: res.fields.map((f) => fieldOf(f)), metadata: pagingOf(res.metadata) };
    },

    queryExtendedFields() {
      return new QueryBuilder<ExtendedField, ExtendedFieldQueryField>({
        name: "queryExtendedFields()",
        field,
        fieldNames: Object.keys(EXTENDED_FIELD_FIELDS),
        maxSort: 1,
        maxLimit: 1000,
        async run(q, callOptions) {
          const req = request(
            QueryExtendedFieldsRequestSchema,
            { query: { ...(q.filter ? { filter: q.filter } : {}), sort: q.sort, paging: q.paging } },
            "queryExtendedFields",
          );
          const res = await runRead(ctx, callOptions, req, (r, o) => client.queryExtendedFields(r, o));
          return { items: res.fields.map((f) => fieldOf(f)), pagingMetadata: pagingOf(res.pagingMetadata) };
        },
      });
    },

    async renameExtendedField(key, fieldInfo, options) {
      requireString("renameExtendedField", "key", key);
      requireString("renameExtendedField", "field.displayName", fieldInfo?.displayName);
      const res = await runMutation(
        ctx,
        options,
        (requestId) => request(RenameExtendedFieldRequestSchema, { field: { key, displayName: fieldInfo.displayName }, requestId }, "renameExtendedField"),
        (r, o) => client.renameExtendedField(r, o),
      );
      return fieldOf(res.field);
    },

    async deleteExtendedField(key, options) {
      requireString("deleteExtendedField", "key", key);
      await runMutation(
        ctx,
        options,
        (requestId) => request(DeleteExtendedFieldRequestSchema, { key, requestId }, "deleteExtendedField"),
        (r, o) => client.deleteExtendedField(r, o),
      );
    },
  };
}
