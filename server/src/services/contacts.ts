/**
 * The contact lifecycle: create, read, update, label, member info, delete. Every write runs in
 * one transaction with its idempotency claim, its duplicate-key locks, its contact row lock and
 * its event, so a write is either wholly there (with its event) or not at all.
 */
import type { Knex } from "knex";
import type { JsonValue } from "@bufbuild/protobuf";
import type { ContactInfoJson, ContactJson, MemberInfoJson } from "../../../gen/contacts/v1/contact_pb.js";
import type { Caller } from "../domain/caller.js";
import {
  applyUpdate,
  CONTACT_LIMITS,
  changedPaths,
  dropEmpty,
  duplicateKeys,
  givenKeys,
  lockKeys,
  hasContactData,
  normaliseInfo,
} from "../domain/contact-info.js";
import {
  assertDeletable,
  assertMemberEmailUnchanged,
  newContact,
  presentContact,
  type StoredContact,
  systemFieldValues,
  validateExtendedFieldValues,
} from "../domain/contacts.js";
import { DomainError, invalidField, notFound } from "../domain/errors.js";
import { type ExtendedField, STORED_SYSTEM_FIELDS } from "../domain/extended-fields.js";
import { ENTITY_FQDN, type NewEvent } from "../domain/events.js";
import { strippedIn } from "../store/cleanup-jobs.js";
import * as store from "../store/contacts.js";
import { appendEvents } from "../store/events.js";
import { extendedFieldsByKey, extendedFieldsFromRows, extendedFieldsQuery } from "../store/extended-field-defs.js";
import { sendTogether } from "../store/db.js";
import type { ServiceDeps } from "./deps.js";
import { type MutationMeta, runMutation } from "./mutation.js";

export function contactNotFound(id: string): DomainError {
  return notFound("CONTACT_NOT_FOUND", `contact "${id}" not found`, { contactId: id });
}

/** The event of a contact change. */
export function contactEvent(
  type: "contact_created" | "contact_updated" | "contact_deleted",
  contact: StoredContact,
  extra: { modifiedFields?: string[]; originatedFrom?: string } = {},
): NewEvent {
  const slug = type === "contact_created" ? "created" : type === "contact_updated" ? "updated" : "deleted";
  return {
    eventType: type,
    entityFqdn: ENTITY_FQDN.contact,
    slug,
    entityId: contact.id,
    ...extra,
    payload: { kind: "contact", contact: presentContact(contact) },
  };
}

type DuplicateKeys = ReturnType<typeof duplicateKeys>;

/** Locks duplicate keys and fails if another contact holds one (unless allowed). */
async function checkDuplicates(trx: Knex.Transaction, caller: Caller, keys: DuplicateKeys, allowDuplicates: boolean, selfId?: string): Promise<void> {
  await store.lockDedupeKeys(trx, caller.tenantId, lockKeys(keys));
  if (!allowDuplicates) assertNoDuplicate(await store.findDuplicate(trx, caller.tenantId, keys, selfId));
}

function assertNoDuplicate(dup: store.Duplicate | undefined): void {
  if (dup) {
    throw new DomainError(
      "already_exists",
      "DUPLICATE_CONTACT_EXISTS",
      dup.email ? `a contact with email ${dup.email} already exists` : `a contact with phone ${dup.phone} already exists`,
      {
        duplicateContactId: dup.contactId,
        ...(dup.email ? { duplicateEmail: dup.email } : {}),
        ...(dup.phone ? { duplicatePhone: dup.phone } : {}),
      },
    );
  }
}

/** Fails with LABEL_NOT_FOUND for the first key that is not a label of the tenant. */
export async function assertLabelsExist(db: Knex | Knex.Transaction, caller: Caller, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const existing = await store.existingLabelKeys(db, caller.tenantId, keys);
  const missing = keys.find((k) => !existing.has(k));
  if (missing) throw notFound("LABEL_NOT_FOUND", `label "${missing}" not found`, { labelKey: missing });
}

/** Validates the extended field values that `next` sets differently from `previous`. */
async function checkExtendedFields(db: Knex | Knex.Transaction, caller: Caller, next: ContactInfoJson, previous: ContactInfoJson): Promise<ContactInfoJson> {
  const kept = keepAdminValues(caller, next, previous);
  const changed = changedFieldValues(kept, previous);
  if (Object.keys(changed).length === 0) return kept;
  return withValidFieldValues(caller, kept, changed, await extendedFieldsByKey(db, caller.tenantId, Object.keys(changed)));
}

