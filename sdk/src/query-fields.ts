/**
 * The queryable fields of contacts, labels and extended fields, by the reference SDK's names
 * (`_createdDate`, `info.emails.email`, `info.extendedFields.custom.shoe-size`), with the server's
 * filter path, value type, operators and sortability (reference §3.6, §4, §5.2). The operators
 * are the server's own (server/src/domain/contact-query.ts, services/labels.ts,
 * services/extended-fields.ts); test/sdk.test.ts checks the two tables agree.
 */
import { enumSdkValues } from "./codec.js";
import { SubscriptionStatusSchema, EmailDeliverabilityStatusSchema } from "./gen/contacts/v1/contact_pb.js";
import { FieldDataTypeSchema, FieldTypeSchema } from "./gen/contacts/v1/extended_fields_service_pb.js";
import { LabelTypeSchema } from "./gen/contacts/v1/labels_service_pb.js";
import type { QueryField, ValueKind, WireOperator } from "./query.js";

const TEXT: readonly WireOperator[] = ["$eq", "$ne", "$in", "$exists", "$startsWith"];
const SHORT_TEXT: readonly WireOperator[] = ["$eq", "$ne", "$in", "$exists"];
const RANGE: readonly WireOperator[] = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"];
const ENUM: readonly WireOperator[] = ["$eq", "$ne", "$in", "$nin"];
const HAS: readonly WireOperator[] = ["$hasSome", "$hasAll", "$exists"];
/** Custom extended fields: TEXT/URL take `$eq $ne $in $startsWith`, NUMBER/DATE the range operators; the server decides by the field's type. */
const CUSTOM: readonly WireOperator[] = ["$eq", "$ne", "$in", "$startsWith", "$gt", "$gte", "$lt", "$lte"];

function f(wire: string, kind: ValueKind, operators: readonly WireOperator[], sortable = false, values?: readonly string[]): QueryField {
  return { wire, kind, operators, sortable, ...(values ? { values } : {}) };
}

const SUBSCRIPTION = enumSdkValues(SubscriptionStatusSchema);
const DELIVERABILITY = enumSdkValues(EmailDeliverabilityStatusSchema);
/** The values of the system field `members.membershipStatus` (reference §1.4). */
const MEMBERSHIP = ["APPROVED", "PENDING", "DENIED", "INACTIVE"] as const;

/** Contact fields by SDK name. */
export const CONTACT_FIELDS = {
  _id: f("id", "string", ["$eq", "$ne", "$in", "$nin", "$exists"]),
  _createdDate: f("createdDate", "timestamp", RANGE, true),
  _updatedDate: f("updatedDate", "timestamp", RANGE),
  "lastActivity.activityDate": f("lastActivity.activityDate", "timestamp", RANGE, true),
  "primaryInfo.email": f("primaryInfo.email", "string", TEXT, true),
  "primaryInfo.phone": f("primaryInfo.phone", "string", TEXT),
  "primaryEmail.email": f("primaryEmail.email", "string", TEXT, true),
  "primaryEmail.subscriptionStatus": f("primaryEmail.subscriptionStatus", "enum", ENUM, false, SUBSCRIPTION),
  "primaryEmail.deliverabilityStatus": f("primaryEmail.deliverabilityStatus", "enum", ENUM, false, DELIVERABILITY),
  "primaryPhone.phone": f("primaryPhone.phone", "string", TEXT),
  "primaryPhone.e164Phone": f("primaryPhone.e164Phone", "string", TEXT),
  "primaryPhone.formattedPhone": f("primaryPhone.formattedPhone", "string", TEXT, true),
  "primaryPhone.countryCode": f("primaryPhone.countryCode", "string", TEXT, true),
  "primaryPhone.subscriptionStatus": f("primaryPhone.subscriptionStatus", "enum", ENUM, false, SUBSCRIPTION),
  "info.name.first": f("info.name.first", "string", TEXT, true),
  "info.name.last": f("info.name.last", "string", TEXT, true),
  "info.emails.email": f("info.emails.email", "string", TEXT),
  "info.phones.phone": f("info.phones.phone", "string", TEXT),
  "info.phones.e164Phone": f("info.phones.e164Phone", "string", TEXT),
  "info.addresses.street": f("info.addresses.street", "string", TEXT),
  "info.addresses.city": f("info.addresses.city", "string", TEXT),
  "info.addresses.subdivision": f("info.addresses.subdivision", "string", SHORT_TEXT),
  "info.addresses.country": f("info.addresses.country", "string", SHORT_TEXT),
  "info.company": f("info.company", "string", TEXT, true),
  "info.jobTitle": f("info.jobTitle", "string", TEXT, true),
  "info.birthdate": f("info.birthdate", "date", RANGE, true),
  "info.locale": f("info.locale", "string", SHORT_TEXT),
  "info.labelKeys": f("info.labelKeys", "string", HAS),
  "info.locations": f("info.locations", "string", HAS),
  "info.extendedFields.contacts.displayByFirstName": f("info.extendedFields.contacts.displayByFirstName", "string", ["$exists"]),
  "info.extendedFields.emailSubscriptions.subscriptionStatus": f(
    "info.extendedFields.emailSubscriptions.subscriptionStatus",
    "enum",
    ENUM,
    false,
    SUBSCRIPTION,
  ),
  "info.extendedFields.emailSubscriptions.deliverabilityStatus": f(
    "info.extendedFields.emailSubscriptions.deliverabilityStatus",
    "enum",
    ENUM,
    false,
    DELIVERABILITY,
  ),
  "info.extendedFields.emailSubscriptions.effectiveEmail": f("info.extendedFields.emailSubscriptions.effectiveEmail", "string", ["$exists"], true),
  "info.extendedFields.members.membershipStatus": f("info.extendedFields.members.membershipStatus", "enum", ENUM, false, MEMBERSHIP),
  "info.extendedFields.ecom.numOfPurchases": f("info.extendedFields.ecom.numOfPurchases", "number", RANGE, true),
  "info.extendedFields.ecom.totalSpentAmount": f("info.extendedFields.ecom.totalSpentAmount", "number", RANGE, true),
  "info.extendedFields.ecom.lastPurchaseDate": f("info.extendedFields.ecom.lastPurchaseDate", "date", RANGE, true),
} as const satisfies Record<string, QueryField>;

