/**
 * Contacts as stored and as presented. The store keeps only what cannot be derived (the
 * client's info, source, activity, member info, revision and dates); primary info, the primary
 * email and phone and the system extended fields are computed on every read, never stored twice.
 */
import type { JsonValue } from "@bufbuild/protobuf";
import type { ContactActivityTypeJson, ContactInfoJson, ContactJson, ContactSourceJson, MemberInfoJson } from "../../../gen/contacts/v1/contact_pb.js";
import type { Caller } from "./caller.js";
import { CONTACT_LIMITS, dropEmpty, isCalendarDate, primaryEmail, primaryPhone } from "./contact-info.js";
import { DomainError, failedPrecondition } from "./errors.js";
import { type ExtendedField, STORED_SYSTEM_FIELDS } from "./extended-fields.js";

/** A contact as the store keeps it. */
export interface StoredContact {
  id: string;
  revision: number;
  /** Epoch ms. */
  createdDate: number;
  /** Epoch ms. */
  updatedDate: number;
  source: ContactSourceJson;
  lastActivity: { activityDate: number; activityType: ContactActivityTypeJson };
  /** Client data only: no system extended fields. */
  info: ContactInfoJson;
  memberInfo?: MemberInfoJson;
}

/** Where a new contact comes from, by who is calling (reference §1.1: users → ADMIN, apps → THIRD_PARTY). */
export function sourceOf(caller: Caller): ContactSourceJson {
  switch (caller.identityType) {
    case "USER":
      return { sourceType: "CONTACT_SOURCE_TYPE_ADMIN" };
    case "APP":
      return { sourceType: "CONTACT_SOURCE_TYPE_THIRD_PARTY", appId: caller.subject };
    default:
      return { sourceType: "CONTACT_SOURCE_TYPE_OTHER" };
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The values of the system field `members.membershipStatus` (reference §1.4). */
export const MEMBERSHIP_STATUSES = ["APPROVED", "PENDING", "DENIED", "INACTIVE"] as const;
export type MembershipStatus = (typeof MEMBERSHIP_STATUSES)[number];

/**
 * A contact's membership status as the reference names it, from its member info: an active
 * member is APPROVED, a pending one PENDING, a blocked one DENIED, an offline or deleted one
 * INACTIVE; a contact that is no member has none. (store/filter-compiler.ts says the same in SQL.)
 */
export function membershipStatus(member: MemberInfoJson | undefined): MembershipStatus | undefined {
  switch (member?.status) {
    case undefined:
      return undefined;
    case "MEMBER_STATUS_PENDING":
      return "PENDING";
    case "MEMBER_STATUS_BLOCKED":
      return "DENIED";
    case "MEMBER_STATUS_OFFLINE":
    case "MEMBER_STATUS_DELETED":
      return "INACTIVE";
    default:
      return "APPROVED";
  }
}

/** The system extended field values of a contact, computed from its info and member info. */
export function systemFieldValues(info: ContactInfoJson, member?: MemberInfoJson): Record<string, JsonValue> {
  const first = info.name?.first ?? "";
  const last = info.name?.last ?? "";
  const values: Record<string, JsonValue> = {};
  if (first || last) {
    values["contacts.displayByFirstName"] = [first, last].filter(Boolean).join(" ");
    values["contacts.displayByLastName"] = [last, first].filter(Boolean).join(" ");
  }
  const email = primaryEmail(info)?.email;
  if (email) {
    values["emailSubscriptions.subscriptionStatus"] = "NOT_SET";
    values["emailSubscriptions.deliverabilityStatus"] = "NOT_SET";
    values["emailSubscriptions.effectiveEmail"] = email;
  }
  const status = membershipStatus(member);
  if (status) values["members.membershipStatus"] = status;
  return values;
}

/**
 * Labels and extended fields that were deleted and are still being removed from the contacts
 * that had them (services/cleanup.ts). From the moment the delete returns they are invisible:
 * contacts are shown, written and queried as if the removal were done.
 */
export interface Stripped {
  labels: ReadonlySet<string>;
  fields: ReadonlySet<string>;
}

export const NOTHING_STRIPPED: Stripped = { labels: new Set(), fields: new Set() };

export const strips = (s: Stripped): boolean => s.labels.size > 0 || s.fields.size > 0;

/** `info` without the stripped labels and extended field values (the same object when it has none). */
export function stripInfo(info: ContactInfoJson, stripped: Stripped): ContactInfoJson {
  const labels = info.labelKeys?.items ?? [];
  const fields = info.extendedFields?.items ?? {};
  const dropLabels = labels.some((k) => stripped.labels.has(k));
  const dropFields = Object.keys(fields).some((k) => stripped.fields.has(k));
  if (!dropLabels && !dropFields) return info;
  const out: ContactInfoJson = { ...info };
  if (dropLabels) out.labelKeys = { items: labels.filter((k) => !stripped.labels.has(k)) };
  if (dropFields) out.extendedFields = { items: Object.fromEntries(Object.entries(fields).filter(([k]) => !stripped.fields.has(k))) };
  return dropEmpty(out);
}

/** The full contact a client sees (without what is being stripped). */
export function presentContact(stored: StoredContact, stripped: Stripped = NOTHING_STRIPPED): ContactJson {
  const c = strips(stripped) ? { ...stored, info: stripInfo(stored.info, stripped) } : stored;
  const email = primaryEmail(c.info);
  const phone = primaryPhone(c.info);
  const system = systemFieldValues(c.info, c.memberInfo);
  const custom = c.info.extendedFields?.items ?? {};
  const extended = { ...custom, ...system };
  const info: ContactInfoJson = { ...c.info };
  if (Object.keys(extended).length > 0) info.extendedFields = { items: extended };
  const out: ContactJson = {
    id: c.id,
    revision: c.revision,
    source: c.source,
    createdDate: iso(c.createdDate),
    updatedDate: iso(c.updatedDate),
    lastActivity: { activityDate: iso(c.lastActivity.activityDate), activityType: c.lastActivity.activityType },
    primaryInfo: { ...(email?.email ? { email: email.email } : {}), ...(phone?.phone ? { phone: phone.phone } : {}) },
    info,
  };
  if (email?.email) {
    out.primaryEmail = {
      email: email.email,
      subscriptionStatus: "SUBSCRIPTION_STATUS_NOT_SET",
      deliverabilityStatus: "EMAIL_DELIVERABILITY_STATUS_NOT_SET",
    };
  }
  if (phone?.phone) {
    const valid = Boolean(phone.e164Phone);
    out.primaryPhone = {
      phone: phone.phone,
      ...(phone.countryCode ? { countryCode: phone.countryCode } : {}),
      ...(phone.e164Phone ? { e164Phone: phone.e164Phone } : {}),
      ...(phone.formattedPhone ? { formattedPhone: phone.formattedPhone } : {}),
      subscriptionStatus: valid ? "SUBSCRIPTION_STATUS_NOT_SET" : "SUBSCRIPTION_STATUS_NO_SUBSCRIPTION_STATUS",
      deliverabilityStatus: valid ? "PHONE_DELIVERABILITY_STATUS_NOT_SET" : "PHONE_DELIVERABILITY_STATUS_NO_PHONE_DELIVERABILITY_STATUS",
    };
  }
  if (c.memberInfo) out.memberInfo = c.memberInfo;
  return out;
}

function invalidValue(key: string, path: string, description: string): DomainError {
  const field = `${path}.extended_fields.items["${key}"]`;
  return new DomainError("invalid_argument", "INVALID_EXTENDED_FIELD_VALUE", `${field}: ${description}`, { key }, [{ field, description }]);
}

const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * Checks extended field values against their fields' data types and returns them normalised
 * (URLs get `https://` when they have no scheme; null removes a value). Unknown keys and computed
 * system fields are refused; the stored system fields (STORED_SYSTEM_FIELDS) are written by the
 * callers their rule names.
 */
export function validateExtendedFieldValues(
  items: Record<string, JsonValue>,
  fields: ReadonlyMap<string, ExtendedField>,
  caller: Pick<Caller, "admin">,
  path = "info",
): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(items)) {
    const field = fields.get(key);
    if (!field) throw invalidValue(key, path, `no extended field "${key}" exists`);
    const stored = field.fieldType === "SYSTEM" ? STORED_SYSTEM_FIELDS.get(key) : undefined;
    if (field.fieldType === "SYSTEM" && !stored) throw invalidValue(key, path, `"${key}" is a system field and read-only`);
    if (stored?.writer === "admin" && !caller.admin) {
      const at = `${path}.extended_fields.items["${key}"]`;
      throw new DomainError("permission_denied", "MISSING_SCOPE", `${at}: only callers with scope contacts.admin write "${key}"`, {
        requiredScope: "contacts.admin",
        key,
      });
    }
    if (value === null) continue;
    const problem = stored?.check && (typeof value === "string" || typeof value === "number") ? stored.check(value) : undefined;
    if (problem) throw invalidValue(key, path, problem);
    switch (field.dataType) {
      case "TEXT":
        if (typeof value !== "string") throw invalidValue(key, path, "must be a string (TEXT field)");
        if ([...value].length > CONTACT_LIMITS.extendedFieldText) {
          throw invalidValue(key, path, `must be at most ${CONTACT_LIMITS.extendedFieldText} characters`);
        }
        out[key] = value;
        break;
      case "NUMBER":
        if (typeof value !== "number" || !Number.isFinite(value)) throw invalidValue(key, path, "must be a number (NUMBER field)");
        out[key] = value === 0 ? 0 : value; // -0 would come back as 0 from the stored JSON
        break;
      case "DATE":
        if (typeof value !== "string" || !isCalendarDate(value)) {
          throw invalidValue(key, path, "must be a date YYYY-MM-DD (DATE field)");
        }
        out[key] = value;
        break;
      case "URL": {
        if (typeof value !== "string" || value.trim() === "") throw invalidValue(key, path, "must be a URL string (URL field)");
        const url = SCHEME.test(value.trim()) ? value.trim() : `https://${value.trim()}`;
        if (!URL.canParse(url) || url.length > CONTACT_LIMITS.extendedFieldText) {
          throw invalidValue(key, path, "must be a valid URL (URL field)");
        }
        out[key] = url;
        break;
      }
    }
  }
  return out;
}

