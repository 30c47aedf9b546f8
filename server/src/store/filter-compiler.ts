/**
 * The one filter compiler: compiles query filters to SQL — contact queries (domain/contact-query.ts)
 * over the `contacts` row (alias `c`) and its index tables, and the labels' and extended fields'
 * queries over their own columns (store/catalog.ts, "column" targets). Each field path's SQL,
 * and what the planner knows of it, is its target here (TARGETS). Every subquery names the tenant. Text compares exactly on the column as
 * sent, with the indexed lower-case key alongside so the index does the work; `$startsWith`
 * compares lower-case prefixes; list fields match when any element does (`$ne`/`$nin`: when
 * none does).
 */
import type { Knex } from "knex";
import { emailKey } from "../domain/contact-info.js";
import { type ContactField, extendedFieldKeyOf } from "../domain/contact-query.js";
import type { ExtendedField } from "../domain/extended-fields.js";
import type { Filter, Scalar, Sort } from "../domain/query.js";
import { type NameField, SORT_KEY_LENGTH, sortKey } from "./contact-index.js";
import { likeEscape, whereStartsWith } from "./db.js";

/**
 * A text field's columns: as sent, lower-cased, the indexed sort key, and where there is one an
 * indexed copy of the start of the value as sent (`exact`, null exactly when `raw` is).
 */
type Text = { raw: string; lc: string; key: string; exact?: string };
export type Target =
  /**
   * `namePrefix`: which name's starts contact_name_prefixes holds (migration 011), and whose
   * name+created index holds its contacts in creation order per name (migration 004).
   * `equalityThenSort`: the sort (a path) that this field's exact index continues with, so that
   * equality on it is read off that index in page order (migration 007).
   */
  | { kind: "text"; cols: Text; namePrefix?: NameField; equalityThenSort?: string }
  | { kind: "plain"; col: string }
  | { kind: "expr"; sql: string }
  | { kind: "nameExists" }
  | { kind: "list"; table: string; cols: Text }
  | { kind: "has"; table: string; col: string }
  | { kind: "custom"; key: string; def: ExtendedField["dataType"] }
  /**
   * A catalog column, by name (labels, extended fields: store/catalog.ts): compared as stored;
   * `$startsWith` on `lower` (lower-cased) when there is one; `zeroIsNone`: a 0 there means
   * "no date" (system labels and fields), which no comparison matches.
   */
  | { kind: "column"; col: string; lower?: string; zeroIsNone?: boolean };

const same = (col: string): Text => ({ raw: col, lc: col, key: col });
const triple = (col: string): Text => ({ raw: `c.${col}`, lc: `c.${col}_lc`, key: `c.${col}_key` });
const EMAIL_STATUS = "(case when c.primary_email is null then null else 'NOT_SET' end)";
const PHONE_STATUS = "(case when c.primary_phone is null then null when c.primary_phone_e164 is null then 'NO_SUBSCRIPTION_STATUS' else 'NOT_SET' end)";

/** domain/contacts.ts membershipStatus, in SQL. */
const MEMBERSHIP_STATUS =
  "(case c.member_status when 'MEMBER_STATUS_PENDING' then 'PENDING' when 'MEMBER_STATUS_BLOCKED' then 'DENIED' " +
  "when 'MEMBER_STATUS_OFFLINE' then 'INACTIVE' when 'MEMBER_STATUS_DELETED' then 'INACTIVE' " +
  "else (case when c.member_status is null then null else 'APPROVED' end) end)";