/**
 * `next` keeping the values only `contacts.admin` writes (the `ecom.*` system fields) that
 * `previous` has, when the caller is not an admin: replacing a contact's extended fields does
 * not erase what the store wrote.
 */
function keepAdminValues(caller: Caller, next: ContactInfoJson, previous: ContactInfoJson): ContactInfoJson {
  const before = previous.extendedFields?.items ?? {};
  const now = next.extendedFields?.items;
  if (caller.admin || !now) return next;
  const kept = Object.entries(before).filter(([k]) => STORED_SYSTEM_FIELDS.get(k)?.writer === "admin" && !(k in now));
  return kept.length === 0 ? next : { ...next, extendedFields: { items: { ...now, ...Object.fromEntries(kept) } } };
}

/** The extended field values `next` sets differently from `previous`. */
function changedFieldValues(next: ContactInfoJson, previous: ContactInfoJson): Record<string, JsonValue> {
  const before = previous.extendedFields?.items ?? {};
  return Object.fromEntries(Object.entries(next.extendedFields?.items ?? {}).filter(([k, v]) => JSON.stringify(before[k]) !== JSON.stringify(v))) as Record<
    string,
    JsonValue
  >;
}

/** `next` with its changed values validated against their fields' definitions (`defs`). */
function withValidFieldValues(
  caller: Caller,
  next: ContactInfoJson,
  changed: Record<string, JsonValue>,
  defs: ReadonlyMap<string, ExtendedField>,
): ContactInfoJson {
  if (Object.keys(changed).length === 0) return next;
  const valid = validateExtendedFieldValues(changed, defs, caller);
  const merged: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(next.extendedFields?.items ?? {})) {
    if (!(k in changed)) merged[k] = v;
    else if (k in valid) merged[k] = valid[k] as JsonValue;
  }
  return dropEmpty({ ...next, extendedFields: { items: merged } });
}

function insufficient(reason: string, message: string): DomainError {
  return new DomainError("invalid_argument", reason, message, {}, [{ field: "info", description: "needs a name, an email or a phone" }]);
}

export async function createContact(
  deps: ServiceDeps,
  caller: Caller,
  rawInfo: ContactInfoJson,
  allowDuplicates: boolean,
  meta: MutationMeta,
): Promise<ContactJson> {
  const info = normaliseInfo(rawInfo);
  if (!hasContactData(info)) {
    throw insufficient("INSUFFICIENT_CONTACT_DATA", "a contact needs a name, an email or a phone");
  }
  return runMutation(deps, caller, meta, async (trx) => {
    // Its duplicate keys locked, and what its checks read, in one round trip on MariaDB.
    const labelKeys = info.labelKeys?.items ?? [];
    const fields = changedFieldValues(info, {});
    const lock = store.dedupeLockStatement(trx, caller.tenantId, lockKeys(duplicateKeys(info)));
    const reads = {
      duplicate: allowDuplicates ? undefined : store.duplicateQuery(trx, caller.tenantId, duplicateKeys(info)),
      labels: store.labelKeysQuery(trx, caller.tenantId, labelKeys),
      fields: extendedFieldsQuery(trx, caller.tenantId, Object.keys(fields)),
    };
    const sent = Object.entries(reads).filter(([, q]) => q !== undefined) as [keyof typeof reads, Knex.QueryBuilder][];
    const results = await sendTogether(trx, [...(lock ? [lock] : []), ...sent.map(([, q]) => q)]);
    const rowsOf = (name: keyof typeof reads) => {
      const i = sent.findIndex(([n]) => n === name);
      return (i < 0 ? [] : results[(lock ? 1 : 0) + i]) as never[];
    };
    assertNoDuplicate(store.duplicateOf(rowsOf("duplicate")));
    const existing = new Set((rowsOf("labels") as { key: string }[]).map((r) => r.key));
    const missing = labelKeys.find((k) => !existing.has(k));
    if (missing) throw notFound("LABEL_NOT_FOUND", `label "${missing}" not found`, { labelKey: missing });
    const checked = withValidFieldValues(caller, info, fields, extendedFieldsFromRows(rowsOf("fields")));
    const contact = newContact(caller, checked, Date.now());
    // The contact's rows go with its event (one round trip on MariaDB).
    await appendEvents(trx, caller, [contactEvent("contact_created", contact)], store.insertContactsStatements(trx, caller.tenantId, [contact]));
    return presentContact(contact);
  });
}

