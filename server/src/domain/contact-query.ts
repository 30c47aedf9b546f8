/**
 * The contacts query language's fields (reference §5.2): which operators each path takes,
 * which can be sorted, and — as the definition of their meaning — how each reads its value off a
 * contact. The store compiles the same paths to SQL (store/filter-compiler.ts); the
 * differential property test checks the two agree.
 */
import type { ContactJson } from "../../../gen/contacts/v1/contact_pb.js";
import { emailKey, primaryEmail, primaryPhone } from "./contact-info.js";
import { MEMBERSHIP_STATUSES, membershipStatus } from "./contacts.js";
import { type ExtendedField, SYSTEM_FIELDS } from "./extended-fields.js";
import { CONTACT_QUERY_CODES, type FieldSpec, type Filter, type Operator, type QuerySchema, type ValueType } from "./query.js";

/** What a path reads off a contact: one value, several (any-element match), or nothing. */
export type Reading = string | number | undefined | readonly (string | number)[];

export interface ContactField extends FieldSpec {
  /** How values compare: exact text, case-insensitive text (emails), or plain. */
  text?: "exact" | "email";
  /** True when the path reads a list (any element matches). */
  array?: boolean;
  /** The field's value(s) on a presented contact. */
  read(c: ContactJson): Reading;
  /** The value sorting uses (only sortable fields): never undefined. */
  sortKey?(c: ContactJson): string | number;
}

const STR = { kind: "string" } as const;
const NUM = { kind: "number" } as const;
const TS = { kind: "timestamp" } as const;
const DATE = { kind: "date" } as const;
const TEXT_OPS: readonly Operator[] = ["$eq", "$ne", "$in", "$exists", "$startsWith"];
const SHORT_TEXT_OPS: readonly Operator[] = ["$eq", "$ne", "$in", "$exists"];
const RANGE_OPS: readonly Operator[] = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"];
const ENUM_OPS: readonly Operator[] = ["$eq", "$ne", "$in", "$nin"];
// `$exists` on label keys and locations goes beyond the reference: it is how the NOT_LABELED
// facet's ready filter (`{"info.labelKeys": {"$exists": false}}`) is written.
const HAS_OPS: readonly Operator[] = ["$hasSome", "$hasAll", "$exists"];

/**
 * Sort keys of text: lower-case, first 190 characters ('' when absent) — as the index stores them.
 * Characters are code points: a key never ends in half a surrogate pair (which the stores would
 * keep differently: MariaDB as U+FFFD, SQLite as the lone surrogate).
 */
export const textSortKey = (v: string | undefined): string => [...(v ?? "").toLowerCase()].slice(0, 190).join("");

const ms = (iso: string | undefined): number => (iso ? Date.parse(iso) : 0);

function statusEnum(values: readonly string[], prefix: string): ValueType {
  return { kind: "enum", values, aliases: Object.fromEntries(values.map((v) => [`${prefix}${v}`, v])) };
}
const MEMBERSHIP: ValueType = { kind: "enum", values: MEMBERSHIP_STATUSES };
const SUBSCRIPTION = statusEnum(["NO_SUBSCRIPTION_STATUS", "NOT_SET", "PENDING", "SUBSCRIBED", "UNSUBSCRIBED"], "SUBSCRIPTION_STATUS_");
const DELIVERABILITY = statusEnum(["NOT_SET", "VALID", "BOUNCED", "SPAM_COMPLAINT", "INACTIVE"], "EMAIL_DELIVERABILITY_STATUS_");

const email = (c: ContactJson) => {
  const e = primaryEmail(c.info ?? {})?.email;
  return e ? emailKey(e) : undefined;
};
const phone = (c: ContactJson) => primaryPhone(c.info ?? {});
const emailSubscription = (c: ContactJson) => (email(c) ? "NOT_SET" : undefined);
const phoneSubscription = (c: ContactJson) => {
  const p = phone(c);
  if (!p?.phone) return undefined;
  return p.e164Phone ? "NOT_SET" : "NO_SUBSCRIPTION_STATUS";
};

function field(
  path: string,
  type: ValueType,
  operators: readonly Operator[],
  rest: Omit<ContactField, "path" | "type" | "operators" | "sortable"> & { sortable?: boolean },
): ContactField {
  return { path, type, operators, sortable: rest.sortable ?? false, ...rest };
}

const EXT_PREFIX = "info.extendedFields.";

/**
 * The stored system fields a query can filter and sort by (reference §1.4, §5.3: the `ecom.*`
 * numbers and date, with `$eq $ne $gt $gte $lt $lte`). Their values are stored as custom ones are.
 */
export const QUERYABLE_STORED_FIELDS: readonly ExtendedField[] = SYSTEM_FIELDS.filter((f) =>
  ["ecom.numOfPurchases", "ecom.totalSpentAmount", "ecom.lastPurchaseDate"].includes(f.key),
);

