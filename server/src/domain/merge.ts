/**
 * Merging contacts (reference §2.3): nothing on the target is overwritten; list data from each
 * source is appended in source order without repeating what is already there; scalars and
 * extended field values fill only what the target lacks, the first source that has one winning;
 * labels are united. The target's primary flags are kept; appended items are not primary.
 */
import type { ContactAddressJson, ContactEmailJson, ContactInfoJson, ContactPhoneJson } from "../../../gen/contacts/v1/contact_pb.js";
import { CONTACT_LIMITS, dropEmpty, emailKey, phoneKey } from "./contact-info.js";
import { protectingMembership, type StoredContact } from "./contacts.js";
import { DomainError, failedPrecondition, invalidField } from "./errors.js";

export const MERGE_SOURCES_MAX = 5;

/** Checks the shape of a merge request: 1–5 distinct sources, none of them the target. */
export function validateMergeRequest(targetId: string, sourceIds: readonly string[]): void {
  if (sourceIds.length === 0 || sourceIds.length > MERGE_SOURCES_MAX) {
    throw invalidField("INVALID_SOURCE_CONTACT_IDS", "source_contact_ids", `must name 1 to ${MERGE_SOURCES_MAX} contacts`);
  }
  if (sourceIds.includes(targetId)) {
    throw failedPrecondition("ILLEGAL_MERGE", "the target contact cannot also be a source", { contactId: targetId });
  }
  const seen = new Set<string>();
  for (const id of sourceIds) {
    if (seen.has(id)) throw failedPrecondition("ILLEGAL_MERGE", `source contact ${id} is listed twice`, { contactId: id });
    seen.add(id);
  }
}

/** Members, owners and contributors cannot be deleted, so they cannot be merge sources (a deleted membership protects nothing). */
export function assertMergeableSource(source: StoredContact): void {
  const member = protectingMembership(source);
  if (member) {
    throw failedPrecondition("ILLEGAL_MERGE", `source contact ${source.id} is a site member and can only be a merge target`, {
      contactId: source.id,
      memberRole: member.role ?? "MEMBER_ROLE_MEMBER",
    });
  }
}

function appendUnique<T>(target: readonly T[], sources: readonly (readonly T[])[], key: (item: T) => string): T[] {
  const seen = new Set(target.map(key));
  const out = [...target];
  for (const list of sources) {
    for (const item of list) {
      const k = key(item);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(item);
    }
  }
  return out;
}

/** Appended items arrive not primary; if the target had none of the kind, the first becomes primary. */
function keepPrimary<T extends { primary?: boolean }>(items: T[], targetCount: number): T[] {
  if (items.length === 0) return items;
  if (targetCount > 0) return items.map((item, i) => (i < targetCount ? item : { ...item, primary: false }));
  return items.map((item, i) => ({ ...item, primary: i === 0 }));
}

function limit(field: string, items: readonly unknown[], max: number): void {
  if (items.length > max) {
    throw new DomainError(
      "failed_precondition",
      "MERGE_LIMIT_EXCEEDED",
      `the merged contact would have ${items.length} ${field} items; at most ${max} are allowed. Nothing was merged.`,
      { field, count: String(items.length), limit: String(max) },
    );
  }
}

