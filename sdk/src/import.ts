/**
 * `contacts.importContacts`: the rows of a CRM's CSV export (HubSpot, Salesforce, Google Contacts,
 * Outlook, Mailchimp) as contacts. Each column is mapped once, from its header (columns.ts), and
 * every row is read through that plan.
 *
 * Rows go to the server through bulkUpsertContacts in batches of consecutive rows. A batch's
 * request id is a hash of the import's id, its first row and its contacts, so a re-run of the
 * same file sends the same ids: the server answers a repeat with its first answer and changes
 * nothing, and an import resumed at the batch it was sending when it was killed creates nothing
 * twice.
 */
import type { CallOptions } from "./call.js";
import { ADDRESS_PROTO, type AddressPart, describeTarget, normaliseHeader, parseTarget, recognise, splitListCell, type Target, tagWord } from "./columns.js";
import type { BulkUpsertContactsOptions, BulkUpsertContactsResponse } from "./contacts.js";
import { ContactsApiError, InvalidSdkArgumentError, toApiError } from "./errors.js";
import type { ExtendedFieldsModule } from "./extended-fields.js";
import type { LabelsModule } from "./labels.js";
import type { AddressTag, ContactAddress, ContactInfo, EmailTag, ExtendedField, PhoneTag } from "./types.js";

// ---------------------------------------------------------------------------------------------
// Public types

/** One row: column header → cell text (as a CSV parser with `columns: true` yields it). */
export type ImportRow = Readonly<Record<string, string | undefined>>;

/** The rows of `importContacts`: any iterable or async iterable, read one row at a time. */
export type ImportRows = AsyncIterable<ImportRow> | Iterable<ImportRow>;

/** What `importContacts` does with a label or an extended field the tenant does not have. */
export type ImportPolicy = "create" | "refuse";

/** Options of `importContacts`. */
export interface ImportContactsOptions {
  /**
   * Column header → target, for columns the importer does not recognise or should read
   * differently. Targets: `info.name.first`, `info.name.last`, `info.name` (a full name, split into
   * first and last), `info.emails[.work|.home|.main]`, `info.phones[.mobile|.work|.home|.fax|.main]`,
   * `info.company`, `info.jobTitle`, `info.birthdate`, `info.locale`,
   * `info.addresses[.home|.work|.billing|.shipping].{addressLine1,addressLine2,city,subdivision,postalCode,country}`,
   * `labels`, `extendedField:<key or display name>`, or `ignore`. Default: none; every column is
   * recognised by its header (see the SDK README's table), and one naming a user-defined extended
   * field by display name or key fills that field.
   */
  mapping?: Readonly<Record<string, string>>;
  /**
   * A label named in a row that the tenant does not have: `"create"` it (findOrCreateLabel), or
   * `"refuse"` the row (a reject with code `LABEL_NOT_FOUND`). Default `"create"`: labels in a
   * file are the user's data, like tags, and a stray one costs only a `deleteLabel`.
   */
  labels?: ImportPolicy;
  /**
   * An extended field that `mapping` names and the tenant does not have: `"create"` it as a TEXT
   * field (findOrCreateExtendedField), or `"refuse"` the rows that have a value for it (code
   * `EXTENDED_FIELD_NOT_FOUND`). Default `"refuse"`: a field is schema, limited to 100 per tenant,
   * and a typo in a mapping should not create one for good.
   */
  fields?: ImportPolicy;
  /**
   * Names this import, e.g. a hash of the file: each batch's request id is derived from it, the
   * batch's first row and its contacts, so running the same file again (whole, or from
   * `startAtRow`) sends the same ids and the server applies each batch once (within its 24-hour
   * idempotency window). The contacts are part of the id because a request id names one request:
   * a batch that reads differently on a re-run (a label created since, another mapping) is a new
   * request, applied rather than answered with a first answer that would skip its new rows.
   * Default: a new UUID, so every call is a new import.
   */
  importId?: string;
  /**
   * The first row to import (1 is the first row after the header); earlier rows are read and
   * skipped. To resume an interrupted import, pass the last `committedRow` it reported plus one,
   * with the same `importId` and `batchSize`. Default 1.
   */
  startAtRow?: number;
  /**
   * Rows per bulkUpsertContacts call, 1–100. Default 100, the server's limit: the fewest calls.
   * Rejected rows count too, so batches are the same on every run of the same file.
   */
  batchSize?: number;
  /**
   * How to read an ambiguous numeric date such as `03/04/1990` (dates with a day over 12, with
   * the year first, or with a month name are never ambiguous): `"MDY"` (US exports) or `"DMY"`.
   * Default `"MDY"`, the order of the US exports of HubSpot, Salesforce and Outlook.
   */
  dateOrder?: "MDY" | "DMY";
  /**
   * ISO-3166 alpha-2 country used to read phone numbers written without `+` when the row has
   * no country of its own, e.g. `"US"`. Default: none; such numbers are stored as typed.
   */
  defaultCountry?: string;
  /**
   * Called after each batch, once its answer is in and its rejects have been reported: the
   * totals so far. Awaited, so a checkpoint written here is in place before the next batch.
   */
  onProgress?: (progress: ImportProgress) => void | Promise<void>;
  /**
   * Called for each rejected row, in row order, once the row's batch has been answered: rows the
   * importer could not read (an unparseable birthdate, a refused label) and rows the server
   * refused (an invalid email). Awaited. Default: none; the summary counts them.
   */
  onReject?: (reject: ImportReject) => void | Promise<void>;
  /** Deadline of each batch's call in ms, retries included. Default: the client's `timeoutMs`. */
  timeoutMs?: number;
  /** Stops the import between or during batches; it then rejects with a CancelledError. */
  signal?: AbortSignal;
}

