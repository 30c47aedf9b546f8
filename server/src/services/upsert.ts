/**
 * BulkUpsertContacts (the reference's internal batch upsert, up to 100 contacts): each item is
 * matched to a contact by the duplicate rule — one of its emails, or, when it has none, one of its
 * phones — and merged into it (domain/merge.ts upsertInfo), or created. An item that matches a
 * contact an earlier item of the batch created or changed is merged into that one, so a list with
 * repeats makes one contact. A bad item fails alone, with its reason and field.
 *
 * The whole batch is one transaction: its duplicate keys locked in one statement, the owners of
 * its emails and phones found in two, its labels and fields looked up once, its new contacts
 * inserted with multi-row statements and its events appended under one take of the tenant's
 * sequence lock. Every check of an item comes before anything is written, so a failed item
 * leaves nothing behind.
 */
import type { JsonValue } from "@bufbuild/protobuf";
import type { ContactInfoJson, ContactJson } from "../../../gen/contacts/v1/contact_pb.js";
import type { Caller } from "../domain/caller.js";
import { changedPaths, duplicateKeys, givenKeys, hasContactData, lockKeys, normaliseInfo } from "../domain/contact-info.js";
import { assertMemberEmailUnchanged, newContact, presentContact, type StoredContact, validateExtendedFieldValues } from "../domain/contacts.js";
import { DomainError, invalidField } from "../domain/errors.js";
import type { NewEvent } from "../domain/events.js";
import { upsertInfo } from "../domain/merge.js";
import { strippedIn } from "../store/cleanup-jobs.js";
import * as store from "../store/contacts.js";
import { appendEvents } from "../store/events.js";
import { extendedFieldsByKey } from "../store/extended-field-defs.js";
import { changedContact, contactEvent } from "./contacts.js";
import type { ServiceDeps } from "./deps.js";
import { type MutationMeta, runMutation } from "./mutation.js";

/** Most contacts in one BulkUpsertContacts (the reference's limit). */
export const UPSERT_MAX = 100;

export type UpsertAction = "CREATED" | "UPDATED" | "UNCHANGED" | "FAILED";

export interface UpsertResult {
  /** The item's index in the request. */
  originalIndex: number;
  action: UpsertAction;
  contactId?: string;
  contact?: ContactJson;
  error?: { code: string; message: string; field?: string };
}

/** A contact of the batch as it will be stored: new, or an existing one (locked) and how it was. */
interface Target {
  contact: StoredContact;
  before?: StoredContact;
}

function itemError(err: DomainError): NonNullable<UpsertResult["error"]> {
  const field = err.violations[0]?.field;
  return { code: err.reason, message: err.message, ...(field ? { field } : {}) };
}

