/**
 * The rules for the writable part of a contact (`info`): limits, normalisation, primary flags,
 * phones, update semantics. Contacts are handled in their protobuf JSON form (the generated
 * `*Json` types), which is also the reference's REST shape.
 */
import { randomUUID } from "node:crypto";
import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/max";
import type { AddressJson, ContactAddressJson, ContactEmailJson, ContactInfoJson, ContactPhoneJson } from "../../../gen/contacts/v1/contact_pb.js";
import { DomainError, invalidField } from "./errors.js";

export const CONTACT_LIMITS = {
  name: 1000,
  items: 50,
  email: 320,
  phone: 50,
  company: 1000,
  jobTitle: 1000,
  locale: 50,
  labelKeys: 2000,
  labelKey: 80,
  picture: 2000,
  idList: 50,
  street: { number: 100, name: 1000, apt: 100 },
  addressLine: 1000,
  city: 1000,
  subdivision: 100,
  postalCode: 100,
  formattedAddress: 2000,
  hint: 200,
  extendedFieldText: 2000,
} as const;

function tooLong(field: string, max: number) {
  return invalidField("VALUE_TOO_LONG", field, `must be at most ${max} characters`);
}

function checkLength(value: string | undefined, max: number, field: string): void {
  if (value !== undefined && [...value].length > max) throw tooLong(field, max);
}

function checkCount(items: readonly unknown[] | undefined, max: number, field: string): void {
  if (items && items.length > max) {
    throw invalidField("TOO_MANY_ITEMS", field, `must have at most ${max} items`);
  }
}

// Pragmatic syntax check: one @, no spaces, a dot in the domain. Deliverability is not ours to judge.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const LOCALE = /^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$/;
const COUNTRY = /^[A-Z]{2}$/;

/** True for a real calendar date `YYYY-MM-DD`. */
export function isCalendarDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

/** How emails are compared for duplicates: trimmed and lower-cased. */
export function emailKey(email: string): string {
  return email.trim().toLowerCase();
}

/** How phones are compared for duplicates: E.164 when known, else the digits. */
export function phoneKey(phone: ContactPhoneJson): string {
  return phone.e164Phone || (phone.phone ?? "").replace(/\D/g, "");
}

/** E.164 and international format of a phone, from `phone` and `countryCode` (libphonenumber). */
export function parsePhone(phone: string, countryCode: string | undefined): { e164?: string; formatted?: string } {
  const parsed = parsePhoneNumberFromString(phone, countryCode ? { defaultCountry: countryCode as CountryCode } : undefined);
  if (!parsed?.isValid()) return {};
  return { e164: parsed.number, formatted: parsed.formatInternational() };
}

function ensureId(id: string | undefined, keep: ReadonlySet<string>): string {
  // An echoed id keeps the item's identity; anything else gets a fresh one.
  return id && keep.has(id) ? id : randomUUID();
}

/** Picks the primary item: the one flagged, else the first. More than one flagged is an error. */
function normalisePrimary<T extends { primary?: boolean }>(items: T[], field: string): T[] {
  const flagged = items.filter((i) => i.primary === true).length;
  if (flagged > 1) {
    throw new DomainError("invalid_argument", "CANNOT_HAVE_MULTIPLE_PRIMARY_INFO", `${field}: at most one item may be primary`, {}, [
      { field, description: "at most one item may be primary" },
    ]);
  }
  const primaryIndex = flagged === 1 ? items.findIndex((i) => i.primary === true) : 0;
  return items.map((item, i) => ({ ...item, primary: i === primaryIndex }));
}

