import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  DeleteExtendedFieldRequestSchema,
  DeleteExtendedFieldResponseSchema,
  type ExtendedField as ExtendedFieldProto,
  ExtendedFieldSchema,
  type ExtendedFieldsService,
  FieldDataType,
  FieldType,
  FindOrCreateExtendedFieldRequestSchema,
  FindOrCreateExtendedFieldResponseSchema,
  GetExtendedFieldResponseSchema,
  ListExtendedFieldsResponseSchema,
  QueryExtendedFieldsResponseSchema,
  RenameExtendedFieldRequestSchema,
  RenameExtendedFieldResponseSchema,
} from "../../../gen/contacts/v1/extended_fields_service_pb.js";
import { invalidField } from "../domain/errors.js";
import { type ExtendedField, FIELD_LIMITS, type FieldDataType as DomainDataType } from "../domain/extended-fields.js";
import { validateDisplayName, validateKey } from "../domain/labels.js";
import { type FieldSpec, parseFilter, parseSort, type PagingRules } from "../domain/query.js";
import type { ServiceDeps } from "../services/deps.js";
import * as fields from "../services/extended-fields.js";
import { catalogListFilter } from "./catalog-list.js";
import { callerOf, depsFor } from "./context.js";
import { mutationMeta, pageSpec, pagingMetadata, sortEntries, timestamp } from "./common.js";

export const FIELD_PAGING: PagingRules = { defaultLimit: 100, maxLimit: 1000, overMax: "coerce" };

export function extendedFieldToProto(field: ExtendedField): ExtendedFieldProto {
  return create(ExtendedFieldSchema, {
    namespace: field.namespace,
    key: field.key,
    displayName: field.displayName,
    dataType: FieldDataType[field.dataType],
    fieldType: FieldType[field.fieldType],
    createdDate: timestamp(field.createdDate),
    updatedDate: timestamp(field.updatedDate),
    description: field.description ?? "",
  });
}

const fieldTypeField = fields.FIELD_FIELDS.find((f) => f.path === "fieldType") as FieldSpec;

function dataTypeOf(value: FieldDataType): DomainDataType | undefined {
  if (value === FieldDataType.UNSPECIFIED) return undefined;
  const name = FieldDataType[value] as DomainDataType | undefined;
  if (name === undefined) throw invalidField("INVALID_DATA_TYPE", "data_type", `unknown data type ${value}`);
  return name;
}

export function extendedFieldsHandlers(deps: ServiceDeps): ServiceImpl<typeof ExtendedFieldsService> {
  const schema = fields.fieldSchema;
  return {
    async findOrCreateExtendedField(req, ctx) {
      const displayName = validateDisplayName(req.displayName, "display_name", FIELD_LIMITS.displayNameMax);
      const dataType = dataTypeOf(req.dataType);
      const meta = mutationMeta(ctx, FindOrCreateExtendedFieldRequestSchema, req);
      const { entity, created } = await fields.findOrCreateExtendedField(depsFor(deps, ctx), callerOf(ctx), displayName, dataType, meta);
      return create(FindOrCreateExtendedFieldResponseSchema, { field: extendedFieldToProto(entity), newField: created });
    },

    async getExtendedField(req, ctx) {
      validateKey(req.key, "key", FIELD_LIMITS.keyMax);
      const field = await fields.getExtendedField(depsFor(deps, ctx), callerOf(ctx), req.key);
      return create(GetExtendedFieldResponseSchema, { field: extendedFieldToProto(field) });
    },

    async listExtendedFields(req, ctx) {
      const filters = catalogListFilter(req, schema, FIELD_LIMITS.displayNameMax);
      if (req.fieldType !== undefined && req.fieldType !== FieldType.UNSPECIFIED) {
        if (FieldType[req.fieldType] === undefined) throw invalidField("INVALID_FIELD_TYPE", "field_type", `unknown field type ${req.fieldType}`);
        filters.push({ kind: "compare", field: fieldTypeField, op: "$eq", value: FieldType[req.fieldType] });
      }
      const sorts = parseSort(req.sort ? sortEntries([req.sort]) : [], schema, "sort");
      const page = pageSpec(req.paging ? { case: "paging", value: req.paging } : { case: undefined }, FIELD_PAGING, schema.codes, "");
      const result = await fields.queryExtendedFields(depsFor(deps, ctx), callerOf(ctx), {
        filter: { kind: "and", filters },
        sorts,
        page,
        cursorField: "",
      });
      return create(ListExtendedFieldsResponseSchema, {
        fields: result.items.map(extendedFieldToProto),
        metadata: pagingMetadata(result.page),
      });
    },

    async queryExtendedFields(req, ctx) {
      const query = req.query;
      const filter = parseFilter(query?.filter, schema);
      const sorts = parseSort(sortEntries(query?.sort ?? []), schema);
      const page = pageSpec(query?.pagingMethod ?? { case: undefined }, FIELD_PAGING, schema.codes, "query");
      const result = await fields.queryExtendedFields(depsFor(deps, ctx), callerOf(ctx), {
        filter,
        sorts,
        page,
        cursorField: "query.cursor_paging.cursor",
      });
      return create(QueryExtendedFieldsResponseSchema, {
        fields: result.items.map(extendedFieldToProto),
        pagingMetadata: pagingMetadata(result.page),
      });
    },

    async renameExtendedField(req, ctx) {
      if (!req.field) throw invalidField("INVALID_FIELD", "field", "is required");
      validateKey(req.field.key, "field.key", FIELD_LIMITS.keyMax);
      const displayName = validateDisplayName(req.field.displayName, "field.display_name", FIELD_LIMITS.displayNameMax);
      const meta = mutationMeta(ctx, RenameExtendedFieldRequestSchema, req);
      const field = await fields.renameExtendedField(depsFor(deps, ctx), callerOf(ctx), req.field.key, displayName, meta);
      return create(RenameExtendedFieldResponseSchema, { field: extendedFieldToProto(field) });
    },

    async deleteExtendedField(req, ctx) {
      validateKey(req.key, "key", FIELD_LIMITS.keyMax);
      const meta = mutationMeta(ctx, DeleteExtendedFieldRequestSchema, req);
      await fields.deleteExtendedField(depsFor(deps, ctx), callerOf(ctx), req.key, meta);
      return create(DeleteExtendedFieldResponseSchema, {});
    },
  };
}