/**
 * The membership that protects a contact: any but one the membership system has deleted (API.md,
 * "Members whose status is DELETED are no longer protected").
 */
export function protectingMembership(c: StoredContact): MemberInfoJson | undefined {
  return c.memberInfo && c.memberInfo.status !== "MEMBER_STATUS_DELETED" ? c.memberInfo : undefined;
}

/** Members cannot be deleted here; owners and contributors get their own reason (reference §2.5). */
export function assertDeletable(c: StoredContact): void {
  const member = protectingMembership(c);
  if (!member) return;
  if (member.role === "MEMBER_ROLE_OWNER" || member.role === "MEMBER_ROLE_CONTRIBUTOR") {
    throw failedPrecondition("CANNOT_DELETE_MEMBER_OWNER_OR_CONTRIBUTOR", "the contact is the site's owner or a contributor and cannot be deleted", {
      contactId: c.id,
    });
  }
  throw failedPrecondition("CANNOT_DELETE_MEMBER", "the contact is a site member; delete the member first", {
    contactId: c.id,
  });
}

/** A member's primary email belongs to the membership system (reference §2.2 rule 7). */
export function assertMemberEmailUnchanged(before: StoredContact, after: ContactInfoJson): void {
  if (!protectingMembership(before)) return;
  const was = primaryEmail(before.info)?.email?.toLowerCase();
  const now = primaryEmail(after)?.email?.toLowerCase();
  if (was !== now) {
    throw failedPrecondition("CANNOT_UPDATE_MEMBER_EMAIL", "the contact is a site member: its primary email is managed by the membership system", {
      contactId: before.id,
    });
  }
}

/** A new contact of `caller`'s, created now: revision 1, its source by who is calling. */
export function newContact(caller: Caller, info: ContactInfoJson, now: number): StoredContact {
  return {
    id: crypto.randomUUID(),
    revision: 1,
    createdDate: now,
    updatedDate: now,
    source: sourceOf(caller),
    lastActivity: activity("CONTACT_ACTIVITY_TYPE_CONTACT_CREATED", now),
    info,
  };
}

/** `activityType` for a change. */
export function activity(type: ContactActivityTypeJson, at: number): StoredContact["lastActivity"] {
  return { activityDate: at, activityType: type };
}
