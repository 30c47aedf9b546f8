/**
 * The columns of a contacts CSV, both ways: the targets a column can be read as, the headers the
 * common CRM exports use for them (`recognise`), the target spellings of `importContacts`'s
 * `mapping` option, and the row an export writes (`contactToRow`). One table serves the importer
 * and the exporter, so a file written by one always reads back through the other.
 */
import { InvalidSdkArgumentError } from "./errors.js";
import type { AddressTag, Contact, ContactLabel, EmailTag, ExtendedField, PhoneTag } from "./types.js";

/** Options of `contactToRow` and `contactRowHeaders`. */
export interface ContactRowOptions {
  /** The tenant's labels, to write `Labels` as display names. Default: none; keys are written. */
  labels?: ReadonlyArray<Pick<ContactLabel, "key" | "displayName">>;
  /** The extended fields to write, a column each, headed by display name. Default: none. */
  extendedFields?: ReadonlyArray<Pick<ExtendedField, "key" | "displayName">>;
}

// ---------------------------------------------------------------------------------------------
// Targets: what a column is read as

export type AddressPart = "addressLine1" | "addressLine2" | "city" | "subdivision" | "postalCode" | "country";

/** What a column is read as. `slot` pairs a Google "E-mail 1 - Value" with its "E-mail 1 - Label". */
export type Target =
  | { kind: "first" | "last" | "fullName" | "company" | "jobTitle" | "birthdate" | "locale" | "labels" | "ignore" }
  | { kind: "email"; tag?: EmailTag; slot?: string }
  | { kind: "phone"; tag?: PhoneTag; slot?: string }
  | { kind: "address"; part: AddressPart; group: string; tag?: AddressTag }
  | { kind: "extendedField"; name: string }
  | { kind: "tagOf"; slot: string };

const ADDRESS_PARTS: readonly AddressPart[] = ["addressLine1", "addressLine2", "city", "subdivision", "postalCode", "country"];
/** The proto names of the address parts, as the server spells them in an item error's field. */
export const ADDRESS_PROTO: Record<AddressPart, string> = {
  addressLine1: "address_line",
  addressLine2: "address_line2",
  city: "city",
  subdivision: "subdivision",
  postalCode: "postal_code",
  country: "country",
};
const EMAIL_TAGS: Readonly<Record<string, EmailTag>> = { work: "WORK", home: "HOME", main: "MAIN", untagged: "UNTAGGED" };
const PHONE_TAGS: Readonly<Record<string, PhoneTag>> = { mobile: "MOBILE", work: "WORK", home: "HOME", fax: "FAX", main: "MAIN", untagged: "UNTAGGED" };
const ADDRESS_TAGS: Readonly<Record<string, AddressTag>> = { home: "HOME", work: "WORK", billing: "BILLING", shipping: "SHIPPING", untagged: "UNTAGGED" };

/** A target as the mapping option spells it (the inverse of `parseTarget`). */
export function describeTarget(t: Target): string {
  switch (t.kind) {
    case "first":
      return "info.name.first";
    case "last":
      return "info.name.last";
    case "fullName":
      return "info.name";
    case "company":
    case "jobTitle":
    case "birthdate":
    case "locale":
      return `info.${t.kind}`;
    case "labels":
    case "ignore":
      return t.kind;
    case "email":
      return t.tag ? `info.emails.${t.tag.toLowerCase()}` : "info.emails";
    case "phone":
      return t.tag ? `info.phones.${t.tag.toLowerCase()}` : "info.phones";
    case "address":
      return t.tag ? `info.addresses.${t.tag.toLowerCase()}.${t.part}` : `info.addresses.${t.part}`;
    case "extendedField":
      return `extendedField:${t.name}`;
    case "tagOf":
      return `tag of ${t.slot}`;
  }
}

