import { invalidField } from "../domain/errors.js";
import type { FieldSpec, Filter, QuerySchema } from "../domain/query.js";

const NAMESPACE = { min: 3, max: 25 };

/**
 * The simple filters of ListLabels and ListExtendedFields (`namespace`, case-sensitive
 * `starts_with`) as query-language filters, validated like the reference does.
 */
export function catalogListFilter(req: { namespace?: string; startsWith?: string }, schema: QuerySchema, displayNameMax: number): Filter[] {
  const filters: Filter[] = [];
  if (req.namespace !== undefined) {
    const n = [...req.namespace].length;
    if (n < NAMESPACE.min || n > NAMESPACE.max) {
      throw invalidField("INVALID_NAMESPACE", "namespace", `must be ${NAMESPACE.min}–${NAMESPACE.max} characters`);
    }
    filters.push({ kind: "compare", field: schema.field("namespace") as FieldSpec, op: "$eq", value: req.namespace });
  }
  if (req.startsWith !== undefined) {
    const n = [...req.startsWith].length;
    if (n < 1 || n > displayNameMax) {
      throw invalidField("INVALID_STARTS_WITH", "starts_with", `must be 1–${displayNameMax} characters`);
    }
    // A pseudo-field mapped to the display name itself, not its lower-cased copy: case-sensitive.
    const exact: FieldSpec = { path: "displayName#exact", type: { kind: "string" }, operators: ["$startsWith"], sortable: false };
    filters.push({ kind: "startsWith", field: exact, prefix: req.startsWith });
  }
  return filters;
}
