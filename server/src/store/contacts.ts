/**
 * Contact persistence: the contact row and its index rows (emails, phones, labels, field keys),
 * always written together in the caller's transaction.
 */
import type { Knex } from "knex";
import { duplicateKeys } from "../domain/contact-info.js";
import type { StoredContact } from "../domain/contacts.js";
import { type Executor, isMysql } from "./db.js";
import type { ContactRow } from "./tables.js";

function toRow(tenantId: string, c: StoredContact): ContactRow {
  return {
    tenant_id: tenantId,
    id: c.id,
    revision: c.revision,
    created_at: c.createdDate,
    updated_at: c.updatedDate,
    member_id: c.memberInfo?.memberId ?? null,
    doc: JSON.stringify(c),
  };
}

function fromRow(row: ContactRow): StoredContact {
  return JSON.parse(row.doc) as StoredContact;
}

/** One contact by id; `lock` takes its row lock for the rest of the transaction. */
export async function getContact(
  db: Executor,
  tenantId: string,
  id: string,
  lock = false,
): Promise<StoredContact | undefined> {
  const q = db("contacts").where({ tenant_id: tenantId, id }).first("doc");
  if (lock) q.forUpdate();
  const row = (await q) as ContactRow | undefined;
  return row ? fromRow(row) : undefined;
}

/** Several contacts by id, locked in id order (one lock order everywhere avoids deadlocks). */
export async function getContactsForUpdate(trx: Executor, tenantId: string, ids: readonly string[]): Promise<StoredContact[]> {
  if (ids.length === 0) return [];
  const rows = (await trx("contacts")
    .where({ tenant_id: tenantId })
    .whereIn("id", [...ids])
    .orderBy("id")
    .forUpdate()
    .select("doc")) as ContactRow[];
  return rows.map(fromRow);
}

interface IndexRows {
  emails: { tenant_id: string; contact_id: string; email_key: string }[];
  phones: { tenant_id: string; contact_id: string; phone_key: string }[];
  labels: { tenant_id: string; contact_id: string; label_key: string }[];
  fields: { tenant_id: string; contact_id: string; field_key: string }[];
}

function indexRows(tenantId: string, c: StoredContact): IndexRows {
  const base = { tenant_id: tenantId, contact_id: c.id };
  const { emails } = duplicateKeys(c.info);
  // Phones are indexed always (lookups); the duplicate rule decides when to consult them.
  const phones = [...new Set((c.info.phones?.items ?? []).map((p) => p.e164Phone || (p.phone ?? "").replace(/\D/g, "")))].filter(
    Boolean,
  );
  return {
    emails: emails.map((email_key) => ({ ...base, email_key })),
    phones: phones.map((phone_key) => ({ ...base, phone_key: phone_key.slice(0, 50) })),
    labels: (c.info.labelKeys?.items ?? []).map((label_key) => ({ ...base, label_key })),
    fields: Object.keys(c.info.extendedFields?.items ?? {}).map((field_key) => ({ ...base, field_key })),
  };
}

const INDEX_TABLES = {
  emails: "contact_emails",
  phones: "contact_phones",
  labels: "contact_labels",
  fields: "contact_field_values",
} as const;

async function insertIndexRows(trx: Executor, rows: IndexRows): Promise<void> {
  for (const [part, table] of Object.entries(INDEX_TABLES) as [keyof IndexRows, string][]) {
    if (rows[part].length > 0) await trx.batchInsert(table, rows[part] as object[], 500).transacting(trx as Knex.Transaction);
  }
}

async function deleteIndexRows(trx: Executor, tenantId: string, contactIds: readonly string[], parts: readonly (keyof IndexRows)[]) {
  for (const part of parts) {
    await trx(INDEX_TABLES[part]).where({ tenant_id: tenantId }).whereIn("contact_id", [...contactIds]).delete();
  }
}

export async function insertContact(trx: Executor, tenantId: string, c: StoredContact): Promise<void> {
  await trx("contacts").insert(toRow(tenantId, c));
  await insertIndexRows(trx, indexRows(tenantId, c));
}