/** Parses a mapping option's target; throws an InvalidSdkArgumentError naming the valid ones. */
export function parseTarget(column: string, path: unknown): Target {
  const fail = (): never => {
    throw new InvalidSdkArgumentError(
      `importContacts(): options.mapping[${JSON.stringify(column)}] must be one of info.name.first, info.name.last, info.name, ` +
        "info.emails[.work|.home|.main], info.phones[.mobile|.work|.home|.fax|.main], info.company, info.jobTitle, info.birthdate, " +
        "info.locale, info.addresses[.home|.work|.billing|.shipping].{addressLine1,addressLine2,city,subdivision,postalCode,country}, " +
        `labels, extendedField:<key or display name>, ignore; got ${JSON.stringify(path)}`,
    );
  };
  if (typeof path !== "string") return fail();
  const p = path.trim();
  if (p.startsWith("extendedField:")) {
    const name = p.slice("extendedField:".length).trim();
    return name ? { kind: "extendedField", name } : fail();
  }
  const simple: Record<string, Target> = {
    "info.name.first": { kind: "first" },
    "info.name.last": { kind: "last" },
    "info.name": { kind: "fullName" },
    "info.company": { kind: "company" },
    "info.jobTitle": { kind: "jobTitle" },
    "info.birthdate": { kind: "birthdate" },
    "info.locale": { kind: "locale" },
    labels: { kind: "labels" },
    "info.labelKeys": { kind: "labels" },
    ignore: { kind: "ignore" },
    "info.emails": { kind: "email" },
    "info.phones": { kind: "phone" },
  };
  const known = simple[p];
  if (known) return known;
  const [root, list, a, b, ...rest] = p.split(".");
  if (root !== "info" || rest.length > 0 || a === undefined) return fail();
  if (list === "emails" && b === undefined && EMAIL_TAGS[a]) return { kind: "email", tag: EMAIL_TAGS[a] };
  if (list === "phones" && b === undefined && PHONE_TAGS[a]) return { kind: "phone", tag: PHONE_TAGS[a] };
  if (list === "addresses") {
    const part = (b ?? a) as AddressPart;
    const tag = b === undefined ? undefined : ADDRESS_TAGS[a];
    if (!ADDRESS_PARTS.includes(part) || (b !== undefined && !tag)) return fail();
    return { kind: "address", part, group: tag ?? "main", ...(tag ? { tag } : {}) };
  }
  return fail();
}

/**
 * The columns an export writes, in order, and what each is read as on import. Each header is
 * also one that `recognise` knows, so a file written with them reads back the same.
 */
const COLUMNS: ReadonlyArray<{ header: string; target: Target }> = [
  { header: "First Name", target: { kind: "first" } },
  { header: "Last Name", target: { kind: "last" } },
  { header: "Email", target: { kind: "email" } },
  { header: "Email 2", target: { kind: "email" } },
  { header: "Email 3", target: { kind: "email" } },
  { header: "Phone", target: { kind: "phone" } },
  { header: "Mobile Phone", target: { kind: "phone", tag: "MOBILE" } },
  { header: "Work Phone", target: { kind: "phone", tag: "WORK" } },
  { header: "Home Phone", target: { kind: "phone", tag: "HOME" } },
  { header: "Fax", target: { kind: "phone", tag: "FAX" } },
  { header: "Company", target: { kind: "company" } },
  { header: "Job Title", target: { kind: "jobTitle" } },
  { header: "Street", target: { kind: "address", part: "addressLine1", group: "main" } },
  { header: "Street 2", target: { kind: "address", part: "addressLine2", group: "main" } },
  { header: "City", target: { kind: "address", part: "city", group: "main" } },
  { header: "State", target: { kind: "address", part: "subdivision", group: "main" } },
  { header: "Postal Code", target: { kind: "address", part: "postalCode", group: "main" } },
  { header: "Country", target: { kind: "address", part: "country", group: "main" } },
  { header: "Birthdate", target: { kind: "birthdate" } },
  { header: "Locale", target: { kind: "locale" } },
  { header: "Labels", target: { kind: "labels" } },
];

/** A header as `recognise` compares it: lower case, letters and digits only ("E-mail 2 Address" → "email2address"). */
export function normaliseHeader(header: string): string {
  return header
    .normalize("NFKD")
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "");
}

/** A cell's kind word ("Work", "* Mobile", "Business Fax") as a tag. */
export function tagWord(word: string): { email?: EmailTag; phone?: PhoneTag; address?: AddressTag } {
  const w = normaliseHeader(word);
  if (/fax/.test(w)) return { phone: "FAX" };
  if (/mobile|cell/.test(w)) return { phone: "MOBILE" };
  if (/work|business|office|company/.test(w)) return { email: "WORK", phone: "WORK", address: "WORK" };
  if (/home|personal/.test(w)) return { email: "HOME", phone: "HOME", address: "HOME" };
  if (/billing/.test(w)) return { address: "BILLING" };
  if (/shipping/.test(w)) return { address: "SHIPPING" };
  if (/main/.test(w)) return { email: "MAIN", phone: "MAIN" };
  return {};
}

const EMAIL_HEADER = /^(primary|other|secondary|alternate|additional|work|business|home|personal)?e?mails?(\d+)?(address(?:es)?)?(\d+)?(value)?$/;
const PHONE_HEADER =
  /^(primary|other|mobile|cell|work|business|office|home|main|companymain|assistant|car|radio|callback)?(phone|telephone|tel|mobile|cell|cellular|fax)(number)?(\d+)?(value)?$/;
const ADDRESS_HEADER =
  /^(mailing|business|work|office|home|other|billing|shipping|postal|primary|address\d*)?(street|streetaddress|address|addressline1|address1|street2|street3|addressline2|address2|extendedaddress|city|town|state|region|province|stateregion|stateprovince|postalcode|zip|zipcode|postcode|zippostalcode|country|countryregion|countrycode)$/;