const TARGETS: Record<string, Target> = {
  id: { kind: "plain", col: "c.id" },
  createdDate: { kind: "plain", col: "c.created_at" },
  updatedDate: { kind: "plain", col: "c.updated_at" },
  "lastActivity.activityDate": { kind: "plain", col: "c.last_activity_at" },
  "primaryInfo.email": { kind: "text", cols: triple("primary_email") },
  "primaryEmail.email": { kind: "text", cols: triple("primary_email") },
  "primaryEmail.subscriptionStatus": { kind: "expr", sql: EMAIL_STATUS },
  "primaryEmail.deliverabilityStatus": { kind: "expr", sql: EMAIL_STATUS },
  "primaryInfo.phone": { kind: "text", cols: { raw: "c.primary_phone", lc: "c.primary_phone_lc", key: "c.primary_phone_lc" } },
  "primaryPhone.phone": { kind: "text", cols: { raw: "c.primary_phone", lc: "c.primary_phone_lc", key: "c.primary_phone_lc" } },
  "primaryPhone.e164Phone": { kind: "text", cols: same("c.primary_phone_e164") },
  "primaryPhone.formattedPhone": {
    kind: "text",
    cols: { raw: "c.primary_phone_formatted", lc: "c.primary_phone_formatted_key", key: "c.primary_phone_formatted_key" },
  },
  "primaryPhone.countryCode": {
    kind: "text",
    cols: { raw: "c.primary_phone_country", lc: "c.primary_phone_country_key", key: "c.primary_phone_country_key" },
  },
  "primaryPhone.subscriptionStatus": { kind: "expr", sql: PHONE_STATUS },
  "info.name.first": { kind: "text", cols: triple("first_name"), namePrefix: "first" },
  "info.name.last": { kind: "text", cols: triple("last_name"), namePrefix: "last" },
  "info.company": { kind: "text", cols: { ...triple("company"), exact: "c.company_exact" }, equalityThenSort: "info.name.first" },
  "info.jobTitle": { kind: "text", cols: triple("job_title") },
  "info.birthdate": { kind: "plain", col: "c.birthdate" },
  "info.locale": { kind: "text", cols: same("c.locale") },
  "info.emails.email": { kind: "list", table: "contact_emails", cols: same("email_key") },
  "info.phones.phone": { kind: "list", table: "contact_phones", cols: { raw: "phone", lc: "phone_lc", key: "phone_lc" } },
  "info.phones.e164Phone": { kind: "list", table: "contact_phones", cols: same("e164") },
  "info.addresses.street": { kind: "list", table: "contact_addresses", cols: { raw: "street", lc: "street_lc", key: "street_key" } },
  "info.addresses.city": { kind: "list", table: "contact_addresses", cols: { raw: "city", lc: "city_lc", key: "city_key" } },
  "info.addresses.subdivision": { kind: "list", table: "contact_addresses", cols: same("subdivision") },
  "info.addresses.country": { kind: "list", table: "contact_addresses", cols: same("country") },
  "info.labelKeys": { kind: "has", table: "contact_labels", col: "label_key" },
  "info.locations": { kind: "has", table: "contact_locations", col: "location_id" },
  "info.extendedFields.contacts.displayByFirstName": { kind: "nameExists" },
  "info.extendedFields.emailSubscriptions.subscriptionStatus": { kind: "expr", sql: EMAIL_STATUS },
  "info.extendedFields.emailSubscriptions.deliverabilityStatus": { kind: "expr", sql: EMAIL_STATUS },
  "info.extendedFields.emailSubscriptions.effectiveEmail": { kind: "text", cols: triple("primary_email") },
  "info.extendedFields.members.membershipStatus": { kind: "expr", sql: MEMBERSHIP_STATUS },
};

/** Whether a fixed query path has its SQL here (test/field-registry.test.ts checks every one does). */
export function hasSqlTarget(path: string): boolean {
  return TARGETS[path] !== undefined;
}

/** The name (first, last) whose starts a path's `$startsWith` may read off contact_name_prefixes. */
export function namePrefixOf(path: string): NameField | undefined {
  const t = TARGETS[path];
  return t?.kind === "text" ? t.namePrefix : undefined;
}

/** The sort (a path) whose order the exact index of a path continues with, if any. */
export function equalityThenSortOf(path: string): string | undefined {
  const t = TARGETS[path];
  return t?.kind === "text" ? t.equalityThenSort : undefined;
}

/**
 * The contacts index that returns rows in the order of a sort column (migration 002), by column.
 * A selective query must not walk it to skip sorting (store/contact-queries.ts).
 */
const SORT_INDEX: Readonly<Record<string, string>> = {
  "c.created_at": "contacts_created_idx",
  "c.updated_at": "contacts_updated_idx",
  "c.last_activity_at": "contacts_activity_idx",
  "c.first_name_key": "contacts_first_name_idx",
  "c.last_name_key": "contacts_last_name_idx",
  "c.company_key": "contacts_company_idx",
  "c.job_title_key": "contacts_job_title_idx",
  "c.primary_email_key": "contacts_primary_email_idx",
  "c.birthdate": "contacts_birthdate_idx",
  "c.primary_phone_formatted_key": "contacts_primary_formatted_idx",
  "c.primary_phone_country_key": "contacts_primary_country_idx",
};