/** Writes a changed contact; rewrites only the index rows whose part of `info` changed. */
export async function updateContact(trx: Executor, tenantId: string, before: StoredContact, after: StoredContact): Promise<void> {
  const row = toRow(tenantId, after);
  await trx("contacts")
    .where({ tenant_id: tenantId, id: after.id })
    .update({ revision: row.revision, updated_at: row.updated_at, member_id: row.member_id, doc: row.doc });
  const oldRows = indexRows(tenantId, before);
  const newRows = indexRows(tenantId, after);
  const changed = (Object.keys(INDEX_TABLES) as (keyof IndexRows)[]).filter(
    (part) => JSON.stringify(oldRows[part]) !== JSON.stringify(newRows[part]),
  );
  if (changed.length === 0) return;
  await deleteIndexRows(trx, tenantId, [after.id], changed);
  const only = Object.fromEntries(
    (Object.keys(INDEX_TABLES) as (keyof IndexRows)[]).map((p) => [p, changed.includes(p) ? newRows[p] : []]),
  ) as unknown as IndexRows;
  await insertIndexRows(trx, only);
}

export async function deleteContact(trx: Executor, tenantId: string, id: string): Promise<void> {
  await trx("contacts").where({ tenant_id: tenantId, id }).delete();
  await deleteIndexRows(trx, tenantId, [id], Object.keys(INDEX_TABLES) as (keyof IndexRows)[]);
}

/**
 * Locks the duplicate-check keys of a write (sorted, so concurrent writers lock in one order).
 * Two creates of the same email then run their check-and-insert one after the other. SQLite
 * serialises writers already.
 */
export async function lockDedupeKeys(trx: Executor, tenantId: string, keys: readonly string[]): Promise<void> {
  if (keys.length === 0 || !isMysql(trx)) return;
  const rows = [...new Set(keys)].sort().map((lock_key) => ({ tenant_id: tenantId, lock_key: lock_key.slice(0, 400) }));
  await trx("dedupe_locks").insert(rows).onConflict(["tenant_id", "lock_key"]).merge(["lock_key"]);
}

export interface Duplicate {
  contactId: string;
  email?: string;
  phone?: string;
}

/** Another contact holding one of these emails (or, with no emails, phones). */
export async function findDuplicate(
  db: Executor,
  tenantId: string,
  keys: { emails: readonly string[]; phones: readonly string[] },
  excludeId?: string,
): Promise<Duplicate | undefined> {
  if (keys.emails.length > 0) {
    const q = db("contact_emails").where({ tenant_id: tenantId }).whereIn("email_key", [...keys.emails]);
    if (excludeId) q.whereNot("contact_id", excludeId);
    const row = await q.first("contact_id", "email_key");
    return row ? { contactId: row.contact_id, email: row.email_key } : undefined;
  }
  if (keys.phones.length > 0) {
    const q = db("contact_phones").where({ tenant_id: tenantId }).whereIn("phone_key", [...keys.phones]);
    if (excludeId) q.whereNot("contact_id", excludeId);
    const row = await q.first("contact_id", "phone_key");
    return row ? { contactId: row.contact_id, phone: row.phone_key } : undefined;
  }
  return undefined;
}

/** Up to `limit` ids of contacts that have the label (or a value of the field). */
export async function contactIdsUsing(
  db: Executor,
  tenantId: string,
  kind: "label" | "field",
  key: string,
  limit: number,
): Promise<string[]> {
  const rows =
    kind === "label"
      ? await db("contact_labels").where({ tenant_id: tenantId, label_key: key }).orderBy("contact_id").limit(limit).select("contact_id")
      : await db("contact_field_values")
          .where({ tenant_id: tenantId, field_key: key })
          .orderBy("contact_id")
          .limit(limit)
          .select("contact_id");
  return rows.map((r: { contact_id: string }) => r.contact_id);
}

/** The contact a merged-away id now resolves to, if it was merged. */
export async function redirectTarget(db: Executor, tenantId: string, id: string): Promise<string | undefined> {
  const row = await db("contact_redirects").where({ tenant_id: tenantId, source_id: id }).first("target_id");
  return row?.target_id;
}

/** Which of `keys` are existing labels of the tenant. */
export async function existingLabelKeys(db: Executor, tenantId: string, keys: readonly string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await db("labels").where({ tenant_id: tenantId }).whereIn("key", [...keys]).select("key");
  return new Set(rows.map((r: { key: string }) => r.key));
}
