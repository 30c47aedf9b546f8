/**
 * The SDK's plain-object types, as the reference's JavaScript SDK spells them: `_id`,
 * `_createdDate`, `_updatedDate` as `Date`, enum values without a proto prefix (`"WORK"`), the
 * `{ items: [...] }` wrappers of ContactInfo, and the address names of reference §1.6.
 */
import type { BulkJobStatus as BulkJobStatusEnum, BulkJobType as BulkJobTypeEnum } from "./gen/contacts/v1/bulk_job_pb.js";
import type {
  AddressTag as AddressTagEnum,
  ContactActivityType as ContactActivityTypeEnum,
  ContactSourceType as ContactSourceTypeEnum,
  EmailDeliverabilityStatus as EmailDeliverabilityStatusEnum,
  EmailTag as EmailTagEnum,
  FacetType as FacetTypeEnum,
  MemberRole as MemberRoleEnum,
  MemberStatus as MemberStatusEnum,
  PhoneDeliverabilityStatus as PhoneDeliverabilityStatusEnum,
  PhoneTag as PhoneTagEnum,
  SubscriptionStatus as SubscriptionStatusEnum,
} from "./gen/contacts/v1/contact_pb.js";
import type { ContactFieldSet as ContactFieldSetEnum, UpsertAction as UpsertActionEnum } from "./gen/contacts/v1/contacts_service_pb.js";
import type { IdentityType as IdentityTypeEnum } from "./gen/contacts/v1/events_service_pb.js";
import type { FieldDataType as FieldDataTypeEnum, FieldType as FieldTypeEnum } from "./gen/contacts/v1/extended_fields_service_pb.js";
import type { LabelType as LabelTypeEnum } from "./gen/contacts/v1/labels_service_pb.js";

/** The SDK spelling of a contract enum: its value names without the `UNSPECIFIED` zero value. */
type ValuesOf<E> = Exclude<keyof E, "UNSPECIFIED">;

/** `"UNTAGGED" | "MAIN" | "HOME" | "WORK"`. */
export type EmailTag = ValuesOf<typeof EmailTagEnum>;
/** `"UNTAGGED" | "MAIN" | "HOME" | "MOBILE" | "WORK" | "FAX"`. */
export type PhoneTag = ValuesOf<typeof PhoneTagEnum>;
/** `"UNTAGGED" | "HOME" | "WORK" | "BILLING" | "SHIPPING"`. */
export type AddressTag = ValuesOf<typeof AddressTagEnum>;
/** Who created a contact: `"ADMIN"`, `"WIX_APP"`, `"THIRD_PARTY"`, `"OTHER"`, … */
export type ContactSourceType = ValuesOf<typeof ContactSourceTypeEnum>;
/** The kind of a contact's last activity: `"CONTACT_CREATED"`, `"CONTACT_MERGED"`, … */
export type ContactActivityType = ValuesOf<typeof ContactActivityTypeEnum>;
/** `"NO_SUBSCRIPTION_STATUS" | "NOT_SET" | "PENDING" | "SUBSCRIBED" | "UNSUBSCRIBED"`. */
export type SubscriptionStatus = ValuesOf<typeof SubscriptionStatusEnum>;
/** `"NOT_SET" | "VALID" | "BOUNCED" | "SPAM_COMPLAINT" | "INACTIVE"`. */
export type EmailDeliverabilityStatus = ValuesOf<typeof EmailDeliverabilityStatusEnum>;
/** `"NO_PHONE_DELIVERABILITY_STATUS" | "NOT_SET"`. */
export type PhoneDeliverabilityStatus = ValuesOf<typeof PhoneDeliverabilityStatusEnum>;
/** `"PENDING" | "ACTIVE" | "DELETED" | "BLOCKED" | "OFFLINE"`. */
export type MemberStatus = ValuesOf<typeof MemberStatusEnum>;
/** `"MEMBER" | "CONTRIBUTOR" | "OWNER"`. */
export type MemberRole = ValuesOf<typeof MemberRoleEnum>;
/** `"ALL_CONTACTS" | "NOT_LABELED" | "LABEL" | "SUBSCRIPTION_STATUS" | "MEMBERSHIP_STATUS"`. */
export type FacetType = ValuesOf<typeof FacetTypeEnum>;
/** Predefined projections: `"BASIC" | "COMMUNICATION_DETAILS" | "EXTENDED" | "FULL"`. */
export type ContactFieldSet = ValuesOf<typeof ContactFieldSetEnum>;
/** `"SYSTEM" | "USER_DEFINED" | "WIX_APP_DEFINED"`. */
export type LabelType = ValuesOf<typeof LabelTypeEnum>;
/** `"TEXT" | "NUMBER" | "DATE" | "URL"`. */
export type FieldDataType = ValuesOf<typeof FieldDataTypeEnum>;
/** `"SYSTEM" | "USER_DEFINED"`. */
export type FieldType = ValuesOf<typeof FieldTypeEnum>;
/** The kind of caller that made a change: `"USER" | "APP" | "MEMBER" | "ANONYMOUS_VISITOR"`. */
export type IdentityType = ValuesOf<typeof IdentityTypeEnum>;
/** What a bulk job does to each contact: `"DELETE" | "UPDATE" | "ADD_LABELS" | "REMOVE_LABELS" | "ADD_REMOVE_LABELS"`. */
export type BulkJobType = ValuesOf<typeof BulkJobTypeEnum>;
/**
 * Where a bulk job is: `"NEW" | "LOADING" | "RUNNING" | "COMPLETED"`, and ours `"CANCELLED" |
 * "FAILED"`. The reference's `"INDEXING"` is in the type but never set.
 */
