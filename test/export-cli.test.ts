/**
 * `npm run export` (tools/export.ts) through a real server on MariaDB and SQLite: a CSV export,
 * imported with `npm run import` into another tenant, gives the same contacts (names, emails,
 * phones, company, job title, address, birthdate, locale, labels, extended fields), values with
 * commas, quotes, semicolons and line breaks included; `--filter` and `--search` select; and the
 * vCard export is RFC 6350: CRLF line ends, lines folded at 75 octets without splitting a
 * character, BEGIN/VERSION 4.0/FN/N/EMAIL/TEL/END per contact, and values that parse back as
 * written.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ICAL from "ical.js";
import { beforeAll, describe, expect, it } from "vitest";
import type { Contact, ContactInfo, ContactsClient } from "../sdk/src/index.js";
import { contactToVcard } from "../tools/vcard.js";
import { allContacts, runTool, suiteServer, suiteTempDir, tenant } from "./support/sdk.js";
import { STORES, type StoreName } from "./support/server.js";

const LONG_COMPANY = `Zoë's Überlange Gesellschaft für Ångström-Messtechnik, Kraków & Zürich 🚀 ${"ü".repeat(40)}`;

/** Contacts with the values a CSV or vCard writer gets wrong: separators, quotes, line breaks, non-ASCII. */
function richContacts(labels: Record<string, string>, fields: Record<string, string>): ContactInfo[] {
  return [
    {
      name: { first: "Ada", last: "Lovelace, Countess" },
      emails: {
        items: [
          { email: "ada@example.com", tag: "WORK", primary: true },
          { email: "ada.home@example.com", tag: "HOME" },
          { email: "ada3@example.com" },
          { email: "ada4@example.com" },
        ],
      },
      phones: {
        items: [
          { phone: "(201) 555-0123", countryCode: "US", tag: "MOBILE", primary: true },
          { phone: "+44 20 7946 0958", tag: "WORK" },
          { phone: "+1 212 555 0100", tag: "HOME" },
          { phone: "+1 212 555 0199", tag: "FAX" },
        ],
      },
      company: 'Analytical Engines; Ltd, "The" Company',
      jobTitle: "Head of\nThings",
      addresses: {
        items: [
          { tag: "HOME", address: { addressLine1: "12 St James's Square", addressLine2: "Floor 2", city: "London", postalCode: "SW1Y 4LB", country: "GB" } },
        ],
      },
      birthdate: "1815-12-10",
      locale: "en-GB",
      labelKeys: { items: [labels.vip as string, labels.close as string] },
      extendedFields: {
        items: { [fields.shoe as string]: 38.5, [fields.since as string]: "2020-03-04", [fields.nick as string]: 'The "Enchantress";\nof numbers' },
      },
    },
    {
      name: { first: "Grace", last: "Hopper" },
      phones: { items: [{ phone: "+1 201 555 0100" }] },
      addresses: { items: [{ address: { city: "New York", subdivision: "US-NY", country: "US", postalCode: "10001" } }] },
      labelKeys: { items: ["contacts.customers"] },
    },
    { name: { first: "Zoë", last: "Ünïcode-Ñame" }, emails: { items: [{ email: "zoe@example.com" }] }, company: LONG_COMPANY },
    { company: "Lonely Corp", emails: { items: [{ email: "lonely@example.com" }] } },
    { name: { first: "Back\\slash" }, emails: { items: [{ email: "back@example.com" }] }, jobTitle: "a\\b,c;d" },
  ];
}

/** What the CSV keeps of a contact, comparable across tenants (keys become display names; tags are not written). */
function comparable(c: Contact, labelNames: Map<string, string>, fieldNames: Map<string, string>) {
  const i = c.info ?? {};
  const a = i.addresses?.items?.[0]?.address;
  return JSON.stringify({
    first: i.name?.first,
    last: i.name?.last,
    emails: (i.emails?.items ?? []).map((e) => e.email.toLowerCase()).sort(),
    primaryEmail: c.primaryInfo?.email,
    phones: (i.phones?.items ?? []).map((p) => p.e164Phone ?? p.phone).sort(),
    company: i.company,
    jobTitle: i.jobTitle,
    address: a && { line1: a.addressLine1, line2: a.addressLine2, city: a.city, subdivision: a.subdivision, postalCode: a.postalCode, country: a.country },
    birthdate: i.birthdate,
    locale: i.locale,
    labels: (i.labelKeys?.items ?? []).map((k) => labelNames.get(k) ?? k).sort(),
    fields: Object.fromEntries(
      Object.entries(i.extendedFields?.items ?? {})
        .filter(([k]) => fieldNames.has(k))
        .map(([k, v]) => [fieldNames.get(k), v])
        .sort(([a], [b]) => String(a).localeCompare(String(b))),
    ),
  });
}

