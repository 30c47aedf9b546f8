/**
 * Contact persistence: the contact row and its index rows (emails, phones, labels, field keys),
 * always written together in the caller's transaction.
 */
import type { Knex } from "knex";
import { NOTHING_STRIPPED, type StoredContact, type Stripped, stripInfo, strips } from "../domain/contacts.js";
import { strippedIn, strippedKeys } from "./cleanup-jobs.js";
import {
  contactRow,
  INDEX_TABLE_NAMES,
  type IndexRows,
  indexRows,
  KEYED_TABLES,
  type KeyedRow,
  type KeyedTable,
  SEARCH_TABLES,
  searchSource,
} from "./contact-index.js";
import { type Executor, isMysql, selectRows, sendTogether } from "./db.js";
import type { ContactRow } from "./tables.js";

function fromRow(row: { doc: string }): StoredContact {
  return JSON.parse(row.doc) as StoredContact;
}

/** One contact by id; `lock` takes its row lock for the rest of the transaction. */
export async function getContact(db: Executor, tenantId: string, id: string, lock = false): Promise<StoredContact | undefined> {
  if (!lock) {
    const [row] = await selectRows<ContactRow>(db, "select doc from contacts where tenant_id = ? and id = ? limit 1", [tenantId, id]);
    return row ? fromRow(row) : undefined;
  }
  const row = (await db("contacts").where({ tenant_id: tenantId, id }).first("doc").forUpdate()) as ContactRow | undefined;
  return row ? fromRow(row) : undefined;
}

/**
 * One contact by id and the keys being stripped from the tenant's contacts. The contact's row is
 * read with its tenant's row, for the tenant's number of pending strips (`cleanups`, migration
 * 014): the list is read only when there are some, so a read costs no second round trip.
 * Undefined when there is no such contact.
 */
export async function getContactAndStripped(db: Executor, tenantId: string, id: string): Promise<{ contact: StoredContact; stripped: Stripped } | undefined> {
  const [row] = await selectRows<{ doc: string; cleanups: number | string }>(
    db,
    "select c.doc, t.cleanups from contacts c join tenants t on t.tenant_id = c.tenant_id where t.tenant_id = ? and c.tenant_id = ? and c.id = ? limit 1",
    [tenantId, tenantId, id],
  );
  if (!row) return undefined;
  return { contact: fromRow(row), stripped: Number(row.cleanups) > 0 ? await strippedKeys(db, tenantId) : NOTHING_STRIPPED };
}

/** Several contacts by id, locked in id order (one lock order everywhere avoids deadlocks). */
export async function getContactsForUpdate(trx: Executor, tenantId: string, ids: readonly string[]): Promise<StoredContact[]> {
  return getContacts(trx, tenantId, ids, true);
}

/** Several contacts by id (in id order); `lock` takes their row locks in that order. */
export async function getContacts(db: Executor, tenantId: string, ids: readonly string[], lock = false): Promise<StoredContact[]> {
  if (ids.length === 0) return [];
  const q = db("contacts")
    .where({ tenant_id: tenantId })
    .whereIn("id", [...ids])
    .orderBy("id")
    .select("doc");
  if (lock) q.forUpdate();
  return ((await q) as ContactRow[]).map(fromRow);
}

/**
 * Makes merged-away ids resolve to `targetId`: new redirects for the sources, and redirects that
 * pointed at a source now point at the target, so chains (A→B, then B→C) resolve in one step.
 */
export async function redirectToTarget(trx: Executor, tenantId: string, sourceIds: readonly string[], targetId: string): Promise<void> {
  await trx("contact_redirects")
    .where({ tenant_id: tenantId })
    .whereIn("target_id", [...sourceIds])
    .update({ target_id: targetId });
  const now = Date.now();
  await trx("contact_redirects").insert(sourceIds.map((source_id) => ({ tenant_id: tenantId, source_id, target_id: targetId, created_at: now })));
}

/** Multi-row inserts of index rows, 500 rows a statement at most. */
function insertIndexRows(trx: Executor, rows: Partial<Record<keyof IndexRows, readonly object[]>>): Knex.QueryBuilder[] {
  const out: Knex.QueryBuilder[] = [];
  for (const table of INDEX_TABLE_NAMES) {
    const list: readonly object[] = rows[table] ?? [];
    for (let i = 0; i < list.length; i += 500) out.push(trx(table).insert(list.slice(i, i + 500)));
  }
  return out;
}