export type BulkJobStatus = ValuesOf<typeof BulkJobStatusEnum>;
/**
 * What `bulkUpsertContacts` did with one item: `"CREATED"`, `"UPDATED"`, `"UNCHANGED"` (a contact
 * matched and already held everything the item has) or `"FAILED"` (see the result's `error`).
 */
export type UpsertAction = ValuesOf<typeof UpsertActionEnum>;
/** Sort direction. */
export type SortOrder = "ASC" | "DESC";

/**
 * A value as a function argument, typed as loosely as the reference SDK types it: every field
 * optional and every optional field also `null`, which means "not set", the same as leaving it
 * out. The server still requires what it requires (an email's `email`, say). Results never hold
 * `null`, so they keep the exact types.
 */
export type Input<T> = T extends Date | string | number | boolean
  ? T
  : T extends readonly (infer U)[]
    ? Input<U>[]
    : T extends object
      ? { [K in keyof T]?: Input<T[K]> | null }
      : T;

/** `ContactInfo` as `createContact`, `updateContact`, `bulkUpdateContacts` and `bulkUpsertContacts` take it: `null` is "not set". */
export type ContactInfoInput = Input<ContactInfo>;

// ---------------------------------------------------------------------------------------------
// Contacts

/** A contact. Everything a client may write is in `info`; the rest is computed by the server. */
export interface Contact {
  /** Contact ID (UUID). */
  _id: string;
  /** Starts at 1, +1 on every change; pass it to `updateContact` and `mergeContacts`. */
  revision: number;
  /** Who created the contact. */
  source?: ContactSource;
  /** When the contact was created. */
  _createdDate?: Date;
  /** When the contact last changed. */
  _updatedDate?: Date;
  /** The contact's last activity (`CONTACT_CREATED` on create, `CONTACT_MERGED` after a merge). */
  lastActivity?: ContactActivity;
  /** The primary email and phone of `info`. */
  primaryInfo?: PrimaryContactInfo;
  /** The client-editable data. */
  info?: ContactInfo;
  /** The primary email with its marketing subscription and deliverability state. */
  primaryEmail?: PrimaryEmail;
  /** The primary phone with its SMS subscription state. */
  primaryPhone?: PrimaryPhone;
  /** Site membership, recorded by `updateMemberInfo`; absent for non-members. */
  memberInfo?: MemberInfo;
}