export async function bulkUpsertContacts(
  deps: ServiceDeps,
  caller: Caller,
  items: readonly ContactInfoJson[],
  returnEntity: boolean,
  meta: MutationMeta,
): Promise<UpsertResult[]> {
  if (items.length === 0 || items.length > UPSERT_MAX) {
    throw invalidField("TOO_MANY_ITEMS", "contacts", `send 1 to ${UPSERT_MAX} contacts; got ${items.length}`);
  }
  // What can be checked without the database: each item's own values.
  const results: UpsertResult[] = items.map((_, originalIndex) => ({ originalIndex, action: "FAILED" }));
  const valid = new Map<number, ContactInfoJson>();
  items.forEach((raw, i) => {
    const path = `contacts[${i}]`;
    try {
      const info = normaliseInfo(raw, {}, path);
      if (!hasContactData(info)) {
        throw new DomainError("invalid_argument", "INSUFFICIENT_CONTACT_DATA", `${path}: a contact needs a name, an email or a phone`, {}, [
          { field: path, description: "needs a name, an email or a phone" },
        ]);
      }
      valid.set(i, info);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      results[i] = { originalIndex: i, action: "FAILED", error: itemError(err) };
    }
  });

  return runMutation(deps, caller, meta, async (trx) => {
    const tenantId = caller.tenantId;
    const keysOf = new Map([...valid].map(([i, info]) => [i, duplicateKeys(info)]));
    const emails = [...new Set([...keysOf.values()].flatMap((k) => k.emails))];
    const phones = [...new Set([...keysOf.values()].flatMap((k) => (k.emails.length === 0 ? k.phones : [])))];
    await store.lockDedupeKeys(trx, tenantId, lockKeys({ emails, phones }));
    const owners = await store.keyOwners(trx, tenantId, emails, phones);
    // Existing contacts the items match, locked in id order.
    // An item's keys are its emails, or without emails its phones (duplicateKeys): the first owned one matches.
    const matchOf = (k: { emails: string[]; phones: string[] }, owner: (key: string) => string | undefined) => lockKeys(k).map(owner).find(Boolean);
    const matched = [...new Set([...keysOf.values()].map((k) => matchOf(k, (key) => owners.get(key))).filter((id): id is string => id !== undefined))];
    const targets = new Map<string, Target>((await store.getContacts(trx, tenantId, matched, true)).map((c) => [c.id, { contact: c, before: c }]));
    const labelKeys = [...new Set([...valid.values()].flatMap((info) => info.labelKeys?.items ?? []))];
    const labels = await store.existingLabelKeys(trx, tenantId, labelKeys);
    const fieldKeys = [...new Set([...valid.values()].flatMap((info) => Object.keys(info.extendedFields?.items ?? {})))];
    const fields = fieldKeys.length > 0 ? await extendedFieldsByKey(trx, tenantId, fieldKeys) : new Map();
    // Keys taken by the batch so far: an item's key owned by a contact this batch wrote.
    const taken = new Map<string, string>();
    const ownerOf = (key: string) => taken.get(key) ?? owners.get(key);
    const now = Date.now();

    for (const [i, item] of valid) {
      const path = `contacts[${i}]`;
      try {
        const missing = (item.labelKeys?.items ?? []).find((k) => !labels.has(k));
        if (missing)
          throw new DomainError("not_found", "LABEL_NOT_FOUND", `${path}: label "${missing}" not found`, { labelKey: missing }, [
            { field: `${path}.label_keys`, description: `no label "${missing}"` },
          ]);
        const values = validateExtendedFieldValues((item.extendedFields?.items ?? {}) as Record<string, JsonValue>, fields, caller, path);
        const info: ContactInfoJson = { ...item, ...(item.extendedFields ? { extendedFields: { items: values } } : {}) };
        const id = matchOf(keysOf.get(i) as { emails: string[]; phones: string[] }, ownerOf);
        const target = id === undefined ? undefined : targets.get(id);
        let next: StoredContact;
        if (target) {
          const merged = upsertInfo(target.contact.info, info);
          assertMemberEmailUnchanged(target.contact, merged);
          // The item's other emails (or phones) may belong to yet another contact.
          const other = lockKeys(givenKeys(target.contact.info, merged))
            .map((key) => [key, ownerOf(key)] as const)
            .find(([, owner]) => owner !== undefined && owner !== target.contact.id);
          if (other) {
            throw new DomainError("already_exists", "DUPLICATE_CONTACT_EXISTS", `${path}: ${other[0].slice(2)} belongs to another contact`, {
              duplicateContactId: other[1] as string,
            });
          }
          next = { ...target.contact, info: merged };
        } else {
          next = newContact(caller, info, now);
        }
        targets.set(next.id, { contact: next, ...(target?.before ? { before: target.before } : {}) });
        for (const key of lockKeys(duplicateKeys(next.info))) taken.set(key, next.id);
        results[i] = { originalIndex: i, action: target === undefined ? "CREATED" : "UPDATED", contactId: next.id };
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        results[i] = { originalIndex: i, action: "FAILED", error: itemError(err) };
      }
    }

    // Write what the batch made: new contacts at once, changed ones each, then every event.
    const created: StoredContact[] = [];
    const events: NewEvent[] = [];
    const stored = new Map<string, StoredContact>();
    for (const { contact, before } of targets.values()) {
      if (!before) {
        created.push(contact);
        events.push(contactEvent("contact_created", contact));
        stored.set(contact.id, contact);
        continue;
      }
      const modifiedFields = changedPaths(before.info, contact.info);
      if (modifiedFields.length === 0) {
        stored.set(contact.id, before);
        continue;
      }
      const after = changedContact(before, { info: contact.info }, now);
      await store.updateContact(trx, tenantId, before, after);
      events.push(contactEvent("contact_updated", after, { modifiedFields }));
      stored.set(contact.id, after);
    }
    // The new contacts' rows go with the events (one round trip on MariaDB when all are new).
    await appendEvents(trx, caller, events, store.insertContactsStatements(trx, tenantId, created));
    const stripped = await strippedIn(trx, tenantId);
    return results.map((r) => {
      if (r.action === "FAILED" || r.contactId === undefined) return r;
      const contact = stored.get(r.contactId) as StoredContact;
      const unchanged = r.action === "UPDATED" && targets.get(r.contactId)?.before?.revision === contact.revision;
      return { ...r, ...(unchanged ? { action: "UNCHANGED" as const } : {}), ...(returnEntity ? { contact: presentContact(contact, stripped) } : {}) };
    });
  });
}