/**
 * Deletes contacts' rows of these index tables: of `byContact` (contact id → the tables to clear),
 * every row of the contacts named; of the prefix tables, which have no index by contact (it would
 * double the largest of them), the rows `keyed` lists, by their keys (KEYED_TABLES).
 */
function deleteIndexRows(
  trx: Executor,
  tenantId: string,
  byContact: ReadonlyMap<string, readonly string[]>,
  keyed: Readonly<Record<KeyedTable, readonly KeyedRow[]>>,
): Knex.QueryBuilder[] {
  const out: Knex.QueryBuilder[] = [];
  const idsOf = new Map<string, string[]>();
  for (const [id, tables] of byContact) for (const table of tables) if (!(table in KEYED_TABLES)) idsOf.set(table, [...(idsOf.get(table) ?? []), id]);
  for (const [table, ids] of idsOf) {
    for (let i = 0; i < ids.length; i += 500)
      out.push(
        trx(table)
          .where({ tenant_id: tenantId })
          .whereIn("contact_id", ids.slice(i, i + 500))
          .delete(),
      );
  }
  for (const table of Object.keys(KEYED_TABLES) as KeyedTable[]) {
    const rows = keyed[table];
    const columns = ["contact_id", "created_at", ...KEYED_TABLES[table]] as const;
    for (let i = 0; i < rows.length; i += 500) {
      out.push(
        trx(table)
          .where({ tenant_id: tenantId })
          .whereIn(
            [...columns],
            rows.slice(i, i + 500).map((r) => columns.map((k) => r[k as keyof KeyedRow] as string | number)),
          )
          .delete(),
      );
    }
  }
  return out;
}

const noKeyedRows = (): Record<KeyedTable, KeyedRow[]> => ({ contact_search_prefixes: [], contact_name_prefixes: [] });

/**
 * Inserts many new contacts at once (seeding, imports): multi-row inserts in chunks, in the
 * caller's transaction. The same rows as a contact created alone, so queries cannot tell them apart.
 */
export async function insertContacts(trx: Knex.Transaction, tenantId: string, contacts: readonly StoredContact[]): Promise<void> {
  await sendTogether(trx, insertContactsStatements(trx, tenantId, contacts));
}

/** The statements that insert new contacts: multi-row inserts of 500 rows per table at most. */
export function insertContactsStatements(trx: Executor, tenantId: string, contacts: readonly StoredContact[]): Knex.QueryBuilder[] {
  const out: Knex.QueryBuilder[] = [];
  const rows = contacts.map((c) => contactRow(tenantId, c));
  for (let i = 0; i < rows.length; i += 500) out.push(trx("contacts").insert(rows.slice(i, i + 500)));
  const all = contacts.map((c) => indexRows(tenantId, c));
  for (const table of INDEX_TABLE_NAMES) {
    const list = all.flatMap((r) => r[table]);
    for (let i = 0; i < list.length; i += 500) out.push(trx(table).insert(list.slice(i, i + 500)));
  }
  return out;
}

/** The rows of `a` that `b` does not hold (rows made by indexRows, so alike in key order). */
function without(a: readonly KeyedRow[], b: readonly KeyedRow[]): KeyedRow[] {
  const held = new Set(b.map((r) => JSON.stringify(r)));
  return a.filter((r) => !held.has(JSON.stringify(r)));
}

/** A contact's change, as written: the stored contact before and after. */
export interface ContactChange {
  before: StoredContact;
  after: StoredContact;
}

/** Writes a changed contact; rewrites only the index rows that changed. */
export async function updateContact(trx: Executor, tenantId: string, before: StoredContact, after: StoredContact): Promise<void> {
  await updateContacts(trx, tenantId, [{ before, after }]);
}

/**
 * Writes changed contacts (locked by the caller) with a statement per table rather than per
 * contact, rewriting only the index rows that changed: a bulk job's batch of 200 is a dozen
 * statements. Of its ~40 prefix rows, a contact's change removes and adds only those that go and
 * come (a new last name changes a few).
 */