/** The part of a contact clients write. The lists are wrapped in `{ items }` as in the reference. */
export interface ContactInfo {
  /** First and last name. */
  name?: ContactName;
  /** Email addresses, at most 50. */
  emails?: { items?: ContactEmail[] };
  /** Phone numbers, at most 50. */
  phones?: { items?: ContactPhone[] };
  /** Postal addresses, at most 50. */
  addresses?: { items?: ContactAddress[] };
  /** Company name, at most 1000 characters. */
  company?: string;
  /** Job title ("Position"), at most 1000 characters. */
  jobTitle?: string;
  /** Birth date, `YYYY-MM-DD`. */
  birthdate?: string;
  /** IETF BCP-47 language tag, e.g. `en-US`. */
  locale?: string;
  /** Keys of labels on the contact; each must exist (see `labels.findOrCreateLabel`). */
  labelKeys?: { items?: string[] };
  /**
   * Extended field values by field key (`custom.shoe-size`): strings for TEXT and URL fields,
   * numbers for NUMBER, `YYYY-MM-DD` strings for DATE. On output also the system fields.
   */
  extendedFields?: { items?: Record<string, unknown> };
  /** Profile picture. */
  picture?: { image?: string };
  /** IDs of users assigned to the contact, at most 50. */
  assignedUserIds?: { items?: string[] };
  /** IDs of business locations, at most 50. */
  locations?: { items?: string[] };
}

/** A person's name. */
export interface ContactName {
  /** First name, at most 1000 characters. */
  first?: string;
  /** Last name, at most 1000 characters. */
  last?: string;
}

/** One email address of a contact. */
export interface ContactEmail {
  /** Item ID; echo it back on update to keep the item's identity. */
  _id?: string;
  /** Kind of address. Default `"UNTAGGED"`. */
  tag?: EmailTag;
  /** The address, 1–320 characters. */
  email: string;
  /** True for the primary email; at most one. Default: the first email. */
  primary?: boolean;
}

/** One phone number of a contact. */
export interface ContactPhone {
  /** Item ID; echo it back on update to keep the item's identity. */
  _id?: string;
  /** Kind of number. Default `"UNTAGGED"`. */
  tag?: PhoneTag;
  /** ISO-3166 alpha-2 country code used to parse `phone`, e.g. `"US"`. */
  countryCode?: string;
  /** The number as typed, 1–50 characters. */
  phone: string;
  /** Read-only. E.164 form, when the number parses. */
  e164Phone?: string;
  /** Read-only. International format, when the number parses. */
  formattedPhone?: string;
  /** True for the primary phone; at most one. Default: the first phone. */
  primary?: boolean;
}

/** One postal address of a contact. */
export interface ContactAddress {
  /** Item ID; echo it back on update to keep the item's identity. */
  _id?: string;
  /** Kind of address. Default `"UNTAGGED"`. */
  tag?: AddressTag;
  /** The address. */
  address?: Address;
}

/** A postal address: a structured `streetAddress` or a free `addressLine1`, not both. */
export interface Address {
  /** Street number and name. */
  streetAddress?: { number?: string; name?: string; apt?: string };
  /** Free-text main address line (REST `addressLine`). */
  addressLine1?: string;
  /** Apartment, suite or floor. */
  addressLine2?: string;
  /** City. */
  city?: string;
  /** ISO 3166-2 subdivision code, e.g. `US-NY`. */
  subdivision?: string;
  /** ISO-3166 alpha-2 country code. */
  country?: string;
  /** Postal or ZIP code. */
  postalCode?: string;
  /** One-line rendering of the address (REST `formattedAddress`). */
  formatted?: string;
  /** Delivery hint. */
  hint?: string;
  /** Coordinates (REST `geocode`). */
  location?: { latitude?: number; longitude?: number };
}

/** Who created a contact. */
export interface ContactSource {
  /** The kind of creator. */
  sourceType?: ContactSourceType;
  /** The creating app's ID, when an app created the contact. */
  appId?: string;
}

/** The last thing a contact did. */
export interface ContactActivity {
  /** When it happened. */
  activityDate?: Date;
  /** What happened. */
  activityType?: ContactActivityType;
}

/** The primary email and phone of a contact's info. */
export interface PrimaryContactInfo {
  /** The primary email. */
  email?: string;
  /** The primary phone as typed. */
  phone?: string;
}

/** The primary email with its marketing state. */
export interface PrimaryEmail {
  /** The primary email. */
  email?: string;
  /** Marketing subscription status. */
  subscriptionStatus?: SubscriptionStatus;
  /** Deliverability status. */
  deliverabilityStatus?: EmailDeliverabilityStatus;
}