/** Every fixed filterable path. */
export const CONTACT_FIELDS: readonly ContactField[] = [
  field("id", STR, ["$eq", "$ne", "$in", "$nin", "$exists"], { text: "exact", read: (c) => c.id }),
  field("createdDate", TS, RANGE_OPS, { sortable: true, read: (c) => ms(c.createdDate), sortKey: (c) => ms(c.createdDate) }),
  field("updatedDate", TS, RANGE_OPS, { read: (c) => ms(c.updatedDate) }),
  field("lastActivity.activityDate", TS, RANGE_OPS, {
    sortable: true,
    read: (c) => ms(c.lastActivity?.activityDate),
    sortKey: (c) => ms(c.lastActivity?.activityDate),
  }),
  field("primaryInfo.email", STR, TEXT_OPS, { text: "email", sortable: true, read: email, sortKey: (c) => textSortKey(email(c)) }),
  field("primaryEmail.email", STR, TEXT_OPS, { text: "email", sortable: true, read: email, sortKey: (c) => textSortKey(email(c)) }),
  field("primaryEmail.subscriptionStatus", SUBSCRIPTION, ENUM_OPS, { read: emailSubscription }),
  field("primaryEmail.deliverabilityStatus", DELIVERABILITY, ENUM_OPS, { read: emailSubscription }),
  field("primaryInfo.phone", STR, TEXT_OPS, { text: "exact", read: (c) => phone(c)?.phone || undefined }),
  field("primaryPhone.phone", STR, TEXT_OPS, { text: "exact", read: (c) => phone(c)?.phone || undefined }),
  field("primaryPhone.e164Phone", STR, TEXT_OPS, { text: "exact", read: (c) => phone(c)?.e164Phone || undefined }),
  field("primaryPhone.formattedPhone", STR, TEXT_OPS, {
    text: "exact",
    sortable: true,
    read: (c) => phone(c)?.formattedPhone || undefined,
    sortKey: (c) => (phone(c)?.formattedPhone ?? "").toLowerCase(),
  }),
  field("primaryPhone.countryCode", STR, TEXT_OPS, {
    text: "exact",
    sortable: true,
    read: (c) => phone(c)?.countryCode || undefined,
    sortKey: (c) => (phone(c)?.countryCode ?? "").toLowerCase(),
  }),
  field("primaryPhone.subscriptionStatus", SUBSCRIPTION, ENUM_OPS, { read: phoneSubscription }),
  ...(["first", "last"] as const).map((part) =>
    field(`info.name.${part}`, STR, TEXT_OPS, {
      text: "exact",
      sortable: true,
      read: (c) => c.info?.name?.[part] || undefined,
      sortKey: (c) => textSortKey(c.info?.name?.[part]),
    }),
  ),
  field("info.emails.email", STR, TEXT_OPS, {
    text: "email",
    array: true,
    read: (c) => [...new Set((c.info?.emails?.items ?? []).map((e) => emailKey(e.email ?? "")))],
  }),
  field("info.phones.phone", STR, TEXT_OPS, { text: "exact", array: true, read: (c) => (c.info?.phones?.items ?? []).map((p) => p.phone ?? "") }),
  field("info.phones.e164Phone", STR, TEXT_OPS, {
    text: "exact",
    array: true,
    read: (c) => (c.info?.phones?.items ?? []).map((p) => p.e164Phone ?? "").filter(Boolean),
  }),
  field("info.addresses.street", STR, TEXT_OPS, {
    text: "exact",
    array: true,
    read: (c) =>
      (c.info?.addresses?.items ?? [])
        .map((a) => a.address?.addressLine || [a.address?.streetAddress?.number, a.address?.streetAddress?.name].filter(Boolean).join(" "))
        .filter(Boolean),
  }),
  field("info.addresses.city", STR, TEXT_OPS, {
    text: "exact",
    array: true,
    read: (c) => (c.info?.addresses?.items ?? []).map((a) => a.address?.city ?? "").filter(Boolean),
  }),
  field("info.addresses.subdivision", STR, SHORT_TEXT_OPS, {
    text: "exact",
    array: true,
    read: (c) => (c.info?.addresses?.items ?? []).map((a) => a.address?.subdivision ?? "").filter(Boolean),
  }),
  field("info.addresses.country", STR, SHORT_TEXT_OPS, {
    text: "exact",
    array: true,
    read: (c) => (c.info?.addresses?.items ?? []).map((a) => a.address?.country ?? "").filter(Boolean),
  }),
  ...(["company", "jobTitle"] as const).map((key) =>
    field(`info.${key}`, STR, TEXT_OPS, {
      text: "exact",
      sortable: true,
      read: (c) => c.info?.[key] || undefined,
      sortKey: (c) => textSortKey(c.info?.[key]),
    }),
  ),
  field("info.birthdate", DATE, RANGE_OPS, { sortable: true, read: (c) => c.info?.birthdate || undefined, sortKey: (c) => c.info?.birthdate ?? "" }),
  field("info.locale", STR, SHORT_TEXT_OPS, { text: "exact", read: (c) => c.info?.locale || undefined }),
  field("info.labelKeys", STR, HAS_OPS, { array: true, read: (c) => c.info?.labelKeys?.items ?? [] }),
  field("info.locations", STR, HAS_OPS, { array: true, read: (c) => c.info?.locations?.items ?? [] }),
  // The filterable system extended fields (reference §1.4).
  field("info.extendedFields.contacts.displayByFirstName", STR, ["$exists"], {
    read: (c) => (c.info?.name?.first || c.info?.name?.last ? "x" : undefined),
  }),
  field("info.extendedFields.emailSubscriptions.subscriptionStatus", SUBSCRIPTION, ENUM_OPS, { read: emailSubscription }),
  field("info.extendedFields.emailSubscriptions.deliverabilityStatus", DELIVERABILITY, ENUM_OPS, { read: emailSubscription }),
  field("info.extendedFields.members.membershipStatus", MEMBERSHIP, ENUM_OPS, { read: (c) => membershipStatus(c.memberInfo) }),
  field("info.extendedFields.emailSubscriptions.effectiveEmail", STR, ["$exists"], {
    sortable: true,
    read: email,
    sortKey: (c) => textSortKey(email(c)),
  }),
  ...QUERYABLE_STORED_FIELDS.map(customFieldSpec),
];