/** Where an import is. Counts are of this call's rows (those from `startAtRow` on). */
export interface ImportProgress {
  /** Rows read from the input so far, skipped ones before `startAtRow` included. */
  rowsRead: number;
  /** Rows that created a contact. */
  created: number;
  /** Rows that changed an existing contact (matched by email, or by phone without email). */
  updated: number;
  /** Rows whose contact already held everything they had. */
  unchanged: number;
  /** Rows reported through `onReject`. */
  rejected: number;
  /** Every row up to this one is done (stored or rejected); resume at `committedRow + 1`. */
  committedRow: number;
}

/** A row that was not imported. */
export interface ImportReject {
  /** The row's number: 1 is the first row after the header. */
  row: number;
  /** The column at fault, as headed in the input; `""` when the row as a whole is (no name, email or phone). Several are joined with `"; "`. */
  column: string;
  /** Why, for a person. */
  reason: string;
  /** The reason code: the server's (`INVALID_EMAIL`, `DUPLICATE_CONTACT_EXISTS`, …) or the importer's (`INVALID_DATE`, `INVALID_COUNTRY_CODE`, `LABEL_NOT_FOUND`, `EXTENDED_FIELD_NOT_FOUND`, `INVALID_EXTENDED_FIELD_VALUE`, `INSUFFICIENT_CONTACT_DATA`). */
  code: string;
  /** The row as read, to write it back out for fixing. */
  values: ImportRow;
}

/** The answer of `importContacts`. */
export interface ImportSummary extends ImportProgress {
  /** Each column of the input and what it was read as (`info.company`, `labels`, `extendedField:custom.size`, `ignore`). */
  columns: Record<string, string>;
  /** Columns nothing was read from: neither recognised nor mapped nor an extended field's name. */
  ignoredColumns: string[];
}

/** What `importContacts` needs of a client. */
export interface ImportDeps {
  bulkUpsertContacts(contacts: ContactInfo[], options?: BulkUpsertContactsOptions): Promise<BulkUpsertContactsResponse>;
  labels: Pick<LabelsModule, "listLabels" | "findOrCreateLabel">;
  extendedFields: Pick<ExtendedFieldsModule, "listExtendedFields" | "findOrCreateExtendedField">;
}

// ---------------------------------------------------------------------------------------------
// Cell values

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

function monthOf(word: string): number | undefined {
  const i = MONTHS.indexOf(word.toLowerCase().slice(0, 3));
  return i < 0 ? undefined : i + 1;
}

/** A year as written; two digits are the most recent past year with those digits (a birthdate is in the past). */
function fullYear(digits: string): number {
  const y = Number(digits);
  if (digits.length > 2) return y;
  return 2000 + y > new Date().getUTCFullYear() ? 1900 + y : 2000 + y;
}

/**
 * A date in one of the forms CRM exports write, as `YYYY-MM-DD`; undefined when it is not one,
 * or not a real day. `""` for Outlook's "no date" (`0/0/00`).
 */
