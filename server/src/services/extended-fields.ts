import type { Caller } from "../domain/caller.js";
import { DomainError } from "../domain/errors.js";
import { ENTITY_FQDN } from "../domain/events.js";
import { type ExtendedField, FIELD_LIMITS, type FieldDataType, type FieldType } from "../domain/extended-fields.js";
import type { Page } from "../domain/paging.js";
import { type FieldSpec, fixedSchema, LABEL_QUERY_CODES } from "../domain/query.js";
import { extendedFieldFromRow, extendedFieldToRow } from "../store/extended-fields.js";
import type { ExtendedFieldRow } from "../store/tables.js";
import * as catalogService from "./catalog.js";
import type { CatalogKind, CatalogQuery } from "./catalog.js";
import type { ServiceDeps } from "./deps.js";
import type { MutationMeta } from "./mutation.js";

const DATA_TYPES: readonly FieldDataType[] = ["TEXT", "NUMBER", "DATE", "URL"];
const FIELD_TYPES: readonly FieldType[] = ["SYSTEM", "USER_DEFINED"];
const TIMESTAMP_OPS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"] as const;

function enumType(values: readonly string[], protoPrefix: string) {
  return { kind: "enum" as const, values, aliases: Object.fromEntries(values.map((v) => [`${protoPrefix}${v}`, v])) };
}

/** Extended field query fields and operators (reference §4). */
export const FIELD_FIELDS: readonly FieldSpec[] = [
  { path: "key", type: { kind: "string" }, operators: ["$eq", "$ne", "$in"], sortable: false },
  { path: "displayName", type: { kind: "string" }, operators: ["$eq", "$ne", "$in", "$startsWith"], sortable: true },
  { path: "createdDate", type: { kind: "timestamp" }, operators: TIMESTAMP_OPS, sortable: true },
  { path: "updatedDate", type: { kind: "timestamp" }, operators: TIMESTAMP_OPS, sortable: true },
  { path: "namespace", type: { kind: "string" }, operators: ["$eq", "$ne"], sortable: false },
  { path: "dataType", type: enumType(DATA_TYPES, "FIELD_DATA_TYPE_"), operators: ["$eq", "$ne"], sortable: false },
  { path: "fieldType", type: enumType(FIELD_TYPES, "FIELD_TYPE_"), operators: ["$eq"], sortable: false },
];

export const fieldSchema = fixedSchema(FIELD_FIELDS, LABEL_QUERY_CODES, 1);

export const fieldKind: CatalogKind<ExtendedField, ExtendedFieldRow> = {
  table: "extended_fields",
  noun: "extended field",
  fqdn: ENTITY_FQDN.extendedField,
  events: { created: "extended_field_created", updated: "extended_field_updated", deleted: "extended_field_deleted" },
  payload: (field) => ({ kind: "extendedField", field }),
  toRow: extendedFieldToRow,
  fromRow: extendedFieldFromRow,
  isSystem: (field) => field.fieldType === "SYSTEM",
  keyMax: FIELD_LIMITS.keyMax,
  reasons: {
    notFound: "EXTENDED_FIELD_NOT_FOUND",
    readOnly: "SYSTEM_FIELD_READ_ONLY",
    duplicateName: "EXTENDED_FIELD_NAME_TAKEN",
  },
  quota: (deps) => deps.config.fieldsQuota,
  quotaError: (quota, current) =>
    new DomainError("resource_exhausted", "FIELDS_QUOTA_EXCEEDED", `the tenant already has ${current} of ${quota} custom extended fields`, {
      fieldsQuota: String(quota),
      fieldsCurrentTotal: String(current),
    }),
  cleanupKind: "field",
  schema: fieldSchema,
  columns: {
    key: { column: "key" },
    displayName: { column: "display_name", lowerColumn: "name_key" },
    "displayName#exact": { column: "display_name" },
    createdDate: { column: "created_at" },
    updatedDate: { column: "updated_at" },
    namespace: { column: "namespace" },
    dataType: { column: "data_type" },
    fieldType: { column: "field_type" },
  },
  defaultSort: [{ field: FIELD_FIELDS[2] as FieldSpec, descending: true }],
};

/**
 * Finds the field by display name or creates it. `dataType` is needed only to create; the
 * caller passes undefined when the request had none, and gets an error only if a field would be
 * created.
 */
export function findOrCreateExtendedField(deps: ServiceDeps, caller: Caller, displayName: string, dataType: FieldDataType | undefined, meta: MutationMeta) {
  return catalogService.findOrCreate(deps, fieldKind, caller, displayName, meta, (key, now) => {
    if (!dataType) {
      throw new DomainError("invalid_argument", "INVALID_DATA_TYPE", "data_type: is required to create a field", {}, [
        { field: "data_type", description: "is required to create a field" },
      ]);
    }
    return {
      namespace: "custom",
      key,
      displayName,
      dataType,
      fieldType: "USER_DEFINED" as const,
      createdDate: now,
      updatedDate: now,
    };
  });
}

export function getExtendedField(deps: ServiceDeps, caller: Caller, key: string): Promise<ExtendedField> {
  return catalogService.get(deps, fieldKind, caller, key);
}

export function queryExtendedFields(deps: ServiceDeps, caller: Caller, q: CatalogQuery): Promise<Page<ExtendedField>> {
  return catalogService.query(deps, fieldKind, caller, q);
}

export function renameExtendedField(deps: ServiceDeps, caller: Caller, key: string, displayName: string, meta: MutationMeta) {
  return catalogService.rename(deps, fieldKind, caller, key, displayName, meta);
}

export function deleteExtendedField(deps: ServiceDeps, caller: Caller, key: string, meta: MutationMeta): Promise<void> {
  return catalogService.remove(deps, fieldKind, caller, key, meta);
}
