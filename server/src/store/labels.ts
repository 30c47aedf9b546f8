import type { Label, LabelType } from "../domain/labels.js";
import { nameKey } from "../domain/slug.js";
import type { LabelRow } from "./tables.js";

export function labelToRow(tenantId: string, label: Label): LabelRow {
  return {
    tenant_id: tenantId,
    key: label.key,
    namespace: label.namespace,
    namespace_display_name: label.namespaceDisplayName,
    display_name: label.displayName,
    name_key: nameKey(label.displayName),
    label_type: label.labelType,
    created_at: label.createdDate?.getTime() ?? 0,
    updated_at: label.updatedDate?.getTime() ?? 0,
  };
}

export function labelFromRow(row: LabelRow): Label {
  const created = Number(row.created_at);
  const updated = Number(row.updated_at);
  return {
    namespace: row.namespace,
    namespaceDisplayName: row.namespace_display_name,
    key: row.key,
    displayName: row.display_name,
    labelType: row.label_type as LabelType,
    ...(created ? { createdDate: new Date(created) } : {}),
    ...(updated ? { updatedDate: new Date(updated) } : {}),
  };
}