/** The primary phone with its SMS state. */
export interface PrimaryPhone {
  /** The primary phone as typed. */
  phone?: string;
  /** Its country code. */
  countryCode?: string;
  /** Its E.164 form. */
  e164Phone?: string;
  /** Its international format. */
  formattedPhone?: string;
  /** SMS subscription status. */
  subscriptionStatus?: SubscriptionStatus;
  /** SMS deliverability status. */
  deliverabilityStatus?: PhoneDeliverabilityStatus;
}

/** Site membership of a contact (written by `updateMemberInfo`). */
export interface MemberInfo {
  /** The member's ID in the membership system, 1–100 characters. */
  memberId: string;
  /** Membership status. Default `"ACTIVE"`. */
  status?: MemberStatus;
  /** Role on the site. Default `"MEMBER"`. */
  role?: MemberRole;
  /** Read-only. When the member info was first recorded. */
  signupDate?: Date;
}

/** A count of contacts in one group, with the filter that selects them. */
export interface ContactsFacet {
  /** Kind of group. */
  facetType?: FacetType;
  /** Scope of the facet key. */
  namespace?: string;
  /** Display name of the namespace. */
  namespaceDisplayName?: string;
  /** The facet's key (for LABEL facets, the label key). */
  facetKey?: string;
  /** The facet's display name. */
  facetDisplayName?: string;
  /** Number of contacts in the facet. */
  count: number;
  /** Filter selecting the facet's contacts, for `queryContacts`-style REST filters. */
  queryFilter?: Record<string, unknown>;
}

/** What a page says about itself. */
export interface PagingMetadata {
  /** Items in this page. */
  count: number;
  /** The offset of this page. */
  offset: number;
  /** Items matching in total. */
  total: number;
  /** True when `total` could not be counted in time and is a lower bound. */
  tooManyToCount: boolean;
  /** True when more items follow this page. */
  hasNext: boolean;
  /** Cursors, for cursor paging. */
  cursors?: { next?: string; prev?: string };
}

/** Offset paging. */
export interface Paging {
  /** Items per page; `null` is the default. */
  limit?: number | null;
  /** Items to skip. Default 0. */
  offset?: number | null;
}

/** Cursor paging: stable and as fast at any depth. */
export interface CursorPaging {
  /** Items per page; `null` is the default. */
  limit?: number | null;
  /** `pagingMetadata.cursors.next` of the previous page; absent (or `null`) for the first page. */
  cursor?: string | null;
}

/** One sort entry. Field names as in the query builders (`"_createdDate"`, `"info.name.last"`). */
export interface Sorting<F extends string = string> {
  /**
   * The field to sort by: one of `F`. Any string compiles, as in the reference's types, so that
   * its programs do; a name outside `F`, or none, fails before the call with `INVALID_SDK_ARGUMENT`.
   */
  fieldName?: F | (string & {});
  /** Direction. Default `"ASC"`. */
  order?: SortOrder;
}

// ---------------------------------------------------------------------------------------------
// Labels and extended fields

/** A contact label. */
export interface ContactLabel {
  /** Namespace; labels made by `findOrCreateLabel` are in `custom`. */
  namespace?: string;
  /** Display name of the namespace. */
  namespaceDisplayName?: string;
  /** Label key, e.g. `custom.vip-customer`; never changes, even after a rename. */
  key: string;
  /** Display name, 1–180 characters. */
  displayName: string;
  /** Label type. */
  labelType?: LabelType;
  /** When the label was created (absent for system labels). */
  _createdDate?: Date;
  /** When the label last changed (absent for system labels). */
  _updatedDate?: Date;
}

/** An extended field definition. */
export interface ExtendedField {
  /** Namespace; fields made by `findOrCreateExtendedField` are in `custom`. */
  namespace?: string;
  /** Field key, e.g. `custom.shoe-size`; values live at `info.extendedFields.items[key]`. */
  key: string;
  /** Display name, 1–150 characters. */
  displayName: string;
  /** Type of the field's values. */
  dataType?: FieldDataType;
  /** `SYSTEM` or `USER_DEFINED`. */
  fieldType?: FieldType;
  /** When the field was created (absent for system fields). */
  _createdDate?: Date;
  /** When the field last changed (absent for system fields). */
  _updatedDate?: Date;
  /** Description (system fields only). */
  description?: string;
}

// ---------------------------------------------------------------------------------------------
// Bulk jobs

