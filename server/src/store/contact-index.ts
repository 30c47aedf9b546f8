/**
 * Everything the store derives from a contact for filtering, sorting and search: the columns of
 * its `contacts` row and the rows of its index tables. Derived on every write from the stored
 * contact, so the index can never disagree with the document.
 */
import type { JsonValue } from "@bufbuild/protobuf";
import { emailKey, phoneKey, primaryEmail, primaryPhone } from "../domain/contact-info.js";
import type { StoredContact } from "../domain/contacts.js";
import { searchPrefixes, searchTokens, starts, wordList } from "../domain/search.js";
import type { ContactRow } from "./tables.js";

export const SORT_KEY_LENGTH = 190;

/** A text field's three columns: as sent, lower-cased, and the indexed sort key. */
export function textColumns(value: string | undefined): { raw: string | null; lc: string | null; key: string } {
  if (value === undefined || value === "") return { raw: null, lc: null, key: "" };
  const lc = value.toLowerCase();
  return { raw: value, lc, key: sortKey(lc) };
}

/** The first SORT_KEY_LENGTH characters of a text, counted in code points. */
export function sortKey(text: string): string {
  // Cut by code points: half a surrogate pair would be stored differently by MariaDB and SQLite.
  return text.length <= SORT_KEY_LENGTH ? text : [...text].slice(0, SORT_KEY_LENGTH).join("");
}

function triple(prefix: string, value: string | undefined): Record<string, string | null> {
  const t = textColumns(value);
  return { [prefix]: t.raw, [`${prefix}_lc`]: t.lc, [`${prefix}_key`]: t.key };
}

/** The street of an address as one line: the free line, or "number name". */
export function streetOf(address: { addressLine?: string; streetAddress?: { number?: string; name?: string } } | undefined): string {
  if (!address) return "";
  if (address.addressLine) return address.addressLine;
  const s = address.streetAddress;
  return [s?.number, s?.name].filter(Boolean).join(" ");
}