function target(field: ContactField, customTypes: ReadonlyMap<string, ExtendedField["dataType"]>): Target {
  const fixed = TARGETS[field.path];
  if (fixed) return fixed;
  const key = extendedFieldKeyOf(field.path);
  const def = key ? customTypes.get(key) : undefined;
  if (!key || !def) throw new Error(`no SQL for contact query field ${field.path}`);
  return { kind: "custom", key, def };
}

/** Emails compare case-insensitively: filter values are normalised like the stored keys. */
function norm(field: ContactField, v: Scalar): Scalar {
  return field.text === "email" && typeof v === "string" ? emailKey(v) : v;
}

/**
 * `col in (values)`, exactly. MariaDB's utf8mb4_bin is a PAD SPACE collation: there 'a' = 'a ',
 * so string values are also compared as bytes (NO PAD); `col in (…)` stays for the index.
 */
function exactIn(qb: Knex.QueryBuilder, col: string, values: readonly Scalar[]): void {
  qb.whereIn(qb.client.raw(col), [...values]);
  const strings = values.filter((v): v is string => typeof v === "string");
  if (strings.length > 0 && qb.client.config.client === "mysql2") {
    qb.whereRaw(`cast(${col} as binary) in (${strings.map(() => "?").join(", ")})`, strings);
  }
}

/** A text condition on (raw, lc, key) columns, positive form (no negation). */
function textCondition(qb: Knex.QueryBuilder, cols: Text, op: "$eq" | "$in" | "$startsWith", values: Scalar[]): void {
  if (op === "$startsWith") {
    const lp = String(values[0]).toLowerCase();
    // A missing value must fail the condition outright (not be unknown), so that `$not` holds
    // for it. Say so on the indexed key where that is enough (a triple's key is '' when the
    // value is missing, which no non-empty prefix matches): the count reads the index alone.
    qb.whereRaw(`${lp === "" ? cols.raw : cols.key} is not null`);
    if (cols.lc === cols.key) {
      // The column is the whole lower-case text (emails, phones, codes): compare the whole prefix.
      whereStartsWith(qb, cols.key, lp);
      return;
    }
    // The key holds only the start of the text: it narrows by the part of the prefix every key
    // holds, and a longer prefix is checked on the full text.
    const head = keyHead(lp);
    if (head) whereStartsWith(qb, cols.key, head);
    if (lp.length > head.length) qb.whereRaw(`${cols.lc} is not null and ${cols.lc} like ? escape '!'`, [`${likeEscape(lp)}%`]);
    return;
  }
  const strings = values.map(String);
  if (cols.exact) {
    // The exact column holds the first SORT_KEY_LENGTH characters: equal to a shorter value
    // only when the whole text is; a longer value is also compared in full.
    exactIn(qb, cols.exact, [...new Set(strings.map(sortKey))]);
    if (strings.some((v) => [...v].length >= SORT_KEY_LENGTH)) exactIn(qb, cols.raw, strings);
    return;
  }
  if (cols.key !== cols.raw) qb.whereIn(qb.client.raw(cols.key), [...new Set(strings.flatMap((v) => keysOf(v.toLowerCase())))]);
  exactIn(qb, cols.raw, strings);
}

/**
 * The sort key of a lower-case text: its first SORT_KEY_LENGTH characters (code points, as
 * domain/contact-query.ts `textSortKey` says). A store that still cuts at UTF-16 units keys
 * differently only when a pair straddles the cut, so `$eq` accepts either key.
 */
function keysOf(lc: string): string[] {
  const units = lc.slice(0, SORT_KEY_LENGTH);
  const points = [...lc].slice(0, SORT_KEY_LENGTH).join("");
  return units === points ? [units] : [units, points];
}