/**
 * One run of `bulkDeleteContacts`, `bulkUpdateContacts` or `bulkLabelAndUnlabelContacts` (reference
 * §1.7). It covers the contacts that matched its filter and search when it loaded them; each is
 * processed once, if it still exists and still matches when its batch runs.
 */
export interface BulkJob {
  /** The job ID (UUID): the `jobId` the bulk function returned. */
  _id: string;
  /** What the job does to each contact. */
  type: BulkJobType;
  /** Where the job is. `COMPLETED`, `CANCELLED` and `FAILED` are final. */
  status: BulkJobStatus;
  /** When the job was started (the bulk call). */
  startedDate: Date;
  /** When the job completed, failed or was cancelled; absent while it runs. */
  finishedDate?: Date;
  /** Contacts that matched when the job loaded them; grows while the job is `LOADING`. */
  totalItems: number;
  /** Contacts changed (or deleted) so far. */
  successTotal: number;
  /** Contacts the job could not change, each with an entry in `errors`. */
  failedTotal: number;
  /**
   * Not in the reference: contacts left alone because they had been deleted, or no longer
   * matched, when their batch ran. Once `COMPLETED`, `successTotal + failedTotal + skippedTotal === totalItems`.
   */
  skippedTotal: number;
  /** Per-contact failures in contact ID order, at most 1000 (`failedTotal` counts them all). Empty in `listBulkJobs`. */
  errors: BulkJobError[];
  /** Not in the reference: why the whole job failed (status `FAILED`). */
  failureReason?: string;
}

/** One contact a bulk job could not process. */
export interface BulkJobError {
  /** The contact. */
  contactId: string;
  /** The reason code, e.g. `CANNOT_DELETE_SITE_MEMBERS`, `DUPLICATE_CONTACT_EXISTS`. */
  code: string;
  /** A human-readable explanation. */
  message: string;
}

// ---------------------------------------------------------------------------------------------
// Webhooks (not in the reference's SDK: the reference configures webhooks in its app dashboard)

/** Whether a webhook subscription is being delivered to. */
export type WebhookStatus = "UNSPECIFIED" | "ACTIVE" | "DISABLED";

/**
 * A subscription of an HTTP endpoint to the tenant's events, delivered as POST requests signed
 * per the Standard Webhooks specification (verify them with the `standardwebhooks` package:
 * `new Webhook(secret).verify(body, headers)`), one at a time in commit order, at least once.
 */
export interface Webhook {
  /** The subscription ID. */
  _id: string;
  /** Where events are POSTed (`https://`). */
  url: string;
  /** The event types delivered, e.g. `contact_created`, `label_deleted`. */
  eventTypes: string[];
  /** Free text. */
  description?: string;
  /** `ACTIVE`, or `DISABLED` after 24 h of failing (see `lastError`; `enableWebhook` resumes it). */
  status: WebhookStatus;
  /** When it was created. */
  _createdDate: Date;
  /** The signing secret (`whsec_…`): only in the answers of `createWebhook` and `rotateWebhookSecret`. */
  secret?: string;
  /** Position in the event log up to which events were delivered (an `events.watch` cursor). */
  deliveredCursor: string;
  /** When the last event was delivered. */
  lastDeliveredDate?: Date;
  /** Failed attempts at the event now being delivered; 0 when the last one succeeded. */
  consecutiveFailures?: number;
  /** The last attempt's error, e.g. `HTTP 500`. */
  lastError?: string;
  /** When the last error happened. */
  lastErrorDate?: Date;
  /** When the next attempt is due, while retrying. */
  nextAttemptDate?: Date;
  /** When the subscription was disabled. */
  disabledDate?: Date;
}

/** One HTTP request made to deliver an event. */
export interface WebhookAttempt {
  /** The event ID: the request's `webhook-id`, the same on every retry. */
  eventId: string;
  /** The event's type. */
  eventType: string;
  /** The entity the event is about. */
  entityId: string;
  /** 1 for the first attempt at the event, 2 for its first retry, … */
  attempt: number;
  /** When the request was sent. */
  attemptDate: Date;
  /** How long until the answer or the failure, in ms. */
  durationMs?: number;
  /** The HTTP status of the answer; absent when there was none. */
  statusCode?: number;
  /** Whether the event was delivered (a 2xx answer). */
  delivered?: boolean;
  /** Why it failed. */
  error?: string;
}