export async function updateContacts(trx: Executor, tenantId: string, changes: readonly ContactChange[]): Promise<void> {
  if (changes.length === 0) return;
  // A contact written while a deleted label or field is being stripped loses it now, with its
  // index rows; the caller's response shows `after` as stored (events: store/events.ts).
  const stripped = await strippedIn(trx, tenantId);
  if (strips(stripped)) for (const c of changes) c.after.info = stripInfo(c.after.info, stripped);
  const statements: Knex.QueryBuilder[] = [];
  const rows = changes.map((c) => contactRow(tenantId, c.after));
  if (rows.length === 1) {
    const { tenant_id: _t, id, ...columns } = rows[0] as ContactRow;
    statements.push(trx("contacts").where({ tenant_id: tenantId, id }).update(columns));
  } else {
    // One multi-row upsert on the primary key: every row exists and is locked by the caller, so
    // each one is an update.
    const columns = Object.keys(rows[0] as ContactRow).filter((k) => k !== "tenant_id" && k !== "id");
    for (let i = 0; i < rows.length; i += 200)
      statements.push(
        trx("contacts")
          .insert(rows.slice(i, i + 200))
          .onConflict(["tenant_id", "id"])
          .merge(columns),
      );
  }
  const cleared = new Map<string, string[]>();
  const gone = noKeyedRows();
  const come: Partial<Record<keyof IndexRows, object[]>> = {};
  const add = (table: keyof IndexRows, rows: readonly object[]) => {
    const list = come[table] ?? [];
    list.push(...rows);
    come[table] = list;
  };
  for (const { before, after } of changes) {
    const tables = searchSource(before) === searchSource(after) ? INDEX_TABLE_NAMES.filter((t) => !SEARCH_TABLES.includes(t)) : INDEX_TABLE_NAMES;
    const oldRows = indexRows(tenantId, before, tables);
    const newRows = indexRows(tenantId, after, tables);
    const changed = tables.filter((table) => JSON.stringify(oldRows[table]) !== JSON.stringify(newRows[table]));
    if (changed.length === 0) continue;
    cleared.set(after.id, changed);
    for (const table of changed) {
      if (table in KEYED_TABLES) {
        const t = table as KeyedTable;
        gone[t].push(...without(oldRows[t], newRows[t]));
        add(t, without(newRows[t], oldRows[t]));
      } else {
        add(table, newRows[table]);
      }
    }
  }
  await sendTogether(trx, [...statements, ...deleteIndexRows(trx, tenantId, cleared, gone), ...insertIndexRows(trx, come)]);
}

export async function deleteContact(trx: Executor, tenantId: string, c: StoredContact): Promise<void> {
  await deleteContacts(trx, tenantId, [c]);
}

/** Deletes contacts (locked by the caller) and all their index rows, a statement per table. */
export async function deleteContacts(trx: Executor, tenantId: string, contacts: readonly StoredContact[]): Promise<void> {
  if (contacts.length === 0) return;
  const ids = contacts.map((c) => c.id);
  const statements: Knex.QueryBuilder[] = [];
  for (let i = 0; i < ids.length; i += 500)
    statements.push(
      trx("contacts")
        .where({ tenant_id: tenantId })
        .whereIn("id", ids.slice(i, i + 500))
        .delete(),
    );
  const keyed = noKeyedRows();
  for (const c of contacts) {
    const rows = indexRows(tenantId, c);
    for (const t of Object.keys(KEYED_TABLES) as KeyedTable[]) keyed[t].push(...rows[t]);
  }
  await sendTogether(trx, [...statements, ...deleteIndexRows(trx, tenantId, new Map(ids.map((id) => [id, INDEX_TABLE_NAMES])), keyed)]);
}

/**
 * Locks the duplicate-check keys of a write (sorted, so concurrent writers lock in one order).
 * Two creates of the same email then run their check-and-insert one after the other. SQLite
 * serialises writers already.
 */
export async function lockDedupeKeys(trx: Executor, tenantId: string, keys: readonly string[]): Promise<void> {
  const lock = dedupeLockStatement(trx, tenantId, keys);
  if (lock) await lock;
}

/** The statement lockDedupeKeys sends (none on SQLite or without keys), to send with others. */
export function dedupeLockStatement(trx: Executor, tenantId: string, keys: readonly string[]): Knex.QueryBuilder | undefined {
  if (keys.length === 0 || !isMysql(trx)) return undefined;
  const rows = [...new Set(keys)].sort().map((lock_key) => ({ tenant_id: tenantId, lock_key: lock_key.slice(0, 400) }));
  return trx("dedupe_locks").insert(rows).onConflict(["tenant_id", "lock_key"]).merge(["lock_key"]);
}

export interface Duplicate {
  contactId: string;
  email?: string;
  phone?: string;
}

type DuplicateKeys = { emails: readonly string[]; phones: readonly string[] };

/** Another contact holding one of these emails (or, with no emails, phones). */
export async function findDuplicate(db: Executor, tenantId: string, keys: DuplicateKeys, excludeId?: string): Promise<Duplicate | undefined> {
  const q = duplicateQuery(db, tenantId, keys, excludeId);
  return q ? duplicateOf((await q) as DuplicateRow[]) : undefined;
}