/** A contact by id; a merged-away id resolves to the contact it was merged into. */
export async function getContact(deps: ServiceDeps, caller: Caller, id: string): Promise<{ contact: ContactJson; merged: boolean }> {
  await deps.tenants.ensure(caller.tenantId);
  const found = await store.getContactAndStripped(deps.db, caller.tenantId, id);
  if (found) return { contact: presentContact(found.contact, found.stripped), merged: false };
  const target = await store.redirectTarget(deps.db, caller.tenantId, id);
  const merged = target ? await store.getContactAndStripped(deps.db, caller.tenantId, target) : undefined;
  if (!merged) throw contactNotFound(id);
  return { contact: presentContact(merged.contact, merged.stripped), merged: true };
}

async function lockedContact(trx: Knex.Transaction, caller: Caller, id: string): Promise<StoredContact> {
  const c = await store.getContact(trx, caller.tenantId, id, true);
  if (!c) throw contactNotFound(id);
  return c;
}

/** The contact after a change: the change applied, its revision bumped and its update date now. */
export function changedContact(
  before: StoredContact,
  change: Partial<Pick<StoredContact, "info" | "memberInfo" | "lastActivity">>,
  now = Date.now(),
): StoredContact {
  const after: StoredContact = { ...before, ...change, revision: before.revision + 1, updatedDate: now };
  if ("memberInfo" in change && change.memberInfo === undefined) delete after.memberInfo;
  return after;
}

/** Saves a changed contact with its revision bumped and its event; unchanged contacts are left alone. */
async function saveChange(
  trx: Knex.Transaction,
  caller: Caller,
  before: StoredContact,
  change: Partial<Pick<StoredContact, "info" | "memberInfo" | "lastActivity">>,
  modifiedFields: string[],
): Promise<ContactJson> {
  if (modifiedFields.length === 0) return presentContact(before, await strippedIn(trx, caller.tenantId));
  const after = changedContact(before, change);
  await store.updateContact(trx, caller.tenantId, before, after);
  await appendEvents(trx, caller, [contactEvent("contact_updated", after, { modifiedFields })]);
  return presentContact(after);
}

export interface UpdateRequest {
  contactId: string;
  revision: number;
  info: ContactInfoJson;
  /** Validated mask paths (domain/contact-info.ts parseFieldMask), or undefined for none. */
  mask: string[] | undefined;
  allowDuplicates: boolean;
}

/** The parts of `info` a mask names: the rest of the request is ignored, as the reference says. */
function maskedPart(info: ContactInfoJson, mask: readonly string[]): ContactInfoJson {
  const tops = new Set(mask.map((p) => p.split(".")[1]));
  const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return Object.fromEntries(Object.entries(info).filter(([k]) => [...tops].some((t) => camel(t ?? "") === k)));
}

/**
 * A client that read a contact and sends its info back echoes the server-computed system field
 * values: those are dropped (they are recomputed), while a changed system value is still refused.
 */
function withoutEchoedSystemValues(info: ContactInfoJson, before: StoredContact): ContactInfoJson {
  const items = info.extendedFields?.items;
  if (!items) return info;
  const computed = systemFieldValues(before.info, before.memberInfo);
  const kept = Object.fromEntries(
    Object.entries(items).filter(([key, value]) => !(key in computed && JSON.stringify(computed[key]) === JSON.stringify(value))),
  );
  return { ...info, extendedFields: { items: kept } };
}

/**
 * The info of a locked contact after an update (UpdateContact's rules, for one contact or each
 * of a bulk update's): validated, its new duplicate keys locked and checked, its new labels and
 * extended field values checked. Throws the update's DomainError having written nothing but
 * duplicate-key locks, so a bulk job can record the failure and go on in the same transaction.
 */
export async function updatedInfo(
  trx: Knex.Transaction,
  caller: Caller,
  before: StoredContact,
  update: Pick<UpdateRequest, "info" | "mask" | "allowDuplicates">,
): Promise<ContactInfoJson> {
  const patch = normaliseInfo(withoutEchoedSystemValues(update.mask ? maskedPart(update.info, update.mask) : update.info, before), before.info);
  const next = dropEmpty(applyUpdate(before.info, patch, update.mask));
  if (!hasContactData(next)) {
    throw insufficient("INSUFFICIENT_UPDATE_CONTACT_DATA", "after the update the contact would have no name, email or phone");
  }
  assertMemberEmailUnchanged(before, next);
  const paths = changedPaths(before.info, next);
  if (paths.includes("info.emails") || paths.includes("info.phones")) {
    await checkDuplicates(trx, caller, givenKeys(before.info, next), update.allowDuplicates, before.id);
  }
  const previousLabels = new Set(before.info.labelKeys?.items ?? []);
  await assertLabelsExist(
    trx,
    caller,
    (next.labelKeys?.items ?? []).filter((k) => !previousLabels.has(k)),
  );
  return checkExtendedFields(trx, caller, next, before.info);
}