export function parseImportDate(value: string, order: "MDY" | "DMY" = "MDY"): string | undefined {
  const ymd = readDate(value.trim(), order);
  if (ymd === "" || ymd === undefined) return ymd;
  const [y, mo, d] = ymd;
  if (mo === undefined || !Number.isInteger(y) || y < 1 || y > 9999) return undefined;
  const date = new Date(Date.UTC(2000, mo - 1, d));
  date.setUTCFullYear(y);
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return undefined;
  return `${String(y).padStart(4, "0")}-${String(mo).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
}

/** The forms of `parseImportDate`, each read as [year, month, day]. */
const DATE_FORMS: ReadonlyArray<{ re: RegExp; read(m: RegExpExecArray, order: "MDY" | "DMY"): [number, number | undefined, number] | "" }> = [
  // 1815-12-10, 1815/12/10, 1815.12.10, and ISO timestamps.
  { re: /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T\s].*)?$/, read: (m) => [Number(m[1]), Number(m[2]), Number(m[3])] },
  // 18151210 (vCard's basic form).
  { re: /^(\d{4})(\d{2})(\d{2})$/, read: (m) => [Number(m[1]), Number(m[2]), Number(m[3])] },
  // 12/10/1815, 10.12.1815, 12-10-15.
  {
    re: /^(\d{1,2})([-/.])(\d{1,2})\2(\d{2}|\d{4})(?:[T\s].*)?$/,
    read: (m, order) => {
      const [a, b] = [Number(m[1]), Number(m[3])];
      if (a === 0 && b === 0 && Number(m[4]) === 0) return "";
      // A number over 12 settles the order; dotted dates are day-first wherever they are written.
      const dayFirst = a > 12 ? true : b > 12 ? false : m[2] === "." || order === "DMY";
      return [fullYear(m[4] ?? ""), dayFirst ? b : a, dayFirst ? a : b];
    },
  },
  // 10 Dec 1815, 10-Dec-15, 10th December, 1815.
  { re: /^(\d{1,2})(?:st|nd|rd|th)?[\s-]+([a-z]+)\.?,?[\s-]+(\d{4}|\d{2})$/i, read: (m) => [fullYear(m[3] ?? ""), monthOf(m[2] ?? ""), Number(m[1])] },
  // December 10, 1815.
  { re: /^([a-z]+)\.?[\s-]+(\d{1,2})(?:st|nd|rd|th)?,?[\s-]+(\d{4})$/i, read: (m) => [Number(m[3]), monthOf(m[1] ?? ""), Number(m[2])] },
];

function readDate(value: string, order: "MDY" | "DMY"): [number, number | undefined, number] | "" | undefined {
  for (const form of DATE_FORMS) {
    const m = form.re.exec(value);
    if (m) return form.read(m, order);
  }
  return undefined;
}

/** Country names a display-name table does not give ("USA", "UK", former names), normalised. */
const COUNTRY_ALIASES: Readonly<Record<string, string>> = {
  usa: "US",
  unitedstatesofamerica: "US",
  america: "US",
  uk: "GB",
  greatbritain: "GB",
  england: "GB",
  scotland: "GB",
  wales: "GB",
  northernireland: "GB",
  czechrepublic: "CZ",
  turkey: "TR",
  russianfederation: "RU",
  southkorea: "KR",
  republicofkorea: "KR",
  holland: "NL",
  burma: "MM",
  ivorycoast: "CI",
  uae: "AE",
};

let countryNames: Map<string, string> | undefined;

/** A region code in its current form: the retired ones ("UK", "BU", "ZR") become "GB", "MM", "CD". */
function canonicalRegion(code: string): string {
  return Intl.getCanonicalLocales(`und-${code}`)[0]?.slice(4) ?? code;
}

/** A country as typed ("US", "uk", "United States", "USA") as its ISO-3166 alpha-2 code; undefined when unknown. */
export function countryCodeOf(value: string): string | undefined {
  const v = value.trim();
  if (/^[a-z]{2}$/i.test(v)) return canonicalRegion(v.toUpperCase());
  if (!countryNames) {
    // Built once from the runtime's own English region names (Node ships full ICU), rather than
    // a table of our own that would age.
    countryNames = new Map();
    const names = new Intl.DisplayNames(["en"], { type: "region", fallback: "none" });
    for (let a = 65; a <= 90; a++) {
      for (let b = 65; b <= 90; b++) {
        const code = String.fromCharCode(a, b);
        const name = names.of(code);
        if (!name || canonicalRegion(code) !== code) continue;
        countryNames.set(normaliseHeader(name), code);
        // "Myanmar (Burma)", "Congo - Kinshasa": also the name before the qualifier.
        const short = normaliseHeader(name.replace(/\s*(\(.*\)|-.*)$/, ""));
        if (!countryNames.has(short)) countryNames.set(short, code);
      }
    }
  }
  const key = normaliseHeader(v);
  return COUNTRY_ALIASES[key] ?? countryNames.get(key);
}

/** "Lovelace, Ada" and "Ada Lovelace" as first and last name; one word is a first name. */
function splitFullName(value: string): { first?: string; last?: string } {
  const comma = /^([^,]+),\s*(.+)$/.exec(value);
  if (comma) return { last: (comma[1] ?? "").trim(), first: (comma[2] ?? "").trim() };
  const words = value.split(/\s+/).filter(Boolean);
  if (words.length < 2) return { first: value };
  return { first: words.slice(0, -1).join(" "), last: words.at(-1) as string };
}

// ---------------------------------------------------------------------------------------------
// The tenant's labels and extended fields

type Lookup<T> = { ok: T } | { code: string; reason: string };

/** The tenant's labels and user-defined fields, loaded once, and those the import creates. */
class Catalog {
  private readonly labelKeys = new Map<string, Lookup<string>>();
  private readonly fields = new Map<string, Lookup<ExtendedField>>();

  constructor(
    private readonly deps: ImportDeps,
    private readonly policy: { labels: ImportPolicy; fields: ImportPolicy },
    private readonly call: CallOptions,
  ) {}

  async load(): Promise<void> {
    for (let offset = 0; ; ) {
      const { labels, metadata } = await this.deps.labels.listLabels({ paging: { limit: 1000, offset }, ...this.call });
      for (const l of labels) {
        this.labelKeys.set(`key:${l.key}`, { ok: l.key });
        // findOrCreateLabel matches display names case-insensitively after trimming; so does this.
        this.labelKeys.set(`name:${l.displayName.trim().toLowerCase()}`, { ok: l.key });
      }
      offset += labels.length;
      if (!metadata.hasNext || labels.length === 0) break;
    }
    for (let offset = 0; ; ) {
      const { fields, metadata } = await this.deps.extendedFields.listExtendedFields({ paging: { limit: 1000, offset }, ...this.call });
      for (const f of fields) {
        // System fields are the server's to write (emailSubscriptions.*), never a column's.
        if (f.fieldType === "SYSTEM") continue;
        this.fields.set(`key:${f.key}`, { ok: f });
        this.fields.set(`name:${f.displayName.trim().toLowerCase()}`, { ok: f });
      }
      offset += fields.length;
      if (!metadata.hasNext || fields.length === 0) break;
    }
  }

  /** The existing user-defined field a header names (display name or key), if any. */
  knownField(header: string): ExtendedField | undefined {
    const hit = this.fields.get(`key:${header.trim()}`) ?? this.fields.get(`name:${header.trim().toLowerCase()}`);
    return hit && "ok" in hit ? hit.ok : undefined;
  }

  /** A label's key by key or display name; created or refused by the policy when missing. */
  async label(name: string): Promise<Lookup<string>> {
    const hit = this.labelKeys.get(`key:${name}`) ?? this.labelKeys.get(`name:${name.toLowerCase()}`);
    if (hit) return hit;
    let result: Lookup<string>;
    if (this.policy.labels === "refuse") {
      result = { code: "LABEL_NOT_FOUND", reason: `no label ${JSON.stringify(name)} (labels: "refuse")` };
    } else {
      try {
        const { label } = await this.deps.labels.findOrCreateLabel(name, this.call);
        result = { ok: label.key };
        this.labelKeys.set(`key:${label.key}`, result);
      } catch (err) {
        if (!(err instanceof ContactsApiError) || err.retryable || err.code === "CANCELLED") throw err;
        result = { code: err.code, reason: `cannot create label ${JSON.stringify(name)}: ${err.rawMessage}` };
      }
    }
    this.labelKeys.set(`name:${name.toLowerCase()}`, result);
    return result;
  }

  /** A field by key or display name; created (TEXT) or refused by the policy when missing. */
  async field(name: string): Promise<Lookup<ExtendedField>> {
    const hit = this.fields.get(`key:${name}`) ?? this.fields.get(`name:${name.toLowerCase()}`);
    if (hit) return hit;
    let result: Lookup<ExtendedField>;
    if (this.policy.fields === "refuse") {
      result = { code: "EXTENDED_FIELD_NOT_FOUND", reason: `no extended field ${JSON.stringify(name)} (fields: "refuse")` };
    } else {
      try {
        const { field } = await this.deps.extendedFields.findOrCreateExtendedField(name, "TEXT", this.call);
        result = { ok: field };
        this.fields.set(`key:${field.key}`, result);
      } catch (err) {
        if (!(err instanceof ContactsApiError) || err.retryable || err.code === "CANCELLED") throw err;
        result = { code: err.code, reason: `cannot create extended field ${JSON.stringify(name)}: ${err.rawMessage}` };
      }
    }
    this.fields.set(`name:${name.toLowerCase()}`, result);
    return result;
  }
}

// ---------------------------------------------------------------------------------------------
// Rows

interface Problem {
  column: string;
  reason: string;
  code: string;
}

/** A row read: the contact, the column each part came from (by its field path in proto spelling), and what was wrong. */
interface MappedRow {
  info: ContactInfo;
  sources: Map<string, string>;
  problems: Problem[];
}

interface RowContext {
  targets: ReadonlyMap<string, Target>;
  catalog: Catalog;
  dateOrder: "MDY" | "DMY";
  defaultCountry: string | undefined;
}

async function mapRow(row: ImportRow, cx: RowContext): Promise<MappedRow> {
  const problems: Problem[] = [];
  const sources = new Map<string, string>();
  const info: ContactInfo = {};
  const cells: Array<[string, string, Target]> = [];
  const slotTags = new Map<string, string>();
  for (const [column, raw] of Object.entries(row)) {
    const target = cx.targets.get(column);
    const value = typeof raw === "string" ? raw.trim() : raw == null ? "" : String(raw).trim();
    if (!target || target.kind === "ignore" || value === "") continue;
    if (target.kind === "tagOf") slotTags.set(target.slot, value.replace(/^\*\s*/, ""));
    else cells.push([column, value, target]);
  }

  let fullName: [string, string] | undefined;
  const emails: Array<{ email: string; tag?: EmailTag; column: string }> = [];
  const phones: Array<{ phone: string; tag?: PhoneTag; column: string }> = [];
  const addresses = new Map<string, { tag?: AddressTag; parts: Map<AddressPart, [string, string]> }>();
  const labels: Array<[string, string]> = [];
  const fields: Array<[string, string, string]> = [];
  for (const [column, value, t] of cells) {
    switch (t.kind) {
      case "first":
      case "last": {
        info.name ??= {};
        const name = info.name;
        if (name[t.kind] === undefined) {
          name[t.kind] = value;
          sources.set(`name.${t.kind}`, column);
        }
        break;
      }
      case "fullName":
        fullName ??= [column, value];
        break;
      case "company":
      case "jobTitle":
      case "locale":
        // The first non-empty column wins (HubSpot's "Company Name" before a "Company" of another app).
        if (info[t.kind] === undefined) {
          info[t.kind] = value;
          sources.set(t.kind === "jobTitle" ? "job_title" : t.kind, column);
        }
        break;
      case "birthdate": {
        const date = parseImportDate(value, cx.dateOrder);
        if (date === undefined) {
          problems.push({
            column,
            code: "INVALID_DATE",
            reason: `${JSON.stringify(value)} is not a date (YYYY-MM-DD, MM/DD/YYYY, DD.MM.YYYY, 10 Dec 1815, …)`,
          });
        } else if (date !== "" && info.birthdate === undefined) {
          info.birthdate = date;
          sources.set("birthdate", column);
        }
        break;
      }
      case "email": {
        const tag = t.tag ?? (t.slot ? tagWord(slotTags.get(t.slot) ?? "").email : undefined);
        for (const { text: email } of splitListCell(value, true)) emails.push({ email, column, ...(tag ? { tag } : {}) });
        break;
      }
      case "phone": {
        const tag = t.tag ?? (t.slot ? tagWord(slotTags.get(t.slot) ?? "").phone : undefined);
        for (const { text: phone } of splitListCell(value, false)) phones.push({ phone, column, ...(tag ? { tag } : {}) });
        break;
      }
      case "address": {
        let group = addresses.get(t.group);
        if (!group) {
          const tag = t.tag ?? tagWord(slotTags.get(t.group) ?? "").address;
          group = { ...(tag ? { tag } : {}), parts: new Map() };
          addresses.set(t.group, group);
        }
        const prior = group.parts.get(t.part);
        // Outlook's "Business Street 2" and "Business Street 3" share one line.
        group.parts.set(t.part, prior ? [prior[0], `${prior[1]}, ${value}`] : [column, value]);
        break;
      }
      case "labels":
        for (const { text: name, quoted } of splitListCell(value, true)) {
          // Google's system groups ("* myContacts", "* starred") are not labels.
          if (quoted || !name.startsWith("* ")) labels.push([column, name]);
        }
        break;
      case "extendedField":
        fields.push([column, t.name, value]);
        break;
    }
  }

  if (fullName && info.name?.first === undefined && info.name?.last === undefined) {
    const split = splitFullName(fullName[1]);
    info.name = split;
    for (const part of ["first", "last"] as const) if (split[part] !== undefined) sources.set(`name.${part}`, fullName[0]);
  }

  const seenEmails = new Set<string>();
  const emailItems = emails.filter((e) => {
    const key = e.email.toLowerCase();
    if (seenEmails.has(key)) return false;
    seenEmails.add(key);
    return true;
  });
  if (emailItems.length > 0) {
    info.emails = { items: emailItems.map(({ email, tag }) => ({ email, ...(tag ? { tag } : {}) })) };
    for (const [i, e] of emailItems.entries()) sources.set(`emails.items[${i}]`, e.column);
  }

  let rowCountry: string | undefined;
  const addressItems: ContactAddress[] = [];
  for (const group of addresses.values()) {
    const i = addressItems.length;
    const address: NonNullable<ContactAddress["address"]> = {};
    let ok = true;
    for (const [part, [column, value]] of group.parts) {
      let v = value;
      if (part === "country") {
        const code = countryCodeOf(value);
        if (!code) {
          problems.push({
            column,
            code: "INVALID_COUNTRY_CODE",
            reason: `${JSON.stringify(value)} is not a country (a name such as "United States" or an ISO code such as US)`,
          });
          ok = false;
          continue;
        }
        v = code;
        rowCountry ??= code;
      }
      address[part] = v;
      sources.set(`addresses.items[${i}].address.${ADDRESS_PROTO[part]}`, column);
      if (!sources.has(`addresses.items[${i}]`)) sources.set(`addresses.items[${i}]`, column);
    }
    // "NY" with country US is the ISO 3166-2 code US-NY, the form the contract stores.
    if (address.country && address.subdivision && /^[a-z0-9]{1,3}$/i.test(address.subdivision)) {
      address.subdivision = `${address.country}-${address.subdivision.toUpperCase()}`;
    }
    if (ok) addressItems.push({ ...(group.tag ? { tag: group.tag } : {}), address });
  }
  if (addressItems.length > 0) info.addresses = { items: addressItems };

  const seenPhones = new Set<string>();
  const phoneItems = phones.filter((p) => {
    const key = p.phone.replace(/[^0-9+]/g, "");
    if (seenPhones.has(key)) return false;
    seenPhones.add(key);
    return true;
  });
  if (phoneItems.length > 0) {
    const country = rowCountry ?? cx.defaultCountry;
    info.phones = {
      items: phoneItems.map(({ phone, tag }) => ({
        phone,
        ...(tag ? { tag } : {}),
        // A number without its country code is read in the row's country (else the default).
        ...(country && !/^(\+|00)/.test(phone) ? { countryCode: country } : {}),
      })),
    };
    for (const [i, p] of phoneItems.entries()) sources.set(`phones.items[${i}]`, p.column);
  }

  const labelKeys: string[] = [];
  for (const [column, name] of labels) {
    const found = await cx.catalog.label(name);
    if ("ok" in found) {
      if (!labelKeys.includes(found.ok)) {
        sources.set(`label_keys.items[${labelKeys.length}]`, column);
        labelKeys.push(found.ok);
      }
      if (!sources.has("label_keys")) sources.set("label_keys", column);
    } else {
      problems.push({ column, ...found });
    }
  }
  if (labelKeys.length > 0) info.labelKeys = { items: labelKeys };

  const values: Record<string, unknown> = {};
  for (const [column, name, raw] of fields) {
    const found = await cx.catalog.field(name);
    if (!("ok" in found)) {
      problems.push({ column, ...found });
      continue;
    }
    const field = found.ok;
    let value: unknown = raw;
    if (field.dataType === "NUMBER") {
      value = Number(raw.replace(/[\s_]/g, ""));
      if (!Number.isFinite(value)) {
        problems.push({
          column,
          code: "INVALID_EXTENDED_FIELD_VALUE",
          reason: `${JSON.stringify(raw)} is not a number (${field.displayName} is a NUMBER field)`,
        });
        continue;
      }
    } else if (field.dataType === "DATE") {
      value = parseImportDate(raw, cx.dateOrder);
      if (!value) {
        problems.push({ column, code: "INVALID_EXTENDED_FIELD_VALUE", reason: `${JSON.stringify(raw)} is not a date (${field.displayName} is a DATE field)` });
        continue;
      }
    }
    values[field.key] = value;
    sources.set(`extended_fields.items[${JSON.stringify(field.key)}]`, column);
  }
  if (Object.keys(values).length > 0) info.extendedFields = { items: values };

  if (problems.length === 0 && !info.name?.first && !info.name?.last && !info.emails && !info.phones) {
    problems.push({ column: "", code: "INSUFFICIENT_CONTACT_DATA", reason: "the row has no name, email or phone" });
  }
  return { info, sources, problems };
}

/**
 * The column that fed a field of an item error: `contacts[3].emails.items[0].email` → the
 * column of `emails.items[0]`. Paths are compared in proto spelling (`job_title`), the server's.
 */
function columnOfField(field: string | undefined, sources: ReadonlyMap<string, string>): string {
  if (!field) return "";
  let path = field
    .replace(/^contacts\[\d+\]\.?/, "")
    .split(/(\[[^\]]*\])/)
    .map((part) => (part.startsWith("[") ? part : part.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase()))
    .join("");
  while (path) {
    const column = sources.get(path);
    if (column !== undefined) return column;
    const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
    path = cut > 0 ? path.slice(0, cut) : "";
  }
  return "";
}

/** A batch's request id: the same for the same import, first row and contacts, and at most 64 characters. */
async function batchRequestId(importId: string, firstRow: number, contacts: readonly ContactInfo[]): Promise<string> {
  const text = new TextEncoder().encode(`${importId}\n${firstRow}\n${JSON.stringify(contacts)}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", text));
  // base64url without padding, as Node's digest("base64url") spells it (request ids of imports
  // begun with earlier versions stay the same).
  const base64 = btoa(String.fromCharCode(...digest));
  return `import-${base64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}

/** `importContacts` over the modules of one client. */
export async function importContacts(deps: ImportDeps, rows: ImportRows, options: ImportContactsOptions = {}): Promise<ImportSummary> {
  const fn = "importContacts()";
  if (rows === null || typeof rows !== "object" || !(Symbol.asyncIterator in rows || Symbol.iterator in rows)) {
    throw new InvalidSdkArgumentError(`${fn}: rows must be an iterable or async iterable of row objects`);
  }
  const policy = { labels: options.labels ?? "create", fields: options.fields ?? "refuse" };
  for (const [name, value] of Object.entries(policy)) {
    if (value !== "create" && value !== "refuse")
      throw new InvalidSdkArgumentError(`${fn}: options.${name} must be "create" or "refuse"; got ${JSON.stringify(value)}`);
  }
  const batchSize = options.batchSize ?? 100;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100)
    throw new InvalidSdkArgumentError(`${fn}: options.batchSize must be an integer from 1 to 100; got ${batchSize}`);
  const startAtRow = options.startAtRow ?? 1;
  if (!Number.isInteger(startAtRow) || startAtRow < 1)
    throw new InvalidSdkArgumentError(`${fn}: options.startAtRow must be a positive integer; got ${startAtRow}`);
  const dateOrder = options.dateOrder ?? "MDY";
  if (dateOrder !== "MDY" && dateOrder !== "DMY")
    throw new InvalidSdkArgumentError(`${fn}: options.dateOrder must be "MDY" or "DMY"; got ${JSON.stringify(dateOrder)}`);
  const importId = options.importId ?? crypto.randomUUID();
  if (typeof importId !== "string" || importId.length === 0) throw new InvalidSdkArgumentError(`${fn}: options.importId must be a non-empty string`);
  const defaultCountry = options.defaultCountry === undefined ? undefined : countryCodeOf(String(options.defaultCountry));
  if (options.defaultCountry !== undefined && !defaultCountry) {
    throw new InvalidSdkArgumentError(`${fn}: options.defaultCountry must be a country code such as "US"; got ${JSON.stringify(options.defaultCountry)}`);
  }
  const mapping = new Map<string, Target>();
  for (const [column, path] of Object.entries(options.mapping ?? {})) mapping.set(column, parseTarget(column, path));

  const call: CallOptions = {
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const catalog = new Catalog(deps, policy, call);
  await catalog.load();

  // The plan: what each column is read as, decided once from the headers of the first row (and
  // for a column first seen later, when it is first seen).
  const targets = new Map<string, Target>();
  const columns: Record<string, string> = {};
  const ignoredColumns: string[] = [];
  let headerSet: Set<string> | undefined;
  const plan = (row: ImportRow) => {
    if (!headerSet) {
      headerSet = new Set(Object.keys(row).map(normaliseHeader));
    }
    // A rejects file written by the CLI: its four report columns are not contact data.
    const isRejectsFile = ["row", "column", "reason", "code"].every((h) => headerSet?.has(h));
    for (const column of Object.keys(row)) {
      if (targets.has(column)) continue;
      const h = normaliseHeader(column);
      let target = mapping.get(column) ?? [...mapping].find(([c]) => normaliseHeader(c) === h)?.[1];
      if (!target && isRejectsFile && ["row", "column", "reason", "code"].includes(h)) target = { kind: "ignore" };
      target ??= recognise(h, headerSet);
      if (!target) {
        const field = catalog.knownField(column);
        target = field ? { kind: "extendedField", name: field.key } : { kind: "ignore" };
        if (!field) ignoredColumns.push(column);
      }
      targets.set(column, target);
      columns[column] = describeTarget(target);
    }
  };
  const cx: RowContext = { targets, catalog, dateOrder, defaultCountry };

  const progress: ImportProgress = { rowsRead: 0, created: 0, updated: 0, unchanged: 0, rejected: 0, committedRow: startAtRow - 1 };
  let batchFirst = 0;
  let pending: Array<{ row: number; values: ImportRow; mapped: MappedRow }> = [];

  const flush = async (lastRow: number) => {
    const rejects: ImportReject[] = [];
    const sendable = pending.filter((p) => p.mapped.problems.length === 0);
    for (const p of pending) {
      if (p.mapped.problems.length === 0) continue;
      const ps = p.mapped.problems;
      rejects.push({
        row: p.row,
        column: [...new Set(ps.map((x) => x.column))].join("; "),
        reason: ps.map((x) => (ps.length > 1 && x.column ? `${x.column}: ${x.reason}` : x.reason)).join("; "),
        code: [...new Set(ps.map((x) => x.code))].join("; "),
        values: p.values,
      });
    }
    if (sendable.length > 0) {
      const contacts = sendable.map((p) => p.mapped.info);
      const res = await deps.bulkUpsertContacts(contacts, { requestId: await batchRequestId(importId, batchFirst, contacts), ...call });
      for (const result of res.results) {
        const item = sendable[result.originalIndex];
        if (!item) continue;
        switch (result.action) {
          case "CREATED":
            progress.created++;
            break;
          case "UPDATED":
            progress.updated++;
            break;
          case "UNCHANGED":
            progress.unchanged++;
            break;
          default: {
            const error = result.error ?? { code: "UNKNOWN", message: "the server refused the row without a reason" };
            rejects.push({
              row: item.row,
              column: columnOfField(error.field, item.mapped.sources),
              // The server's message names the request's path ("contacts[3].emails.items[0].email: …"); the column says it better.
              reason: error.message.replace(/^contacts\[\d+\][^:\s]*:\s*/, ""),
              code: error.code,
              values: item.values,
            });
          }
        }
      }
    }
    rejects.sort((a, b) => a.row - b.row);
    for (const reject of rejects) {
      progress.rejected++;
      await options.onReject?.(reject);
    }
    progress.committedRow = lastRow;
    pending = [];
    await options.onProgress?.({ ...progress });
  };

  for await (const values of rows as AsyncIterable<ImportRow>) {
    progress.rowsRead++;
    const row = progress.rowsRead;
    if (row < startAtRow) continue;
    // Between rows too, not only inside a batch's call: mapping a row may call nothing at all.
    if (options.signal?.aborted) throw toApiError(options.signal.reason, undefined, true);
    if (values === null || typeof values !== "object") throw new InvalidSdkArgumentError(`${fn}: row ${row} is not an object`);
    plan(values);
    if (pending.length === 0) batchFirst = row;
    pending.push({ row, values, mapped: await mapRow(values, cx) });
    if (row - batchFirst + 1 >= batchSize) await flush(row);
  }
  if (pending.length > 0) await flush(progress.rowsRead);
  return { ...progress, columns, ignoredColumns };
}