function normaliseEmails(items: ContactEmailJson[], keepIds: ReadonlySet<string>, path: string): ContactEmailJson[] {
  checkCount(items, CONTACT_LIMITS.items, `${path}.items`);
  const out = items.map((item, i) => {
    const field = `${path}.items[${i}].email`;
    const email = (item.email ?? "").trim();
    if (email.length === 0) throw invalidField("REQUIRED_FIELD_MISSING", field, "is required");
    checkLength(email, CONTACT_LIMITS.email, field);
    if (!EMAIL.test(email)) throw invalidField("INVALID_EMAIL", field, "is not a valid email address");
    const tag = !item.tag || item.tag === "EMAIL_TAG_UNSPECIFIED" ? "EMAIL_TAG_UNTAGGED" : item.tag;
    return { id: ensureId(item.id, keepIds), tag, email, ...(item.primary !== undefined ? { primary: item.primary } : {}) };
  });
  return normalisePrimary(out, `${path}.items`);
}

function normalisePhones(items: ContactPhoneJson[], keepIds: ReadonlySet<string>, path: string): ContactPhoneJson[] {
  checkCount(items, CONTACT_LIMITS.items, `${path}.items`);
  const out = items.map((item, i) => {
    const field = `${path}.items[${i}]`;
    const phone = (item.phone ?? "").trim();
    if (phone.length === 0) throw invalidField("REQUIRED_FIELD_MISSING", `${field}.phone`, "is required");
    checkLength(phone, CONTACT_LIMITS.phone, `${field}.phone`);
    const countryCode = item.countryCode?.trim().toUpperCase() || undefined;
    if (countryCode !== undefined && !COUNTRY.test(countryCode)) {
      throw invalidField("INVALID_COUNTRY_CODE", `${field}.country_code`, "must be an ISO-3166 alpha-2 code such as US");
    }
    const { e164, formatted } = parsePhone(phone, countryCode);
    const tag = !item.tag || item.tag === "PHONE_TAG_UNSPECIFIED" ? "PHONE_TAG_UNTAGGED" : item.tag;
    return {
      id: ensureId(item.id, keepIds),
      tag,
      ...(countryCode ? { countryCode } : {}),
      phone,
      ...(e164 ? { e164Phone: e164 } : {}),
      ...(formatted ? { formattedPhone: formatted } : {}),
      ...(item.primary !== undefined ? { primary: item.primary } : {}),
    } satisfies ContactPhoneJson;
  });
  return normalisePrimary(out, `${path}.items`);
}

function normaliseAddress(address: AddressJson | undefined, path: string): AddressJson {
  const a = address ?? {};
  if (a.streetAddress !== undefined && a.addressLine !== undefined) {
    throw invalidField("INVALID_ADDRESS", path, "street_address and address_line are alternatives; send one");
  }
  const L = CONTACT_LIMITS;
  checkLength(a.streetAddress?.number, L.street.number, `${path}.street_address.number`);
  checkLength(a.streetAddress?.name, L.street.name, `${path}.street_address.name`);
  checkLength(a.streetAddress?.apt, L.street.apt, `${path}.street_address.apt`);
  checkLength(a.addressLine, L.addressLine, `${path}.address_line`);
  checkLength(a.addressLine2, L.addressLine, `${path}.address_line2`);
  checkLength(a.city, L.city, `${path}.city`);
  checkLength(a.subdivision, L.subdivision, `${path}.subdivision`);
  checkLength(a.postalCode, L.postalCode, `${path}.postal_code`);
  checkLength(a.formattedAddress, L.formattedAddress, `${path}.formatted_address`);
  checkLength(a.hint, L.hint, `${path}.hint`);
  if (a.country !== undefined && a.country !== "" && !COUNTRY.test(a.country)) {
    throw invalidField("INVALID_COUNTRY_CODE", `${path}.country`, "must be an ISO-3166 alpha-2 code such as US");
  }
  const g = a.geocode;
  if (g) {
    const lat = Number(g.latitude ?? 0);
    const lng = Number(g.longitude ?? 0);
    if (!(Math.abs(lat) <= 90) || !(Math.abs(lng) <= 180)) {
      throw invalidField("INVALID_GEOCODE", `${path}.geocode`, "latitude must be within ±90 and longitude within ±180");
    }
  }
  return a;
}

