import type { Caller } from "../domain/caller.js";
import { DomainError } from "../domain/errors.js";
import { ENTITY_FQDN } from "../domain/events.js";
import { CUSTOM_NAMESPACE, LABEL_LIMITS, type Label, type LabelType } from "../domain/labels.js";
import type { Page } from "../domain/paging.js";
import { type FieldSpec, fixedSchema, LABEL_QUERY_CODES } from "../domain/query.js";
import type { LabelRow } from "../store/tables.js";
import { labelFromRow, labelToRow } from "../store/labels.js";
import * as catalogService from "./catalog.js";
import type { CatalogKind, CatalogQuery } from "./catalog.js";
import type { ServiceDeps } from "./deps.js";
import type { MutationMeta } from "./mutation.js";

const LABEL_TYPES: readonly LabelType[] = ["SYSTEM", "USER_DEFINED", "WIX_APP_DEFINED"];
const TIMESTAMP_OPS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"] as const;

/** Label query fields and operators (reference §3.6). */
export const LABEL_FIELDS: readonly FieldSpec[] = [
  { path: "key", type: { kind: "string" }, operators: ["$eq", "$ne", "$in"], sortable: false },
  { path: "displayName", type: { kind: "string" }, operators: ["$eq", "$ne", "$in", "$startsWith"], sortable: true },
  { path: "createdDate", type: { kind: "timestamp" }, operators: TIMESTAMP_OPS, sortable: true },
  { path: "updatedDate", type: { kind: "timestamp" }, operators: TIMESTAMP_OPS, sortable: true },
  { path: "namespace", type: { kind: "string" }, operators: ["$eq", "$ne"], sortable: false },
  {
    path: "labelType",
    type: { kind: "enum", values: LABEL_TYPES, aliases: Object.fromEntries(LABEL_TYPES.map((t) => [`LABEL_TYPE_${t}`, t])) },
    operators: ["$eq"],
    sortable: false,
  },
];

export const labelSchema = fixedSchema(LABEL_FIELDS, LABEL_QUERY_CODES, 100);

export const labelKind: CatalogKind<Label, LabelRow> = {
  table: "labels",
  noun: "label",
  fqdn: ENTITY_FQDN.label,
  events: { created: "label_created", updated: "label_updated", deleted: "label_deleted" },
  payload: (label) => ({ kind: "label", label }),
  toRow: labelToRow,
  fromRow: labelFromRow,
  isSystem: (label) => label.labelType === "SYSTEM",
  keyMax: LABEL_LIMITS.keyMax,
  reasons: { notFound: "LABEL_NOT_FOUND", readOnly: "SYSTEM_LABEL_READ_ONLY", duplicateName: "LABEL_NAME_TAKEN" },
  quota: (deps) => deps.config.labelsQuota,
  quotaError: (quota, current) =>
    new DomainError("resource_exhausted", "LABELS_QUOTA_REACHED", `the tenant already has ${current} of ${quota} custom labels`, {
      labelsQuota: String(quota),
      labelsCurrentTotal: String(current),
    }),
  cleanupKind: "label",
  schema: labelSchema,
  columns: {
    key: { column: "key" },
    displayName: { column: "display_name", lowerColumn: "name_key" },
    // ListLabels' `starts_with` is case-sensitive (reference §3.1), unlike the query's $startsWith.
    "displayName#exact": { column: "display_name" },
    createdDate: { column: "created_at" },
    updatedDate: { column: "updated_at" },
    namespace: { column: "namespace" },
    labelType: { column: "label_type" },
  },
  defaultSort: [{ field: LABEL_FIELDS[2] as FieldSpec, descending: true }],
};

export function findOrCreateLabel(deps: ServiceDeps, caller: Caller, displayName: string, meta: MutationMeta) {
  return catalogService.findOrCreate(deps, labelKind, caller, displayName, meta, (key, now) => ({
    namespace: CUSTOM_NAMESPACE.namespace,
    namespaceDisplayName: CUSTOM_NAMESPACE.displayName,
    key,
    displayName,
    // Reference §1.3: created by a user or a 3rd-party app alike; only the built-in ones are SYSTEM.
    labelType: "USER_DEFINED" as LabelType,
    createdDate: now,
    updatedDate: now,
  }));
}

export function getLabel(deps: ServiceDeps, caller: Caller, key: string): Promise<Label> {
  return catalogService.get(deps, labelKind, caller, key);
}

export function queryLabels(deps: ServiceDeps, caller: Caller, q: CatalogQuery): Promise<Page<Label>> {
  return catalogService.query(deps, labelKind, caller, q);
}

export function renameLabel(deps: ServiceDeps, caller: Caller, key: string, displayName: string, meta: MutationMeta) {
  return catalogService.rename(deps, labelKind, caller, key, displayName, meta);
}

export function deleteLabel(deps: ServiceDeps, caller: Caller, key: string, meta: MutationMeta): Promise<void> {
  return catalogService.remove(deps, labelKind, caller, key, meta);
}