export async function updateContact(deps: ServiceDeps, caller: Caller, req: UpdateRequest, meta: MutationMeta): Promise<ContactJson> {
  if (req.revision <= 0) throw invalidField("INVALID_REVISION", "revision", "is required: the contact's current revision");
  return runMutation(deps, caller, meta, async (trx) => {
    const before = await lockedContact(trx, caller, req.contactId);
    if (before.revision !== req.revision) {
      throw new DomainError("aborted", "CONTACT_ALREADY_CHANGED", "Contact has been updated since the requested revision.", {
        contactId: before.id,
        currentRevision: String(before.revision),
        requestedRevision: String(req.revision),
      });
    }
    const next = await updatedInfo(trx, caller, before, req);
    return saveChange(trx, caller, before, { info: next }, changedPaths(before.info, next));
  });
}

export async function deleteContact(deps: ServiceDeps, caller: Caller, contactId: string, meta: MutationMeta): Promise<void> {
  await runMutation(deps, caller, meta, async (trx) => {
    const before = await lockedContact(trx, caller, contactId);
    assertDeletable(before);
    await store.deleteContact(trx, caller.tenantId, before);
    await appendEvents(trx, caller, [contactEvent("contact_deleted", before)]);
    return null;
  });
}

/** LabelContact / UnlabelContact: set operations that need no revision. */
export async function changeLabels(
  deps: ServiceDeps,
  caller: Caller,
  contactId: string,
  keys: readonly string[],
  mode: "add" | "remove",
  meta: MutationMeta,
): Promise<ContactJson> {
  return runMutation(deps, caller, meta, async (trx) => {
    await assertLabelsExist(trx, caller, keys);
    const before = await lockedContact(trx, caller, contactId);
    const info = relabelledInfo(before, mode === "add" ? keys : [], mode === "remove" ? keys : []);
    return saveChange(trx, caller, before, { info }, changedPaths(before.info, info));
  });
}

/**
 * A contact's info with labels added and removed (a key in both is removed). Throws TOO_MANY_ITEMS
 * when the contact would have more labels than it may.
 */
export function relabelledInfo(before: StoredContact, add: readonly string[], remove: readonly string[]): ContactInfoJson {
  const gone = new Set(remove);
  const items = [...new Set([...(before.info.labelKeys?.items ?? []), ...add])].filter((k) => !gone.has(k));
  if (items.length > CONTACT_LIMITS.labelKeys) {
    throw invalidField("TOO_MANY_ITEMS", "label_keys", `a contact can have at most ${CONTACT_LIMITS.labelKeys} labels`);
  }
  return dropEmpty({ ...before.info, labelKeys: { items } });
}

const MEMBER_ID_MAX = 100;

export async function updateMemberInfo(
  deps: ServiceDeps,
  caller: Caller,
  contactId: string,
  member: MemberInfoJson | undefined,
  meta: MutationMeta,
): Promise<ContactJson> {
  if (member) {
    const id = member.memberId ?? "";
    if (id.length === 0) throw invalidField("REQUIRED_FIELD_MISSING", "member_info.member_id", "is required");
    if (id.length > MEMBER_ID_MAX) throw invalidField("VALUE_TOO_LONG", "member_info.member_id", `must be at most ${MEMBER_ID_MAX} characters`);
  }
  return runMutation(deps, caller, meta, async (trx) => {
    const before = await lockedContact(trx, caller, contactId);
    const next: MemberInfoJson | undefined = member && {
      memberId: member.memberId ?? "",
      status: !member.status || member.status === "MEMBER_STATUS_UNSPECIFIED" ? "MEMBER_STATUS_ACTIVE" : member.status,
      role: !member.role || member.role === "MEMBER_ROLE_UNSPECIFIED" ? "MEMBER_ROLE_MEMBER" : member.role,
      signupDate: before.memberInfo?.signupDate ?? new Date().toISOString(),
    };
    const changed = JSON.stringify(before.memberInfo) !== JSON.stringify(next);
    return saveChange(trx, caller, before, { memberInfo: next }, changed ? ["memberInfo"] : []);
  });
}