function normaliseAddresses(items: ContactAddressJson[], keepIds: ReadonlySet<string>, path: string): ContactAddressJson[] {
  checkCount(items, CONTACT_LIMITS.items, `${path}.items`);
  return items.map((item, i) => ({
    id: ensureId(item.id, keepIds),
    tag: !item.tag || item.tag === "ADDRESS_TAG_UNSPECIFIED" ? "ADDRESS_TAG_UNTAGGED" : item.tag,
    address: normaliseAddress(item.address, `${path}.items[${i}].address`),
  }));
}

function idsOf(items: readonly { id?: string }[] | undefined): Set<string> {
  return new Set((items ?? []).map((i) => i.id).filter((id): id is string => Boolean(id)));
}

function normaliseIdList(items: string[] | undefined, path: string): string[] {
  const list = items ?? [];
  checkCount(list, CONTACT_LIMITS.idList, `${path}.items`);
  list.forEach((id, i) => {
    checkLength(id, 100, `${path}.items[${i}]`);
  });
  return [...new Set(list)];
}

/** Label keys as sent: de-duplicated, each a plausible key. Existence is checked by the service. */
export function normaliseLabelKeys(keys: readonly string[], path: string, max: number): string[] {
  checkCount(keys as string[], max, path);
  keys.forEach((key, i) => {
    if (key.length === 0) throw invalidField("INVALID_LABEL_KEY", `${path}[${i}]`, "must not be empty");
    checkLength(key, CONTACT_LIMITS.labelKey, `${path}[${i}]`);
  });
  return [...new Set(keys)];
}

/**
 * Validates and normalises client-sent info: trims, checks every limit, assigns item ids
 * (keeping the ids of `previous` items the client echoed), sets primary flags, parses phones.
 * Extended field values and label existence are checked by the service, which knows them.
 */
export function normaliseInfo(info: ContactInfoJson, previous: ContactInfoJson = {}, path = "info"): ContactInfoJson {
  const out: ContactInfoJson = {};
  if (info.name !== undefined) {
    checkLength(info.name.first, CONTACT_LIMITS.name, `${path}.name.first`);
    checkLength(info.name.last, CONTACT_LIMITS.name, `${path}.name.last`);
    out.name = {
      ...(info.name.first?.trim() ? { first: info.name.first.trim() } : {}),
      ...(info.name.last?.trim() ? { last: info.name.last.trim() } : {}),
    };
  }
  if (info.emails !== undefined) {
    out.emails = { items: normaliseEmails(info.emails.items ?? [], idsOf(previous.emails?.items), `${path}.emails`) };
  }
  if (info.phones !== undefined) {
    out.phones = { items: normalisePhones(info.phones.items ?? [], idsOf(previous.phones?.items), `${path}.phones`) };
  }
  if (info.addresses !== undefined) {
    out.addresses = {
      items: normaliseAddresses(info.addresses.items ?? [], idsOf(previous.addresses?.items), `${path}.addresses`),
    };
  }
  for (const [key, max, field] of [
    ["company", CONTACT_LIMITS.company, "company"],
    ["jobTitle", CONTACT_LIMITS.jobTitle, "job_title"],
  ] as const) {
    const value = info[key];
    if (value !== undefined) {
      checkLength(value, max, `${path}.${field}`);
      out[key] = value.trim();
    }
  }
  if (info.birthdate !== undefined && info.birthdate !== "") {
    if (!isCalendarDate(info.birthdate)) throw invalidField("INVALID_DATE", `${path}.birthdate`, "must be a date YYYY-MM-DD");
    out.birthdate = info.birthdate;
  } else if (info.birthdate !== undefined) {
    out.birthdate = "";
  }
  if (info.locale !== undefined && info.locale !== "") {
    checkLength(info.locale, CONTACT_LIMITS.locale, `${path}.locale`);
    if (!LOCALE.test(info.locale)) throw invalidField("INVALID_LOCALE", `${path}.locale`, "must be a BCP-47 language tag such as en-US");
    out.locale = info.locale;
  } else if (info.locale !== undefined) {
    out.locale = "";
  }
  if (info.labelKeys !== undefined) {
    out.labelKeys = { items: normaliseLabelKeys(info.labelKeys.items ?? [], `${path}.label_keys.items`, CONTACT_LIMITS.labelKeys) };
  }
  if (info.extendedFields !== undefined) out.extendedFields = { items: { ...(info.extendedFields.items ?? {}) } };
  if (info.picture !== undefined) {
    checkLength(info.picture.image, CONTACT_LIMITS.picture, `${path}.picture.image`);
    out.picture = info.picture;
  }
  if (info.assignedUserIds !== undefined) {
    out.assignedUserIds = { items: normaliseIdList(info.assignedUserIds.items, `${path}.assigned_user_ids`) };
  }
  if (info.locations !== undefined) out.locations = { items: normaliseIdList(info.locations.items, `${path}.locations`) };
  return dropEmpty(out);
}