type DuplicateRow = { contact_id: string; email_key?: string; phone_key?: string };

/** The read findDuplicate makes (none without keys), to send with others; duplicateOf reads its rows. */
export function duplicateQuery(db: Executor, tenantId: string, keys: DuplicateKeys, excludeId?: string): Knex.QueryBuilder | undefined {
  const [table, column, values] =
    keys.emails.length > 0 ? (["contact_emails", "email_key", keys.emails] as const) : (["contact_phones", "phone_key", keys.phones] as const);
  if (values.length === 0) return undefined;
  const q = db(table)
    .where({ tenant_id: tenantId })
    .whereIn(column, [...values]);
  if (excludeId) q.whereNot("contact_id", excludeId);
  return q.select("contact_id", column).limit(1);
}

export function duplicateOf(rows: readonly DuplicateRow[]): Duplicate | undefined {
  const [row] = rows;
  if (!row) return undefined;
  return { contactId: row.contact_id, ...(row.email_key ? { email: row.email_key } : {}), ...(row.phone_key ? { phone: row.phone_key } : {}) };
}

/** Removes the label's (or the field's) index rows of these contacts, whose documents no longer have it. */
export async function dropKeyRows(trx: Executor, tenantId: string, kind: "label" | "field", key: string, ids: readonly string[]): Promise<void> {
  const [table, column] = kind === "label" ? ["contact_labels", "label_key"] : ["contact_field_values", "field_key"];
  await trx(table)
    .where({ tenant_id: tenantId, [column]: key })
    .whereIn("contact_id", [...ids])
    .delete();
}

/** Up to `limit` ids of contacts that have the label (or a value of the field). */
export async function contactIdsUsing(db: Executor, tenantId: string, kind: "label" | "field", key: string, limit: number): Promise<string[]> {
  const rows =
    kind === "label"
      ? await db("contact_labels").where({ tenant_id: tenantId, label_key: key }).orderBy("contact_id").limit(limit).select("contact_id")
      : await db("contact_field_values").where({ tenant_id: tenantId, field_key: key }).orderBy("contact_id").limit(limit).select("contact_id");
  return rows.map((r: { contact_id: string }) => r.contact_id);
}

/** The contact a merged-away id now resolves to, if it was merged. */
export async function redirectTarget(db: Executor, tenantId: string, id: string): Promise<string | undefined> {
  const row = await db("contact_redirects").where({ tenant_id: tenantId, source_id: id }).first("target_id");
  return row?.target_id;
}

/** Which of `keys` are existing labels of the tenant. */
export async function existingLabelKeys(db: Executor, tenantId: string, keys: readonly string[]): Promise<Set<string>> {
  const q = labelKeysQuery(db, tenantId, keys);
  const rows = q ? ((await q) as { key: string }[]) : [];
  return new Set(rows.map((r) => r.key));
}

/** The read existingLabelKeys makes (none without keys), to send with others. */
export function labelKeysQuery(db: Executor, tenantId: string, keys: readonly string[]): Knex.QueryBuilder | undefined {
  return keys.length === 0
    ? undefined
    : db("labels")
        .where({ tenant_id: tenantId })
        .whereIn("key", [...keys])
        .select("key");
}

/**
 * The contacts holding these duplicate keys: `e:<email key>` and `p:<phone key>` → contact id (of
 * several holders, the one with the least id, so that repeats of a lookup agree).
 */
export async function keyOwners(db: Executor, tenantId: string, emails: readonly string[], phones: readonly string[]): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  if (emails.length > 0) {
    const rows = (await db("contact_emails")
      .where({ tenant_id: tenantId })
      .whereIn("email_key", [...emails])
      .orderBy("contact_id")
      .select("contact_id", "email_key")) as {
      contact_id: string;
      email_key: string;
    }[];
    for (const r of rows) if (!owners.has(`e:${r.email_key}`)) owners.set(`e:${r.email_key}`, r.contact_id);
  }
  if (phones.length > 0) {
    const rows = (await db("contact_phones")
      .where({ tenant_id: tenantId })
      .whereIn("phone_key", [...phones])
      .orderBy("contact_id")
      .select("contact_id", "phone_key")) as {
      contact_id: string;
      phone_key: string;
    }[];
    for (const r of rows) if (!owners.has(`p:${r.phone_key}`)) owners.set(`p:${r.phone_key}`, r.contact_id);
  }
  return owners;
}