const ADDRESS_PART_OF: Readonly<Record<string, AddressPart>> = {
  street: "addressLine1",
  streetaddress: "addressLine1",
  address: "addressLine1",
  addressline1: "addressLine1",
  address1: "addressLine1",
  street2: "addressLine2",
  street3: "addressLine2",
  addressline2: "addressLine2",
  address2: "addressLine2",
  extendedaddress: "addressLine2",
  city: "city",
  town: "city",
  state: "subdivision",
  region: "subdivision",
  province: "subdivision",
  stateregion: "subdivision",
  stateprovince: "subdivision",
  postalcode: "postalCode",
  zip: "postalCode",
  zipcode: "postalCode",
  postcode: "postalCode",
  zippostalcode: "postalCode",
  country: "country",
  countryregion: "country",
  countrycode: "country",
};

/**
 * What a header names, by the spellings of the common CRM exports (the SDK README has the table).
 * `headers` is every normalised header of the file: Outlook's "Title" is a salutation when the
 * file also has a "Job Title", elsewhere (Salesforce) it is the job title.
 */
export function recognise(h: string, headers: ReadonlySet<string>): Target | undefined {
  if (/^(first|given|fore)(name)?$|^fname$/.test(h)) return { kind: "first" };
  if (/^(last|family|sur)(name)?$|^lname$/.test(h)) return { kind: "last" };
  if (/^(full|contact|display)?name$/.test(h)) return { kind: "fullName" };
  if (/^(company|organi[sz]ation|employer|accountname)(\d*name)?$/.test(h)) return { kind: "company" };
  if (/^(job(title)?|position|jobposition|organi[sz]ation\d*(title|jobtitle))$/.test(h)) return { kind: "jobTitle" };
  if (h === "title") return headers.has("jobtitle") ? { kind: "ignore" } : { kind: "jobTitle" };
  if (/^(birth(day|date)|dateofbirth|dob|bday)$/.test(h)) return { kind: "birthdate" };
  if (h === "locale") return { kind: "locale" };
  if (/^(labels?|tags?|categories|category|groupmembership|groups?)$/.test(h)) return { kind: "labels" };
  let m = /^e?mail(\d+)(label|type)$|^phone(\d+)(label|type)$|^address(\d+)(label|type)$/.exec(h);
  if (m) return { kind: "tagOf", slot: m[1] ? `email${m[1]}` : m[3] ? `phone${m[3]}` : `address${m[5]}` };
  m = EMAIL_HEADER.exec(h);
  if (m) {
    const tag = m[1] ? tagWord(m[1]).email : undefined;
    const n = m[2] ?? m[4];
    return { kind: "email", ...(tag ? { tag } : {}), ...(m[5] && n ? { slot: `email${n}` } : {}) };
  }
  m = PHONE_HEADER.exec(h);
  if (m) {
    const tag = tagWord(`${m[1] ?? ""}${m[2] ?? ""}`).phone;
    return { kind: "phone", ...(tag ? { tag } : {}), ...(m[5] && m[4] ? { slot: `phone${m[4]}` } : {}) };
  }
  m = ADDRESS_HEADER.exec(h);
  if (m) {
    const part = ADDRESS_PART_OF[m[2] ?? ""] as AddressPart;
    const prefix = m[1] ?? "";
    if (/^address\d+$/.test(prefix)) return { kind: "address", part, group: prefix };
    const tag = tagWord(prefix).address;
    return { kind: "address", part, group: tag ?? (prefix === "other" ? "other" : "main"), ...(tag ? { tag } : {}) };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// List cells: several emails, phones or labels in one cell

/**
 * The items of a list cell: separated by `;`, `,` (when `commas`; a phone number may hold one)
 * or Google's ` ::: `, each optionally in double quotes (Mailchimp's `"VIP","Newsletter"`), inside
 * which separators are text and `""` is a quote. `quoted` says an item was in quotes.
 */
export function splitListCell(value: string, commas: boolean): Array<{ text: string; quoted: boolean }> {
  const items: Array<{ text: string; quoted: boolean }> = [];
  const separator = commas ? /^\s*(?::::|;|,)/ : /^\s*(?::::|;)/;
  let rest = value;
  while (rest.length > 0) {
    rest = rest.trimStart();
    let text = "";
    let quoted = false;
    const q = /^"((?:[^"]|"")*)"/.exec(rest);
    if (q) {
      text = (q[1] ?? "").replaceAll('""', '"');
      quoted = true;
      rest = rest.slice(q[0].length);
      // Anything between the closing quote and the next separator belongs to the item.
      const tail = rest.search(commas ? /:::|;|,/ : /:::|;/);
      text += tail < 0 ? rest : rest.slice(0, tail);
      rest = tail < 0 ? "" : rest.slice(tail);
    } else {
      const end = rest.search(commas ? /:::|;|,/ : /:::|;/);
      text = end < 0 ? rest : rest.slice(0, end);
      rest = end < 0 ? "" : rest.slice(end);
    }
    const m = separator.exec(rest);
    if (m) rest = rest.slice(m[0].length);
    text = text.trim();
    if (text.length > 0) items.push({ text, quoted });
  }
  return items;
}