async function catalog(client: ContactsClient) {
  const labels = new Map((await client.labels.listLabels()).labels.map((l) => [l.key, l.displayName]));
  const fields = new Map((await client.extendedFields.listExtendedFields({ fieldType: "USER_DEFINED" })).fields.map((f) => [f.key, f.displayName]));
  return { labels, fields };
}

async function fieldsIn(client: ContactsClient): Promise<Record<string, string>> {
  const shoe = await client.extendedFields.findOrCreateExtendedField("Shoe size", "NUMBER");
  const since = await client.extendedFields.findOrCreateExtendedField("Member since", "DATE");
  const nick = await client.extendedFields.findOrCreateExtendedField("Nickname", "TEXT");
  return { shoe: shoe.field.key, since: since.field.key, nick: nick.field.key };
}

/** Checks RFC 6350's line rules on a whole export and returns it unfolded, as content lines. */
function vcardLines(text: string): string[] {
  expect(text.endsWith("\r\n")).toBe(true);
  // CRLF and nothing else ends a line.
  expect(text.replaceAll("\r\n", "")).not.toMatch(/[\r\n]/);
  for (const line of text.slice(0, -2).split("\r\n")) {
    expect(Buffer.byteLength(line), line).toBeLessThanOrEqual(75);
    // A fold never falls inside a character: no half of a surrogate pair at either end.
    expect(line).not.toMatch(/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/);
  }
  return text.replaceAll("\r\n ", "").slice(0, -2).split("\r\n");
}

describe("contactToVcard writes what RFC 6350 asks", () => {
  it("escapes text, keeps separators inside N, ORG and CATEGORIES, and folds at 75 octets", () => {
    const contact: Contact = {
      _id: "6c3e1f38-0d36-4b8a-9a1e-0f4f6f1c2d3e",
      revision: 3,
      _updatedDate: new Date("2024-01-02T03:04:05.678Z"),
      primaryInfo: { email: "zoe@example.com" },
      info: {
        name: { first: "Zoë, Jr.", last: "O'Brien; Ünïcode" },
        emails: { items: [{ email: "zoe@example.com", tag: "WORK", primary: true }] },
        phones: {
          items: [
            { phone: "(201) 555-0123", e164Phone: "+12015550123", tag: "MOBILE", primary: true },
            { phone: "ext. 12", tag: "HOME" },
          ],
        },
        company: LONG_COMPANY,
        jobTitle: "Line one\r\nLine two \\ backslash",
        addresses: {
          items: [
            {
              tag: "WORK",
              address: {
                addressLine1: "1 Main St",
                addressLine2: "Suite 5; back",
                city: "Springfield",
                subdivision: "US-IL",
                postalCode: "62701",
                country: "US",
              },
            },
          ],
        },
        birthdate: "1815-12-10",
        labelKeys: { items: ["custom.friends", "custom.vip"] },
      },
    };
    const text = contactToVcard(contact, new Map([["custom.friends", "Friends, close"]]));
    const lines = vcardLines(text);
    expect(lines[0]).toBe("BEGIN:VCARD");
    expect(lines[1]).toBe("VERSION:4.0");
    expect(lines.at(-1)).toBe("END:VCARD");
    expect(lines).toContain("FN:Zoë\\, Jr. O'Brien; Ünïcode");
    expect(lines).toContain("N:O'Brien\\; Ünïcode;Zoë\\, Jr.;;;");
    expect(lines).toContain("EMAIL;TYPE=work;PREF=1:zoe@example.com");
    expect(lines).toContain("TEL;VALUE=uri;TYPE=cell;PREF=1:tel:+12015550123");
    expect(lines).toContain("TEL;TYPE=home:ext. 12");
    expect(lines).toContain("ADR;TYPE=work:;;1 Main St\\nSuite 5\\; back;Springfield;US-IL;62701;US");
    expect(lines).toContain("TITLE:Line one\\nLine two \\\\ backslash");
    expect(lines).toContain("BDAY:18151210");
    expect(lines).toContain("CATEGORIES:Friends\\, close,custom.vip");
    expect(lines).toContain("UID:urn:uuid:6c3e1f38-0d36-4b8a-9a1e-0f4f6f1c2d3e");
    expect(lines).toContain("REV:20240102T030405Z");
    // The long company is folded, and reads back whole.
    expect(text.split("\r\n").filter((l) => l.startsWith(" ")).length).toBeGreaterThan(1);
    const card = new ICAL.Component(ICAL.parse(text) as unknown[]);
    expect(card.getFirstProperty("org")?.getValues()).toEqual([LONG_COMPANY]);
    expect(card.getFirstPropertyValue("n")).toEqual(["O'Brien; Ünïcode", "Zoë, Jr.", "", "", ""]);
    expect(card.getFirstProperty("categories")?.getValues()).toEqual(["Friends, close", "custom.vip"]);
    expect(card.getFirstPropertyValue("title")).toBe("Line one\nLine two \\ backslash");
  });

  it("gives every contact an FN, from its name, company, email or phone", () => {
    const fn = (info: ContactInfo, primaryInfo?: Contact["primaryInfo"]) =>
      vcardLines(contactToVcard({ _id: randomUUID(), revision: 1, info, ...(primaryInfo ? { primaryInfo } : {}) })).find((l) => l.startsWith("FN:"));
    expect(fn({ name: { last: "Hopper" } })).toBe("FN:Hopper");
    expect(fn({ company: "Lonely Corp" })).toBe("FN:Lonely Corp");
    expect(fn({ phones: { items: [{ phone: "+1 201 555 0100" }] } }, { phone: "+1 201 555 0100" })).toBe("FN:+1 201 555 0100");
  });
});