/** What every path naming a custom extended field contains. */
export const CUSTOM_FIELD_PATH = `${EXT_PREFIX}custom.`;

/** The query field of a custom extended field, by its data type. */
export function customFieldSpec(def: ExtendedField): ContactField {
  const path = `${EXT_PREFIX}${def.key}`;
  const value = (c: ContactJson) => c.info?.extendedFields?.items?.[def.key];
  switch (def.dataType) {
    case "NUMBER":
      return field(path, NUM, RANGE_OPS, {
        sortable: true,
        read: (c) => (typeof value(c) === "number" ? (value(c) as number) : undefined),
        sortKey: (c) => (typeof value(c) === "number" ? (value(c) as number) : -Number.MAX_VALUE),
      });
    case "DATE":
      return field(path, DATE, RANGE_OPS, {
        sortable: true,
        read: (c) => (typeof value(c) === "string" ? (value(c) as string) : undefined),
        sortKey: (c) => (typeof value(c) === "string" ? (value(c) as string) : ""),
      });
    default:
      // An empty text is no value, as for every other text path (the index stores it as none).
      return field(path, STR, ["$eq", "$ne", "$in", "$startsWith"], {
        text: "exact",
        sortable: true,
        read: (c) => (typeof value(c) === "string" && value(c) !== "" ? (value(c) as string) : undefined),
        sortKey: (c) => textSortKey(typeof value(c) === "string" ? (value(c) as string) : undefined),
      });
  }
}

/** The key of a custom extended field a path names, if it names one. */
export function extendedFieldKeyOf(path: string): string | undefined {
  return path.startsWith(EXT_PREFIX) ? path.slice(EXT_PREFIX.length) : undefined;
}

const FIXED = new Map(CONTACT_FIELDS.map((f) => [f.path, f]));

/** The contacts query schema of a tenant: the fixed paths plus its custom extended fields. */
export type ContactSchema = Omit<QuerySchema, "field"> & { field(path: string): ContactField | undefined };

export function contactSchema(customFields: readonly ExtendedField[]): ContactSchema {
  const custom = new Map(customFields.filter((f) => f.fieldType !== "SYSTEM").map((f) => [`${EXT_PREFIX}${f.key}`, customFieldSpec(f)]));
  return { field: (path) => FIXED.get(path) ?? custom.get(path), codes: CONTACT_QUERY_CODES, maxSort: 1 };
}

/** The default order: newest first, ties by id. */
export const DEFAULT_CONTACT_SORT = { field: FIXED.get("createdDate") as ContactField, descending: true };

/** A filter that matches nothing. */
const NOTHING: Filter = { kind: "or", filters: [] };

/**
 * `filter` as if the stripped labels (domain/contacts.ts Stripped) were already removed from
 * every contact: `$hasSome` forgets them (and matches nothing when they were all it named), a
 * `$hasAll` that names one matches nothing. Whether a contact has labels at all is answered by the
 * SQL without their rows (store/filter-compiler.ts).
 */
export function withoutStrippedLabels(filter: Filter, labels: ReadonlySet<string>): Filter {
  if (labels.size === 0) return filter;
  switch (filter.kind) {
    case "and":
    case "or":
      return { ...filter, filters: filter.filters.map((f) => withoutStrippedLabels(f, labels)) };
    case "not":
      return { ...filter, filter: withoutStrippedLabels(filter.filter, labels) };
    case "has": {
      if (filter.field.path !== "info.labelKeys") return filter;
      const kept = filter.values.filter((v) => !labels.has(String(v)));
      if (kept.length === filter.values.length) return filter;
      return filter.all || kept.length === 0 ? NOTHING : { ...filter, values: kept };
    }
    default:
      return filter;
  }
}