/** The longest start of `lc` that every key of a text starting with `lc` starts with. */
function keyHead(lc: string): string {
  const head = lc.slice(0, SORT_KEY_LENGTH);
  const last = head.charCodeAt(head.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? head.slice(0, -1) : head;
}

/** `c.id in (select contact_id from <table> where tenant_id = ? and …)`. */
function inTable(qb: Knex.QueryBuilder, db: Knex, tenantId: string, table: string, negate: boolean, where: (sub: Knex.QueryBuilder) => void): void {
  const sub = db(table).select("contact_id").where(`${table}.tenant_id`, tenantId);
  where(sub);
  if (negate) qb.whereNotIn("c.id", sub);
  else qb.whereIn("c.id", sub);
}

export interface CompileContext {
  db: Knex;
  tenantId: string;
  /** Where a field lives, for queries on other tables than contacts (default: the contact targets). */
  targetOf?: (field: ContactField) => Target;
  /** Data types of the tenant's custom extended fields, by key. */
  customTypes: ReadonlyMap<string, ExtendedField["dataType"]>;
  /**
   * Deleted labels still being removed from contacts: their contact_labels rows count for no
   * condition (conditions that name one are rewritten before: domain/contact-query.ts
   * withoutStrippedLabels).
   */
  strippedLabels?: ReadonlySet<string>;
}

/** SQL of the comparison operators (the filter compiler's and the query planner's). */
export const CMP = { $eq: "=", $gt: ">", $gte: ">=", $lt: "<", $lte: "<=" } as const;

export function applyContactFilter(qb: Knex.QueryBuilder, filter: Filter, cx: CompileContext): void {
  switch (filter.kind) {
    case "and":
      // `{}` matches everything. Knex drops an empty group, which is right on its own but not
      // under `$not` or among `$or` alternatives: say it.
      if (filter.filters.length === 0) qb.whereRaw("1 = 1");
      for (const f of filter.filters) qb.where((sub) => applyContactFilter(sub, f, cx));
      return;
    case "or":
      if (filter.filters.length === 0) qb.whereRaw("1 = 0");
      qb.where((outer) => {
        for (const f of filter.filters) outer.orWhere((sub) => applyContactFilter(sub, f, cx));
      });
      return;
    case "not":
      qb.whereNot((sub) => applyContactFilter(sub, filter.filter, cx));
      return;
    default:
      applyCondition(qb, filter, cx);
  }
}

type Condition = Exclude<Filter, { kind: "and" | "or" | "not" }>;

function applyCondition(qb: Knex.QueryBuilder, f: Condition, cx: CompileContext): void {
  const field = f.field as ContactField;
  const t = cx.targetOf ? cx.targetOf(field) : target(field, cx.customTypes);
  // A negation is "not (the positive condition)". Positive conditions are two-valued (a NULL
  // column makes them false, never unknown), so for SQL as for the domain a missing value is
  // "not equal", and `$not` works on missing values too; for lists it means "no element matches".
  if (f.kind === "compare" && f.op === "$ne") {
    qb.whereNot((sub) => applyPositive(sub, { ...f, op: "$eq" }, field, t, cx));
  } else if (f.kind === "in" && f.negate) {
    qb.whereNot((sub) => applyPositive(sub, { ...f, negate: false }, field, t, cx));
  } else {
    applyPositive(qb, f, field, t, cx);
  }
}

function applyPositive(qb: Knex.QueryBuilder, f: Condition, field: ContactField, t: Target, cx: CompileContext): void {
  const values = (vs: Scalar[]) => vs.map((v) => norm(field, v));
  switch (t.kind) {
    case "text":
    case "plain":
    case "expr": {
      const col = t.kind === "text" ? t.cols.raw : t.kind === "plain" ? t.col : t.sql;
      // A column that is null exactly when the value is missing, indexed where there is one.
      const present = t.kind === "text" ? (t.cols.exact ?? col) : col;
      if (f.kind === "exists") {
        qb.whereRaw(`${present} is ${f.exists ? "not " : ""}null`);
        return;
      }
      if (f.kind === "startsWith") {
        // textCondition says "not missing" itself, on the indexed key where it can.
        if (t.kind !== "text") throw new Error(`$startsWith on ${field.path}`);
        textCondition(qb, t.cols, "$startsWith", [f.prefix]);
        return;
      }
      qb.whereRaw(`${present} is not null`);
      if (f.kind === "in" || (f.kind === "compare" && f.op === "$eq")) {
        const vs = values(f.kind === "in" ? f.values : [f.value]);
        if (t.kind === "text") textCondition(qb, t.cols, "$in", vs);
        else exactIn(qb, col, vs);
      } else if (f.kind === "compare") {
        qb.whereRaw(`${col} ${CMP[f.op as keyof typeof CMP]} ?`, [norm(field, f.value)]);
      } else {
        throw new Error(`${f.kind} on ${field.path}`);
      }
      return;
    }
    case "column": {
      if (f.kind === "startsWith") {
        whereStartsWith(qb, t.lower ?? t.col, t.lower ? f.prefix.toLowerCase() : f.prefix);
        return;
      }
      // A column name, quoted (a catalog table has a column named `key`, a reserved word).
      const col = qb.client.raw("??", [t.col]).toQuery();
      if (f.kind === "exists") {
        qb.whereRaw(`${col} is ${f.exists ? "not " : ""}null`);
        return;
      }
      qb.whereRaw(`${col} is not null`);
      if (t.zeroIsNone && f.kind === "compare") qb.whereRaw(`${col} <> 0`);
      if (f.kind === "in" || (f.kind === "compare" && f.op === "$eq")) {
        exactIn(qb, col, f.kind === "in" ? f.values : [f.value]);
      } else if (f.kind === "compare") {
        qb.whereRaw(`${col} ${CMP[f.op as keyof typeof CMP]} ?`, [f.value]);
      } else {
        throw new Error(`${f.kind} on ${field.path}`);
      }
      return;
    }
    case "nameExists":
      if (f.kind !== "exists") throw new Error(`${f.kind} on ${field.path}`);
      if (f.exists) qb.where((sub) => sub.whereNotNull("c.first_name").orWhereNotNull("c.last_name"));
      else qb.whereNull("c.first_name").whereNull("c.last_name");
      return;
    case "has": {
      if (f.kind === "exists") {
        const stripped = t.table === "contact_labels" ? [...(cx.strippedLabels ?? [])] : [];
        inTable(qb, cx.db, cx.tenantId, t.table, !f.exists, (sub) => {
          if (stripped.length > 0) sub.whereNotIn(t.col, stripped);
        });
        return;
      }
      if (f.kind !== "has") throw new Error(`${f.kind} on ${field.path}`);
      const keys = f.values.map(String);
      if (!f.all) {
        inTable(qb, cx.db, cx.tenantId, t.table, false, (sub) => exactIn(sub, t.col, keys));
      } else {
        for (const key of new Set(keys)) inTable(qb, cx.db, cx.tenantId, t.table, false, (sub) => exactIn(sub, t.col, [key]));
      }
      return;
    }
    case "list": {
      const negate = f.kind === "exists" && !f.exists;
      inTable(qb, cx.db, cx.tenantId, t.table, negate, (sub) => {
        if (f.kind === "exists") sub.whereNotNull(t.cols.raw);
        else if (f.kind === "startsWith") textCondition(sub, t.cols, "$startsWith", [f.prefix]);
        else if (f.kind === "in") textCondition(sub, t.cols, "$in", values(f.values));
        else if (f.kind === "compare" && f.op === "$eq") textCondition(sub, t.cols, "$in", values([f.value]));
        else throw new Error(`${f.kind} on ${field.path}`);
      });
      return;
    }
    case "custom": {
      inTable(qb, cx.db, cx.tenantId, "contact_field_values", false, (sub) => {
        sub.where("field_key", t.key);
        const text = { raw: "text_value", lc: "text_lc", key: "text_key" };
        const col = t.def === "NUMBER" ? "num_value" : t.def === "DATE" ? "date_value" : undefined;
        if (f.kind === "startsWith") textCondition(sub, text, "$startsWith", [f.prefix]);
        else if (f.kind === "in") col ? exactIn(sub, col, f.values) : textCondition(sub, text, "$in", f.values);
        else if (f.kind === "compare" && col) sub.whereRaw(`${col} ${CMP[f.op as keyof typeof CMP]} ?`, [f.value]);
        else if (f.kind === "compare" && f.op === "$eq") textCondition(sub, text, "$in", [f.value]);
        else throw new Error(`${f.kind} on ${field.path}`);
      });
      return;
    }
  }
}

/**
 * The SQL a sort orders by, the custom field whose value row it joins (as `sv`), and the contacts
 * index that holds rows in that order (`index`), if one does.
 */
export function sortExpression(sort: Sort, cx: CompileContext): { sql: string; join?: { key: string }; index?: string } {
  const field = sort.field as ContactField;
  const t = target(field, cx.customTypes);
  const index = (col: string) => (SORT_INDEX[col] ? { index: SORT_INDEX[col] } : {});
  switch (t.kind) {
    case "text":
      return { sql: t.cols.key, ...index(t.cols.key) };
    case "plain":
      return { sql: t.col === "c.birthdate" ? "coalesce(c.birthdate, '')" : t.col, ...index(t.col) };
    case "custom":
      return {
        sql:
          t.def === "NUMBER"
            ? "coalesce(sv.num_value, -1.7976931348623157e308)"
            : t.def === "DATE"
              ? "coalesce(sv.date_value, '')"
              : "coalesce(sv.text_key, '')",
        join: { key: t.key },
      };
    default:
      throw new Error(`cannot sort by ${field.path}`);
  }
}