/** Removes empty scalars and wrappers so that "cleared" and "never set" store the same way. */
export function dropEmpty(info: ContactInfoJson): ContactInfoJson {
  const out: ContactInfoJson = { ...info };
  if (out.name && !out.name.first && !out.name.last) delete out.name;
  for (const key of ["emails", "phones", "addresses", "labelKeys", "assignedUserIds", "locations"] as const) {
    const wrapper = out[key] as { items?: unknown[] } | undefined;
    if (wrapper && (wrapper.items ?? []).length === 0) delete out[key];
  }
  if (out.extendedFields && Object.keys(out.extendedFields.items ?? {}).length === 0) delete out.extendedFields;
  for (const key of ["company", "jobTitle", "birthdate", "locale"] as const) if (out[key] === "") delete out[key];
  if (out.picture && !out.picture.image) delete out.picture;
  return out;
}

/** A contact needs a name, an email or a phone. */
export function hasContactData(info: ContactInfoJson): boolean {
  return Boolean(info.name?.first || info.name?.last || info.emails?.items?.length || info.phones?.items?.length);
}

/** The paths of `info` an update may name in its field mask (proto spelling). */
export const MASKABLE_PATHS = [
  "info.name",
  "info.name.first",
  "info.name.last",
  "info.emails",
  "info.phones",
  "info.addresses",
  "info.company",
  "info.job_title",
  "info.birthdate",
  "info.locale",
  "info.label_keys",
  "info.extended_fields",
  "info.picture",
  "info.assigned_user_ids",
  "info.locations",
] as const;

const SNAKE_TO_JSON: Record<string, keyof ContactInfoJson> = {
  name: "name",
  emails: "emails",
  phones: "phones",
  addresses: "addresses",
  company: "company",
  job_title: "jobTitle",
  birthdate: "birthdate",
  locale: "locale",
  label_keys: "labelKeys",
  extended_fields: "extendedFields",
  picture: "picture",
  assigned_user_ids: "assignedUserIds",
  locations: "locations",
};