/** The target's info after merging the sources into it, in order. */
export function mergeInfo(target: ContactInfoJson, sources: readonly ContactInfoJson[]): ContactInfoJson {
  const emails = appendUnique<ContactEmailJson>(
    target.emails?.items ?? [],
    sources.map((s) => s.emails?.items ?? []),
    (e) => emailKey(e.email ?? ""),
  );
  const phones = appendUnique<ContactPhoneJson>(
    target.phones?.items ?? [],
    sources.map((s) => s.phones?.items ?? []),
    (p) => phoneKey(p),
  );
  const addresses = appendUnique<ContactAddressJson>(
    target.addresses?.items ?? [],
    sources.map((s) => s.addresses?.items ?? []),
    (a) => JSON.stringify(a.address ?? {}),
  );
  const labelKeys = appendUnique(
    target.labelKeys?.items ?? [],
    sources.map((s) => s.labelKeys?.items ?? []),
    (k) => k,
  );
  const locations = appendUnique(
    target.locations?.items ?? [],
    sources.map((s) => s.locations?.items ?? []),
    (k) => k,
  );
  const assigned = appendUnique(
    target.assignedUserIds?.items ?? [],
    sources.map((s) => s.assignedUserIds?.items ?? []),
    (k) => k,
  );
  limit("info.emails", emails, CONTACT_LIMITS.items);
  limit("info.phones", phones, CONTACT_LIMITS.items);
  limit("info.addresses", addresses, CONTACT_LIMITS.items);
  limit("info.labelKeys", labelKeys, CONTACT_LIMITS.labelKeys);
  limit("info.locations", locations, CONTACT_LIMITS.idList);
  limit("info.assignedUserIds", assigned, CONTACT_LIMITS.idList);

  const first = <T>(pick: (info: ContactInfoJson) => T | undefined): T | undefined => {
    for (const info of [target, ...sources]) {
      const v = pick(info);
      if (v !== undefined && v !== "") return v;
    }
    return undefined;
  };
  const extended: Record<string, unknown> = {};
  for (const info of [...sources].reverse()) Object.assign(extended, info.extendedFields?.items ?? {});
  Object.assign(extended, target.extendedFields?.items ?? {});

  return dropEmpty({
    name: {
      ...(first((i) => i.name?.first) ? { first: first((i) => i.name?.first) } : {}),
      ...(first((i) => i.name?.last) ? { last: first((i) => i.name?.last) } : {}),
    },
    emails: { items: keepPrimary(emails, target.emails?.items?.length ?? 0) },
    phones: { items: keepPrimary(phones, target.phones?.items?.length ?? 0) },
    addresses: { items: addresses },
    ...(first((i) => i.company) !== undefined ? { company: first((i) => i.company) } : {}),
    ...(first((i) => i.jobTitle) !== undefined ? { jobTitle: first((i) => i.jobTitle) } : {}),
    ...(first((i) => i.birthdate) !== undefined ? { birthdate: first((i) => i.birthdate) } : {}),
    ...(first((i) => i.locale) !== undefined ? { locale: first((i) => i.locale) } : {}),
    ...(first((i) => i.picture?.image) !== undefined ? { picture: { image: first((i) => i.picture?.image) as string } } : {}),
    labelKeys: { items: labelKeys },
    locations: { items: locations },
    assignedUserIds: { items: assigned },
    extendedFields: { items: extended as NonNullable<ContactInfoJson["extendedFields"]>["items"] },
  });
}

/**
 * A contact's info after an upsert brings `item` to it (BulkUpsertContacts, imports): the item's
 * names and other single values are newer and replace the contact's; its emails, phones,
 * addresses, labels and the like are added to the contact's as a merge adds a source's (the
 * contact's primary ones stay primary); its extended field values are set. Throws TOO_MANY_ITEMS
 * when a list would grow past its limit.
 */
export function upsertInfo(existing: ContactInfoJson, item: ContactInfoJson): ContactInfoJson {
  let merged: ContactInfoJson;
  try {
    merged = mergeInfo(existing, [item]);
  } catch (err) {
    if (!(err instanceof DomainError) || err.reason !== "MERGE_LIMIT_EXCEEDED") throw err;
    throw new DomainError("invalid_argument", "TOO_MANY_ITEMS", err.message.replace(" Nothing was merged.", ""), err.metadata);
  }
  const scalar = <K extends "company" | "jobTitle" | "birthdate" | "locale">(key: K) => (item[key] ? { [key]: item[key] } : {});
  return dropEmpty({
    ...merged,
    name: { ...merged.name, ...(item.name?.first ? { first: item.name.first } : {}), ...(item.name?.last ? { last: item.name.last } : {}) },
    ...scalar("company"),
    ...scalar("jobTitle"),
    ...scalar("birthdate"),
    ...scalar("locale"),
    ...(item.picture?.image ? { picture: item.picture } : {}),
    extendedFields: { items: { ...(merged.extendedFields?.items ?? {}), ...(item.extendedFields?.items ?? {}) } },
  });
}
