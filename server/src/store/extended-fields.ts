import type { ExtendedField, FieldDataType, FieldType } from "../domain/extended-fields.js";
import { nameKey } from "../domain/slug.js";
import type { ExtendedFieldRow } from "./tables.js";

export function extendedFieldToRow(tenantId: string, field: ExtendedField): ExtendedFieldRow {
  return {
    tenant_id: tenantId,
    key: field.key,
    namespace: field.namespace,
    display_name: field.displayName,
    name_key: nameKey(field.displayName),
    data_type: field.dataType,
    field_type: field.fieldType,
    description: field.description ?? null,
    created_at: field.createdDate?.getTime() ?? 0,
    updated_at: field.updatedDate?.getTime() ?? 0,
  };
}

export function extendedFieldFromRow(row: ExtendedFieldRow): ExtendedField {
  const created = Number(row.created_at);
  const updated = Number(row.updated_at);
  return {
    namespace: row.namespace,
    key: row.key,
    displayName: row.display_name,
    dataType: row.data_type as FieldDataType,
    fieldType: row.field_type as FieldType,
    ...(created ? { createdDate: new Date(created) } : {}),
    ...(updated ? { updatedDate: new Date(updated) } : {}),
    ...(row.description ? { description: row.description } : {}),
  };
}