describe.each(STORES)("npm run export on %s", (store: StoreName) => {
  const dir = suiteTempDir("contacts-export-");
  const suite = suiteServer(store);
  const { clientFor } = suite;
  const source = tenant("export-src");
  let src: ContactsClient;
  let rich: ContactInfo[];

  beforeAll(async () => {
    src = clientFor(source);
    const vip = await src.labels.findOrCreateLabel("VIP");
    const close = await src.labels.findOrCreateLabel("Friends, close");
    rich = richContacts({ vip: vip.label.key, close: close.label.key }, await fieldsIn(src));
    // 600 more: an export of two stream messages.
    const bulk = Array.from(
      { length: 600 },
      (_, i): ContactInfo => ({ name: { first: `Bulk${i}`, last: "Person" }, emails: { items: [{ email: `bulk${i}@example.com` }] } }),
    );
    for (const batch of [rich, bulk.slice(0, 100), bulk.slice(100, 200), bulk.slice(200, 300), bulk.slice(300, 400), bulk.slice(400, 500), bulk.slice(500)]) {
      const { bulkActionMetadata } = await src.contacts.bulkUpsertContacts(batch);
      expect(bulkActionMetadata.totalFailures).toBe(0);
    }
  });

  it("a CSV export, imported into another tenant, gives the same contacts", async () => {
    const file = join(dir.path, `${source}.csv`);
    const exported = await runTool("export", ["--format", "csv", "--out", file, "--url", suite.server.grpcUrl, "--tenant", source]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stderr).toContain(`exported 605 contacts to ${file}.`);
    const csv = readFileSync(file, "utf8");
    expect(csv.startsWith("\uFEFFFirst Name,Last Name,Email,Email 2,Email 3,Phone,")).toBe(true);

    const target = tenant("export-dst");
    const dst = clientFor(target);
    // The fields exist there too (by display name); labels are created by the import.
    await fieldsIn(dst);
    const imported = await runTool("import", [file, "--url", suite.server.grpcUrl, "--tenant", target]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toContain("605 rows, 605 created, 0 updated, 0 unchanged, 0 rejected.");

    const [a, b] = [await catalog(src), await catalog(dst)];
    const before = (await allContacts(src)).map((c) => comparable(c, a.labels, a.fields)).sort();
    const after = (await allContacts(dst)).map((c) => comparable(c, b.labels, b.fields)).sort();
    expect(after).toEqual(before);
    // The rich ones survived whole, not just as many.
    const ada = JSON.parse(before.find((c) => c.includes('"first":"Ada"')) as string);
    expect(ada).toMatchObject({
      last: "Lovelace, Countess",
      company: 'Analytical Engines; Ltd, "The" Company',
      jobTitle: "Head of\nThings",
      labels: ["Friends, close", "VIP"],
      fields: { "Shoe size": 38.5, "Member since": "2020-03-04", Nickname: 'The "Enchantress";\nof numbers' },
    });
    expect(ada.emails).toHaveLength(4);
    expect(ada.phones).toHaveLength(4);
  });

  it("--filter and --search export only the contacts they select", async () => {
    const vipKey = (await src.labels.findOrCreateLabel("VIP")).label.key;
    const filtered = await runTool("export", [
      "--filter",
      JSON.stringify({ "info.labelKeys": { $hasSome: [vipKey] } }),
      "--url",
      suite.server.grpcUrl,
      "--tenant",
      source,
    ]);
    expect(filtered.code, filtered.stderr).toBe(0);
    const rows = filtered.stdout
      .replace(/^\uFEFF/, "")
      .trimEnd()
      .split("\r\n");
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatch(/^Ada,"Lovelace, Countess",ada@example\.com,/);

    const searched = await runTool("export", ["--format", "vcard", "--search", "hopper", "--url", suite.server.grpcUrl, "--tenant", source]);
    expect(searched.code, searched.stderr).toBe(0);
    expect(vcardLines(searched.stdout).filter((l) => l.startsWith("FN:"))).toEqual(["FN:Grace Hopper"]);

    const bad = await runTool("export", ["--filter", "{not json", "--url", suite.server.grpcUrl, "--tenant", source]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--filter must be JSON");
  });

  it("the vCard export is RFC 6350: a card per contact, CRLF, 75-octet lines, and values that parse back as written", async () => {
    const file = join(dir.path, `${source}.vcf`);
    const run = await runTool("export", ["--format", "vcard", "--out", file, "--url", suite.server.grpcUrl, "--tenant", source]);
    expect(run.code, run.stderr).toBe(0);
    const text = readFileSync(file, "utf8");
    const lines = vcardLines(text);

    const stored = await allContacts(src);
    const cards: string[][] = [];
    for (const line of lines) {
      if (line === "BEGIN:VCARD") cards.push([]);
      cards.at(-1)?.push(line);
    }
    expect(cards).toHaveLength(stored.length);
    const props = (card: string[], name: string) => card.filter((l) => l.split(/[;:]/, 1)[0] === name);
    for (const [i, card] of cards.entries()) {
      const contact = stored[i] as Contact;
      expect(card[0]).toBe("BEGIN:VCARD");
      expect(card[1]).toBe("VERSION:4.0");
      expect(card.at(-1)).toBe("END:VCARD");
      expect(props(card, "FN")).toHaveLength(1);
      expect(props(card, "N")).toHaveLength(1);
      expect(props(card, "EMAIL")).toHaveLength(contact.info?.emails?.items?.length ?? 0);
      expect(props(card, "TEL")).toHaveLength(contact.info?.phones?.items?.length ?? 0);
      expect(props(card, "UID")).toEqual([`UID:urn:uuid:${contact._id}`]);
    }

    // A vCard parser reads the same values back (ical.js, but from the file as written).
    const parsed = (ICAL.parse(text) as unknown[][]).map((jcal) => new ICAL.Component(jcal));
    const ada = parsed.find((c) => c.getFirstPropertyValue("fn") === "Ada Lovelace, Countess");
    expect(ada?.getFirstPropertyValue("n")).toEqual(["Lovelace, Countess", "Ada", "", "", ""]);
    expect(ada?.getFirstProperty("org")?.getValues()).toEqual(['Analytical Engines; Ltd, "The" Company']);
    expect(ada?.getFirstPropertyValue("title")).toBe("Head of\nThings");
    expect(ada?.getAllProperties("tel").map((p) => [p.getFirstValue(), p.getParameter("type")])).toEqual([
      ["tel:+12015550123", "cell"],
      ["tel:+442079460958", "work"],
      ["tel:+12125550100", "home"],
      ["tel:+12125550199", "fax"],
    ]);
    expect(ada?.getFirstProperty("categories")?.getValues().sort()).toEqual(["Friends, close", "VIP"]);
    const zoe = parsed.find((c) => c.getFirstPropertyValue("fn") === "Zoë Ünïcode-Ñame");
    expect(zoe?.getFirstProperty("org")?.getValues()).toEqual([LONG_COMPANY]);
    expect(parsed.find((c) => c.getFirstPropertyValue("fn") === "Lonely Corp")).toBeDefined();
    expect(parsed.find((c) => c.getFirstPropertyValue("fn") === "Back\\slash")?.getFirstPropertyValue("title")).toBe("a\\b,c;d");
  });
});