/** Items as one list cell that `splitListCell(cell, true)` reads back: `"; "`-separated, quoted where they hold a separator or a quote. */
export function joinListCell(items: readonly string[]): string {
  return items.map((item) => (/[;,"]|:::|^\*|^\s|\s$/.test(item) ? `"${item.replaceAll('"', '""')}"` : item)).join("; ");
}

// ---------------------------------------------------------------------------------------------
// Contacts as rows (the export side)

const PHONE_COLUMN: Partial<Record<PhoneTag, string>> = { MOBILE: "Mobile Phone", WORK: "Work Phone", HOME: "Home Phone", FAX: "Fax" };

/** A header for each extended field: its display name, or its key when the name would read as another column. */
function fieldHeaders(options: ContactRowOptions | undefined): Array<[string, string]> {
  const taken = new Set(COLUMNS.map((c) => normaliseHeader(c.header)));
  const all = new Set<string>();
  return (options?.extendedFields ?? []).map((f) => {
    const h = normaliseHeader(f.displayName);
    const header = taken.has(h) || all.has(h) || recognise(h, taken) !== undefined ? f.key : f.displayName;
    all.add(normaliseHeader(header));
    return [f.key, header];
  });
}

/**
 * The headers of the rows `contactToRow` writes: First Name, Last Name, Email, Email 2, Email 3,
 * Phone, Mobile Phone, Work Phone, Home Phone, Fax, Company, Job Title, Street, Street 2, City,
 * State, Postal Code, Country, Birthdate, Locale, Labels, then one per extended field.
 */
export function contactRowHeaders(options?: ContactRowOptions): string[] {
  return [...COLUMNS.map((c) => c.header), ...fieldHeaders(options).map(([, header]) => header)];
}

/**
 * A contact as the row `importContacts` reads back as the same contact: the primary email in
 * Email, the next in Email 2, the rest in Email 3 (joined with "; "); the primary phone in Phone
 * (E.164 when the server could parse it) and the others by tag; the first address; labels by
 * display name (quoted when a name holds a separator). Email tags and further addresses are not
 * written.
 *
 * @example
 * const headers = contactRowHeaders({ extendedFields });
 * for await (const c of contacts.exportContacts()) writer.write(contactToRow(c, { labels, extendedFields }));
 */
export function contactToRow(contact: Contact, options?: ContactRowOptions): Record<string, string> {
  const row: Record<string, string> = Object.fromEntries(contactRowHeaders(options).map((h) => [h, ""]));
  const info = contact.info ?? {};
  const add = (header: string, value: string | undefined) => {
    if (!value) return;
    row[header] = row[header] ? `${row[header]}; ${value}` : value;
  };
  add("First Name", info.name?.first);
  add("Last Name", info.name?.last);
  const emails = [...(info.emails?.items ?? [])].sort((a, b) => Number(b.primary === true) - Number(a.primary === true));
  for (const [i, e] of emails.entries()) add(i === 0 ? "Email" : i === 1 ? "Email 2" : "Email 3", e.email);
  const phones = [...(info.phones?.items ?? [])].sort((a, b) => Number(b.primary === true) - Number(a.primary === true));
  for (const [i, p] of phones.entries()) add(i === 0 ? "Phone" : (PHONE_COLUMN[p.tag ?? "UNTAGGED"] ?? "Phone"), p.e164Phone || p.phone);
  add("Company", info.company);
  add("Job Title", info.jobTitle);
  const address = info.addresses?.items?.[0]?.address;
  if (address) {
    const street = address.streetAddress;
    add("Street", address.addressLine1 ?? ([street?.number, street?.name].filter(Boolean).join(" ") || undefined));
    add("Street 2", address.addressLine2 ?? street?.apt);
    add("City", address.city);
    add("State", address.subdivision);
    add("Postal Code", address.postalCode);
    add("Country", address.country);
  }
  add("Birthdate", info.birthdate);
  add("Locale", info.locale);
  const names = new Map((options?.labels ?? []).map((l) => [l.key, l.displayName]));
  row.Labels = joinListCell((info.labelKeys?.items ?? []).map((key) => names.get(key) ?? key));
  const values = info.extendedFields?.items ?? {};
  for (const [key, header] of fieldHeaders(options)) {
    const value = values[key];
    if (value !== undefined && value !== null) row[header] = String(value);
  }
  return row;
}