const CUSTOM_FIELD_PREFIX = "info.extendedFields.custom.";

/**
 * The contact query field names: the fixed ones, and `info.extendedFields.custom.<slug>` for the
 * tenant's custom extended fields.
 */
export type ContactQueryField = keyof typeof CONTACT_FIELDS | `info.extendedFields.custom.${string}`;

/** Resolves a contact query field name. */
export function contactField(name: string): QueryField | undefined {
  if (Object.hasOwn(CONTACT_FIELDS, name)) return CONTACT_FIELDS[name as keyof typeof CONTACT_FIELDS];
  if (name.startsWith(CUSTOM_FIELD_PREFIX) && name.length > CUSTOM_FIELD_PREFIX.length) return f(name, "any", CUSTOM, true);
  return undefined;
}

/** The contact field names, for error messages. */
export const CONTACT_FIELD_NAMES: readonly string[] = [...Object.keys(CONTACT_FIELDS), `${CUSTOM_FIELD_PREFIX}<key>`];

/** Label fields by SDK name (reference §3.6). */
export const LABEL_FIELDS = {
  key: f("key", "string", ["$eq", "$ne", "$in"]),
  displayName: f("displayName", "string", ["$eq", "$ne", "$in", "$startsWith"], true),
  _createdDate: f("createdDate", "timestamp", RANGE, true),
  _updatedDate: f("updatedDate", "timestamp", RANGE, true),
  namespace: f("namespace", "string", ["$eq", "$ne"]),
  labelType: f("labelType", "enum", ["$eq"], false, enumSdkValues(LabelTypeSchema)),
} as const satisfies Record<string, QueryField>;

/** The label query field names. */
export type LabelQueryField = keyof typeof LABEL_FIELDS;

/** Extended field fields by SDK name (reference §4). */
export const EXTENDED_FIELD_FIELDS = {
  key: f("key", "string", ["$eq", "$ne", "$in"]),
  displayName: f("displayName", "string", ["$eq", "$ne", "$in", "$startsWith"], true),
  _createdDate: f("createdDate", "timestamp", RANGE, true),
  _updatedDate: f("updatedDate", "timestamp", RANGE, true),
  namespace: f("namespace", "string", ["$eq", "$ne"]),
  dataType: f("dataType", "enum", ["$eq", "$ne"], false, enumSdkValues(FieldDataTypeSchema)),
  fieldType: f("fieldType", "enum", ["$eq"], false, enumSdkValues(FieldTypeSchema)),
} as const satisfies Record<string, QueryField>;

/** The extended field query field names. */
export type ExtendedFieldQueryField = keyof typeof EXTENDED_FIELD_FIELDS;

/** A field resolver over a fixed table. */
export function tableField(table: Readonly<Record<string, QueryField>>): (name: string) => QueryField | undefined {
  return (name) => (Object.hasOwn(table, name) ? table[name] : undefined);
}

/**
 * A sort field name or projection path in the wire spelling: the SDK's `_createdDate` is
 * `createdDate` on the wire; other names are the same.
 */
export function wireName(name: string): string {
  if (name === "_id" || name === "_createdDate" || name === "_updatedDate") return name.slice(1);
  return name;
}