function toSnake(path: string): string {
  return path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Checks field mask paths; accepts `info.jobTitle` and `info.job_title`, and `info.extended_fields.<key>`. */
export function parseFieldMask(paths: readonly string[]): string[] {
  return paths.map((raw, i) => {
    const path = raw.startsWith("info.extendedFields.")
      ? `info.extended_fields.${raw.slice(20)}`
      : raw.startsWith("info.extended_fields.")
        ? raw
        : toSnake(raw);
    const allowed = (MASKABLE_PATHS as readonly string[]).includes(path) || /^info\.extended_fields\.[^.\s]+\..+$/.test(path);
    if (!allowed) {
      throw invalidField("INVALID_FIELD_MASK", `field_mask.paths[${i}]`, `"${raw}" is not an updatable path of info`);
    }
    return path;
  });
}

/**
 * The info after an update (API.md): without a mask each top-level part present in `patch`
 * replaces the stored one whole; with a mask only the masked paths change, and a masked path
 * absent from `patch` is cleared. Extended fields can be masked one key at a time.
 */
export function applyUpdate(current: ContactInfoJson, patch: ContactInfoJson, mask: readonly string[] | undefined): ContactInfoJson {
  const next: ContactInfoJson = structuredClone(current);
  const set = (key: keyof ContactInfoJson, value: unknown) => {
    if (value === undefined) delete next[key];
    else (next as Record<string, unknown>)[key] = value;
  };
  if (!mask) {
    for (const key of Object.keys(patch) as (keyof ContactInfoJson)[]) set(key, patch[key]);
    return next;
  }
  for (const path of mask) {
    const parts = path.split(".").slice(1);
    const top = SNAKE_TO_JSON[parts[0] ?? ""];
    if (!top) continue;
    if (top === "name" && parts.length === 2) {
      const sub = parts[1] as "first" | "last";
      const name = { ...(next.name ?? {}) };
      const value = patch.name?.[sub];
      if (value === undefined) delete name[sub];
      else name[sub] = value;
      next.name = name;
    } else if (top === "extendedFields" && parts.length > 1) {
      const key = parts.slice(1).join(".");
      const items = { ...(next.extendedFields?.items ?? {}) };
      const value = patch.extendedFields?.items?.[key];
      if (value === undefined) delete items[key];
      else items[key] = value;
      next.extendedFields = { items };
    } else {
      set(top, patch[top]);
    }
  }
  return next;
}

/** The top-level info paths whose value differs between two infos (for `modified_fields`). */
export function changedPaths(before: ContactInfoJson, after: ContactInfoJson): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]) as Set<keyof ContactInfoJson>;
  return [...keys]
    .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
    .map((k) => `info.${k}`)
    .sort();
}

/** The primary email of an info, if any. */
export function primaryEmail(info: ContactInfoJson): ContactEmailJson | undefined {
  const items = info.emails?.items ?? [];
  return items.find((e) => e.primary) ?? items[0];
}

/** The primary phone of an info, if any. */
export function primaryPhone(info: ContactInfoJson): ContactPhoneJson | undefined {
  const items = info.phones?.items ?? [];
  return items.find((p) => p.primary) ?? items[0];
}

/** Keys the duplicate check compares: every email; phones only when there is no email. */
export function duplicateKeys(info: ContactInfoJson): { emails: string[]; phones: string[] } {
  const emails = [...new Set((info.emails?.items ?? []).map((e) => emailKey(e.email ?? "")))];
  const phones = emails.length > 0 ? [] : [...new Set((info.phones?.items ?? []).map(phoneKey).filter(Boolean))];
  return { emails, phones };
}

/** The names of the row locks a write takes on duplicate keys (`e:<email>`, `p:<phone>`; store/contacts.ts keyOwners uses the same). */
export function lockKeys(keys: { emails: readonly string[]; phones: readonly string[] }): string[] {
  return [...keys.emails.map((e) => `e:${e}`), ...keys.phones.map((p) => `p:${p}`)];
}

/**
 * The duplicate keys a change gives a contact: those of its new info it did not have (reference
 * §2.2 rule 5, as for a create). A contact created as a duplicate (allow_duplicates) is not
 * checked again for the keys it already had.
 */
export function givenKeys(before: ContactInfoJson, next: ContactInfoJson): { emails: string[]; phones: string[] } {
  const had = duplicateKeys(before);
  const has = duplicateKeys(next);
  return { emails: has.emails.filter((e) => !had.emails.includes(e)), phones: has.phones.filter((p) => !had.phones.includes(p)) };
}
