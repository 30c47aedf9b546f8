/**
 * A contact as a vCard 4.0 (RFC 6350), written with ical.js.
 *
 * Why ical.js: of the maintained npm libraries that write vCard 4.0, it is the one whose output
 * is right where RFC 6350 is strict. It escapes text as §3.4 says (backslash, comma, newline; the
 * semicolons inside N, ADR and ORG components) and folds lines at 75 octets of UTF-8 without
 * splitting a character (§3.2). The two maintained alternatives that write 4.0, `vcard4` and
 * `vcards-js`, fold at 75 UTF-16 code units, which is more than 75 octets for any non-ASCII text
 * and can cut a surrogate pair in two; `vcard4` also escapes `:` as `\:`, which RFC 6350 does not
 * define, and `vcards-js` leaves a `;` in ORG unescaped, splitting a company name into units
 * (`vcard-creator` writes 3.0 only). ical.js is Mozilla's calendar and contacts parser
 * (Thunderbird's), has no dependencies, and is released regularly.
 */
import ICAL from "ical.js";
import type { AddressTag, Contact, EmailTag, PhoneTag } from "../sdk/src/index.js";

// ical.js folds a line once it holds 75 octets, but does not count the space that begins each
// continuation line, which can so be 76 octets long; at 74 every line, space included, is at
// most 75. (`foldLength` is ical.js's public setting; this module is its only user here.)
ICAL.foldLength = 74;

const EMAIL_TYPE: Partial<Record<EmailTag, string>> = { WORK: "work", HOME: "home" };
const PHONE_TYPE: Partial<Record<PhoneTag, string>> = { MOBILE: "cell", WORK: "work", HOME: "home", FAX: "fax", MAIN: "voice" };
const ADDRESS_TYPE: Partial<Record<AddressTag, string>> = { WORK: "work", HOME: "home" };

/** Line breaks as `\n` only: a bare CR inside a value would end the content line early. */
function text(value: string): string {
  return value.replace(/\r\n?/g, "\n");
}

/** The name a person sees: FN is required (exactly one) in vCard 4.0, so never empty. */
function displayName(contact: Contact): string {
  const info = contact.info ?? {};
  const name = [info.name?.first, info.name?.last].filter(Boolean).join(" ");
  return name || info.company || contact.primaryInfo?.email || contact.primaryInfo?.phone || "(no name)";
}

/**
 * A contact as one vCard 4.0, CRLF line endings included: FN, N, EMAIL, TEL, ADR, ORG, TITLE,
 * BDAY, LANG, CATEGORIES (label display names from `labelNames`, else keys), UID (`urn:uuid:` +
 * the contact's id) and REV. Extended fields have no vCard property and are not written.
 */
export function contactToVcard(contact: Contact, labelNames: ReadonlyMap<string, string> = new Map()): string {
  const info = contact.info ?? {};
  const card = new ICAL.Component("vcard");
  // RFC 6350 §6.7.9: VERSION comes first, right after BEGIN.
  card.addPropertyWithValue("version", "4.0");
  card.addPropertyWithValue("uid", `urn:uuid:${contact._id}`);
  card.addPropertyWithValue("fn", text(displayName(contact)));
  card.addPropertyWithValue("n", [text(info.name?.last ?? ""), text(info.name?.first ?? ""), "", "", ""]);
  for (const e of info.emails?.items ?? []) {
    const p = card.addPropertyWithValue("email", text(e.email));
    const type = EMAIL_TYPE[e.tag ?? "UNTAGGED"];
    if (type) p.setParameter("type", type);
    if (e.primary) p.setParameter("pref", "1");
  }
  for (const t of info.phones?.items ?? []) {
    // The tel: URI RFC 6350 §6.4.1 recommends, when the server could read the number.
    const p = card.addPropertyWithValue("tel", t.e164Phone ? `tel:${t.e164Phone}` : text(t.phone));
    if (t.e164Phone) p.setParameter("value", "uri");
    const type = PHONE_TYPE[t.tag ?? "UNTAGGED"];
    if (type) p.setParameter("type", type);
    if (t.primary) p.setParameter("pref", "1");
  }
  for (const a of info.addresses?.items ?? []) {
    const address = a.address ?? {};
    const street = address.streetAddress;
    const line1 = address.addressLine1 ?? ([street?.number, street?.name].filter(Boolean).join(" ") || "");
    const line2 = address.addressLine2 ?? street?.apt ?? "";
    // Post office box and extended address SHOULD be empty (§6.3.1): a second line joins the street.
    const p = card.addPropertyWithValue("adr", [
      "",
      "",
      text([line1, line2].filter(Boolean).join("\n")),
      text(address.city ?? ""),
      text(address.subdivision ?? ""),
      text(address.postalCode ?? ""),
      text(address.country ?? ""),
    ]);
    const type = ADDRESS_TYPE[a.tag ?? "UNTAGGED"];
    if (type) p.setParameter("type", type);
  }
  if (info.company) {
    const org = new ICAL.Property("org", card);
    org.setValue([text(info.company)]);
    card.addProperty(org);
  }
  if (info.jobTitle) card.addPropertyWithValue("title", text(info.jobTitle));
  if (info.birthdate) card.addPropertyWithValue("bday", info.birthdate.replaceAll("-", ""));
  if (info.locale) card.addPropertyWithValue("lang", info.locale);
  const labels = (info.labelKeys?.items ?? []).map((key) => text(labelNames.get(key) ?? key));
  if (labels.length > 0) {
    const categories = new ICAL.Property("categories", card);
    categories.setValues(labels);
    card.addProperty(categories);
  }
  if (contact._updatedDate) card.addPropertyWithValue("rev", contact._updatedDate.toISOString().replace(/[-:]|\.\d+/g, ""));
  return `${card.toString()}\r\n`;
}