export function contactRow(tenantId: string, c: StoredContact): ContactRow {
  const info = c.info;
  const email = primaryEmail(info)?.email;
  const phone = primaryPhone(info);
  return {
    tenant_id: tenantId,
    id: c.id,
    revision: c.revision,
    created_at: c.createdDate,
    updated_at: c.updatedDate,
    last_activity_at: c.lastActivity.activityDate,
    member_id: c.memberInfo?.memberId ?? null,
    member_status: c.memberInfo?.status ?? null,
    ...triple("first_name", info.name?.first),
    ...triple("last_name", info.name?.last),
    ...triple("company", info.company),
    // The company as sent, cut like a sort key: `$eq` on the company reads the index alone.
    company_exact: info.company ? sortKey(info.company) : null,
    ...triple("job_title", info.jobTitle),
    // Emails compare case-insensitively: the "as sent" column holds the normalised form too.
    ...triple("primary_email", email ? emailKey(email) : undefined),
    birthdate: info.birthdate || null,
    locale: info.locale || null,
    primary_phone: phone?.phone ?? null,
    primary_phone_lc: phone?.phone ? phone.phone.toLowerCase() : null,
    primary_phone_e164: phone?.e164Phone || null,
    primary_phone_formatted: phone?.formattedPhone || null,
    primary_phone_formatted_key: (phone?.formattedPhone ?? "").toLowerCase(),
    primary_phone_country: phone?.countryCode || null,
    primary_phone_country_key: (phone?.countryCode ?? "").toLowerCase(),
    label_count: info.labelKeys?.items?.length ?? 0,
    doc: JSON.stringify(c),
  } as ContactRow;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** One extended field value in all the forms a query may compare it in. */
function fieldValueColumns(value: JsonValue): Record<string, string | number | null> {
  if (typeof value === "number") return { text_value: null, text_lc: null, text_key: null, num_value: value, date_value: null };
  const text = typeof value === "string" ? value : JSON.stringify(value);
  const t = textColumns(text);
  return { text_value: t.raw, text_lc: t.lc, text_key: t.key, num_value: null, date_value: DATE.test(text) ? text : null };
}

/** A row of contact_search_prefixes (migration 010): one start of one of the contact's words. */
export interface PrefixRow {
  tenant_id: string;
  prefix: string;
  created_at: StoredContact["createdDate"];
  contact_id: string;
}

export type NameField = "first" | "last";

/** A row of contact_search_prefixes (migration 010), or of contact_name_prefixes (011, with `field`). */
export type KeyedRow = PrefixRow & { field?: NameField };

/** The index tables read by key alone, deleted by key (store/contacts.ts), and their key columns. */
export const KEYED_TABLES = {
  contact_search_prefixes: ["prefix"],
  contact_name_prefixes: ["field", "prefix"],
} as const;
export type KeyedTable = keyof typeof KEYED_TABLES;

export type IndexRows = Record<Exclude<(typeof INDEX_TABLE_NAMES)[number], KeyedTable>, object[]> & Record<KeyedTable, KeyedRow[]>;

export const INDEX_TABLE_NAMES = [
  "contact_emails",
  "contact_phones",
  "contact_addresses",
  "contact_labels",
  "contact_locations",
  "contact_field_values",
  "contact_search_tokens",
  // Read by key alone (KEYED_TABLES): deleted by key (store/contacts.ts), not by contact.
  "contact_search_prefixes",
  "contact_name_prefixes",
] as const;

export type IndexTable = (typeof INDEX_TABLE_NAMES)[number];

/** The tables made from a contact's search words (domain/search.ts searchTokens) and names. */
export const SEARCH_TABLES: readonly IndexTable[] = ["contact_search_tokens", "contact_search_prefixes", "contact_name_prefixes"];

/**
 * What SEARCH_TABLES' rows are made of: two contacts with the same source have the same rows
 * there (searchTokens reads names, emails and phones; the name prefixes, names; all of them the
 * creation date). A change that leaves it alone (a label, a company) skips deriving ~50 rows twice.
 */
export function searchSource(c: StoredContact): string {
  return JSON.stringify([c.id, c.createdDate, c.info.name ?? null, c.info.emails ?? null, c.info.phones ?? null]);
}

/** A contact's index rows; with `tables`, only those tables' (the others empty). */
export function indexRows(tenantId: string, c: StoredContact, tables: readonly IndexTable[] = INDEX_TABLE_NAMES): IndexRows {
  const rows = allIndexRows(
    tenantId,
    c,
    tables.some((t) => SEARCH_TABLES.includes(t)),
  );
  if (tables === INDEX_TABLE_NAMES) return rows;
  for (const table of INDEX_TABLE_NAMES) if (!tables.includes(table)) rows[table] = [];
  return rows;
}

function allIndexRows(tenantId: string, c: StoredContact, withSearch: boolean): IndexRows {
  const info = c.info;
  const base = { tenant_id: tenantId, contact_id: c.id };
  const emails = [...new Set((info.emails?.items ?? []).map((e) => emailKey(e.email ?? "")))];
  const tokens = withSearch ? searchTokens(info) : [];
  const words = wordList(tokens);
  const nameStarts = withSearch ? (["first", "last"] as const) : [];
  return {
    contact_emails: emails.map((email_key) => ({ ...base, email_key })),
    contact_phones: (info.phones?.items ?? []).map((p, position) => ({
      ...base,
      position,
      phone: p.phone ?? "",
      phone_lc: (p.phone ?? "").toLowerCase(),
      e164: p.e164Phone || null,
      phone_key: phoneKey(p).slice(0, 50),
    })),
    contact_addresses: (info.addresses?.items ?? []).map((a, position) => {
      const street = textColumns(streetOf(a.address));
      const city = textColumns(a.address?.city);
      return {
        ...base,
        position,
        street: street.raw,
        street_lc: street.lc,
        street_key: street.key,
        city: city.raw,
        city_lc: city.lc,
        city_key: city.key,
        subdivision: a.address?.subdivision || null,
        country: a.address?.country || null,
      };
    }),
    contact_labels: (info.labelKeys?.items ?? []).map((label_key) => ({ ...base, label_key, created_at: c.createdDate })),
    contact_locations: [...new Set(info.locations?.items ?? [])].map((location_id) => ({ ...base, location_id })),
    contact_field_values: Object.entries(info.extendedFields?.items ?? {}).map(([field_key, value]) => ({
      ...base,
      field_key,
      ...fieldValueColumns(value),
      created_at: c.createdDate,
    })),
    contact_search_tokens: tokens.map((token) => ({ tenant_id: tenantId, token, contact_id: c.id, created_at: c.createdDate, words })),
    contact_search_prefixes: searchPrefixes(tokens).map((prefix) => ({ tenant_id: tenantId, prefix, created_at: c.createdDate, contact_id: c.id })),
    contact_name_prefixes: nameStarts.flatMap((field) =>
      // The starts of the lower-case name: the text `$startsWith` compares a lower-case prefix with.
      starts(textColumns(info.name?.[field]).lc ?? "").map((prefix) => ({ tenant_id: tenantId, field, prefix, created_at: c.createdDate, contact_id: c.id })),
    ),
  };
}
