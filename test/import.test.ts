/**
 * `contacts.importContacts` (sdk/src/import.ts) and `npm run import` (tools/import.ts) through a
 * real server on MariaDB and SQLite: the headers of HubSpot, Salesforce, Google Contacts, Outlook
 * and Mailchimp exports; good rows stored and every bad row reported with its row, column,
 * reason and code (the importer's own checks and the server's item errors, mapped back to the
 * column that fed them); labels and extended fields created or refused; re-runs and an import
 * interrupted after the server answered a batch creating nothing twice; and the CLI's rejects
 * file (fixed by hand and imported again), and a CLI killed mid-run continuing where it stopped.
 */
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { beforeAll, describe, expect, it } from "vitest";
import type { Contact, ContactsClient, ImportReject, ImportRow } from "../sdk/src/index.js";
import { countryCodeOf, parseImportDate } from "../sdk/src/import.js";
import { allContacts, runTool, spawnTool, suiteServer, suiteTempDir, tenant, unreachableClient } from "./support/sdk.js";
import { STORES, type StoreName } from "./support/server.js";

/** Rows as objects, from a header line and value lines (what a CSV parser with `columns: true` yields). */
function rowsOf(header: string[], ...lines: string[][]): ImportRow[] {
  return lines.map((line) => Object.fromEntries(header.map((h, i) => [h, line[i] ?? ""])));
}

function byFirstName(contacts: Contact[], first: string): Contact {
  const c = contacts.find((x) => x.info?.name?.first === first);
  if (!c) throw new Error(`no contact named ${first}; have ${contacts.map((x) => x.info?.name?.first).join(", ")}`);
  return c;
}

describe("importContacts reads dates and countries as CRM exports write them", () => {
  it("reads the date forms of the common exports as YYYY-MM-DD and refuses days that do not exist", () => {
    const cases: Array<[string, string | undefined, string | undefined]> = [
      // value, read month-first (default), read day-first
      ["1815-12-10", "1815-12-10", "1815-12-10"],
      ["1815/12/10", "1815-12-10", "1815-12-10"],
      ["18151210", "1815-12-10", "1815-12-10"],
      ["2024-01-02T00:00:00Z", "2024-01-02", "2024-01-02"],
      ["12/10/1815", "1815-12-10", "1815-10-12"],
      ["13/12/1815", "1815-12-13", "1815-12-13"],
      ["10.12.1815", "1815-12-10", "1815-12-10"],
      ["10 Dec 1815", "1815-12-10", "1815-12-10"],
      ["10-Dec-1815", "1815-12-10", "1815-12-10"],
      ["December 10, 1815", "1815-12-10", "1815-12-10"],
      ["5/12/80", "1980-05-12", "1980-12-05"],
      // 29 cannot be a month: the order is settled whatever dateOrder says.
      ["2/29/2000", "2000-02-29", "2000-02-29"],
      ["0/0/00", "", ""],
      ["2/29/1900", undefined, undefined],
      ["31/31/1999", undefined, undefined],
      ["05/12", undefined, undefined],
      ["yesterday", undefined, undefined],
    ];
    for (const [value, mdy, dmy] of cases) {
      expect(parseImportDate(value), value).toBe(mdy);
      expect(parseImportDate(value, "DMY"), `${value} (DMY)`).toBe(dmy);
    }
  });

  it("reads countries by ISO code or English name, current codes for retired ones", () => {
    const cases: Array<[string, string | undefined]> = [
      ["US", "US"],
      ["gb", "GB"],
      ["UK", "GB"],
      ["United Kingdom", "GB"],
      ["United States", "US"],
      ["USA", "US"],
      ["germany", "DE"],
      ["Myanmar", "MM"],
      ["Côte d’Ivoire", "CI"],
      ["Narnia", undefined],
    ];
    for (const [value, code] of cases) expect(countryCodeOf(value), value).toBe(code);
  });
});

describe("importContacts: checks made before anything is sent", () => {
  const client = unreachableClient();

  it("rejects malformed options with a TypeError naming them", async () => {
    const { contacts } = client;
    await expect(contacts.importContacts("a,b" as never)).rejects.toThrow(/rows must be an iterable/);
    await expect(contacts.importContacts([], { batchSize: 101 })).rejects.toThrow(/options\.batchSize must be an integer from 1 to 100/);
    await expect(contacts.importContacts([], { startAtRow: 0 })).rejects.toThrow(/options\.startAtRow must be a positive integer/);
    await expect(contacts.importContacts([], { labels: "maybe" as never })).rejects.toThrow(/options\.labels must be "create" or "refuse"/);
    await expect(contacts.importContacts([], { dateOrder: "YMD" as never })).rejects.toThrow(/options\.dateOrder/);
    await expect(contacts.importContacts([], { defaultCountry: "Narnia" })).rejects.toThrow(/options\.defaultCountry/);
    await expect(contacts.importContacts([], { mapping: { Shoe: "info.shoeSize" } })).rejects.toThrow(
      /options\.mapping\["Shoe"\] must be one of .*extendedField:<key or display name>/,
    );
    await expect(contacts.importContacts([], { mapping: { Where: "info.addresses.moon.city" } })).rejects.toThrow(TypeError);
  });
});

describe("importContacts reads the exports of common CRMs (SQLite: the mapping is the client's, the same on either store)", () => {
  const suite = suiteServer("sqlite");
  let client: ContactsClient;
  beforeAll(() => {
    client = suite.clientFor(tenant("crm"));
  });

  it("HubSpot, Salesforce, Google Contacts, Outlook and Mailchimp rows become the same kind of contact", async () => {
    const { field: shoe } = await client.extendedFields.findOrCreateExtendedField("Shoe size", "NUMBER");
    const { field: since } = await client.extendedFields.findOrCreateExtendedField("Member since", "DATE");
    const imports = [
      rowsOf(
        [
          "First Name",
          "Last Name",
          "Email",
          "Additional email addresses",
          "Phone Number",
          "Mobile Phone Number",
          "Company Name",
          "Job Title",
          "Street Address",
          "City",
          "State/Region",
          "Postal Code",
          "Country/Region",
          "Record ID",
          "Lifecycle Stage",
          "Shoe size",
        ],
        [
          "Hub",
          "Spot",
          "hub@example.com",
          "hub2@example.com;hub3@example.com",
          "+1 617 555 0100",
          "(617) 555-0101",
          "HubSpot, Inc.",
          "CMO",
          "25 First St",
          "Cambridge",
          "MA",
          "02141",
          "United States",
          "101",
          "customer",
          "44.5",
        ],
      ),
      rowsOf(
        [
          "Salutation",
          "First Name",
          "Last Name",
          "Title",
          "Account Name",
          "Mailing Street",
          "Mailing City",
          "Mailing State/Province",
          "Mailing Zip/Postal Code",
          "Mailing Country",
          "Phone",
          "Mobile",
          "Fax",
          "Email",
          "Birthdate",
          "Contact ID",
        ],
        [
          "Ms.",
          "Sales",
          "Force",
          "VP Sales",
          "Salesforce",
          "415 Mission St",
          "San Francisco",
          "CA",
          "94105",
          "USA",
          "(415) 555-0199",
          "(415) 555-0198",
          "(415) 555-0197",
          "sales@example.com",
          "4/13/1975",
          "003xx",
        ],
      ),
      rowsOf(
        [
          "First Name",
          "Middle Name",
          "Last Name",
          "Organization Name",
          "Organization Title",
          "Birthday",
          "Labels",
          "E-mail 1 - Label",
          "E-mail 1 - Value",
          "E-mail 2 - Label",
          "E-mail 2 - Value",
          "Phone 1 - Label",
          "Phone 1 - Value",
          "Address 1 - Label",
          "Address 1 - Formatted",
          "Address 1 - Street",
          "Address 1 - City",
          "Address 1 - Region",
          "Address 1 - Postal Code",
          "Address 1 - Country",
        ],
        [
          "Goo",
          "G",
          "Gle",
          "Alphabet",
          "Engineer",
          "1998-09-04",
          "* myContacts ::: Friends ::: Work",
          "* Work",
          "goo@example.com",
          "Home",
          "goo.home@example.com",
          "Mobile",
          "+44 20 7946 0000",
          "Home",
          "1 Main St, London",
          "1 Main St",
          "London",
          "",
          "N1 9GU",
          "United Kingdom",
        ],
      ),
      rowsOf(
        [
          "Title",
          "First Name",
          "Middle Name",
          "Last Name",
          "Suffix",
          "Company",
          "Department",
          "Job Title",
          "Business Street",
          "Business City",
          "Business State",
          "Business Postal Code",
          "Business Country/Region",
          "Home Street",
          "Home City",
          "Home Postal Code",
          "Home Country/Region",
          "Business Fax",
          "Business Phone",
          "Home Phone",
          "Mobile Phone",
          "Birthday",
          "Categories",
          "E-mail Address",
          "E-mail 2 Address",
          "E-mail Display Name",
          "Notes",
        ],
        [
          "Dr.",
          "Out",
          "",
          "Look",
          "",
          "Contoso",
          "IT",
          "Admin",
          "1 Microsoft Way",
          "Redmond",
          "WA",
          "98052",
          "United States",
          "2 Home Rd",
          "Seattle",
          "98101",
          "United States",
          "(425) 555-0102",
          "(425) 555-0100",
          "(206) 555-0100",
          "(206) 555-0199",
          "0/0/00",
          "VIP;Customers",
          "out@example.com",
          "out.look@example.com",
          "Out Look (out@example.com)",
          "notes",
        ],
      ),
      rowsOf(
        ["Email Address", "First Name", "Last Name", "Address", "Phone Number", "TAGS", "MEMBER_RATING", "OPTIN_TIME", "LEID", "Member since"],
        [
          "mail@example.com",
          "Mail",
          "Chimp",
          "675 Ponce de Leon Ave NE, Atlanta, GA 30308",
          "404-555-0100",
          '"VIP","Newsletter"',
          "2",
          "2020-01-01 10:00:00",
          "123",
          "03/04/2020",
        ],
      ),
      rowsOf(["Name", "E-mail"], ["Lovelace, Ada", "ada@example.com"], ["Charles Babbage", "charles@example.com"]),
    ];
    const summaries = [];
    for (const rows of imports) {
      const rejects: ImportReject[] = [];
      summaries.push(await client.contacts.importContacts(rows, { onReject: (r) => void rejects.push(r) }));
      expect(rejects).toEqual([]);
    }
    expect(summaries.map((s) => s.created)).toEqual([1, 1, 1, 1, 1, 2]);
    expect(summaries[0]?.ignoredColumns).toEqual(["Record ID", "Lifecycle Stage"]);
    expect(summaries[0]?.columns).toMatchObject({ "Shoe size": `extendedField:${shoe.key}`, "Additional email addresses": "info.emails" });
    // Outlook's "Title" is a salutation beside its "Job Title"; Salesforce's "Title" is the job title.
    expect(summaries[3]?.columns).toMatchObject({ Title: "ignore", "Job Title": "info.jobTitle", "Business Fax": "info.phones.fax" });
    expect(summaries[1]?.columns).toMatchObject({ Title: "info.jobTitle", "Account Name": "info.company" });
    expect(summaries[2]?.columns).toMatchObject({ "E-mail 1 - Label": "tag of email1", "Address 1 - Formatted": "ignore" });

    const contacts = await allContacts(client);
    const labelKeys = new Map((await client.labels.listLabels()).labels.map((l) => [l.displayName, l.key]));
    const emails = (c: Contact) => c.info?.emails?.items?.map((e) => [e.email, e.tag]);
    const phones = (c: Contact) => c.info?.phones?.items?.map((p) => [p.e164Phone, p.tag]);

    const hub = byFirstName(contacts, "Hub");
    expect(hub.info).toMatchObject({ name: { first: "Hub", last: "Spot" }, company: "HubSpot, Inc.", jobTitle: "CMO" });
    expect(emails(hub)).toEqual([
      ["hub@example.com", "UNTAGGED"],
      ["hub2@example.com", "UNTAGGED"],
      ["hub3@example.com", "UNTAGGED"],
    ]);
    expect(phones(hub)).toEqual([
      ["+16175550100", "UNTAGGED"],
      ["+16175550101", "MOBILE"],
    ]);
    expect(hub.info?.addresses?.items?.[0]?.address).toMatchObject({
      addressLine1: "25 First St",
      city: "Cambridge",
      subdivision: "US-MA",
      postalCode: "02141",
      country: "US",
    });
    expect(hub.info?.extendedFields?.items?.[shoe.key]).toBe(44.5);

    const sf = byFirstName(contacts, "Sales");
    expect(sf.info).toMatchObject({ name: { last: "Force" }, company: "Salesforce", jobTitle: "VP Sales", birthdate: "1975-04-13" });
    expect(phones(sf)).toEqual([
      ["+14155550199", "UNTAGGED"],
      ["+14155550198", "MOBILE"],
      ["+14155550197", "FAX"],
    ]);
    expect(sf.info?.addresses?.items?.[0]?.address).toMatchObject({ city: "San Francisco", subdivision: "US-CA", country: "US" });

    const goo = byFirstName(contacts, "Goo");
    expect(goo.info).toMatchObject({ name: { last: "Gle" }, company: "Alphabet", jobTitle: "Engineer", birthdate: "1998-09-04" });
    expect(emails(goo)).toEqual([
      ["goo@example.com", "WORK"],
      ["goo.home@example.com", "HOME"],
    ]);
    expect(phones(goo)).toEqual([["+442079460000", "MOBILE"]]);
    expect(goo.info?.addresses?.items?.[0]).toMatchObject({ tag: "HOME", address: { addressLine1: "1 Main St", city: "London", country: "GB" } });
    expect([...(goo.info?.labelKeys?.items ?? [])].sort()).toEqual([labelKeys.get("Friends"), labelKeys.get("Work")].sort());

    const out = byFirstName(contacts, "Out");
    expect(out.info).toMatchObject({ name: { last: "Look" }, company: "Contoso", jobTitle: "Admin" });
    expect(out.info?.birthdate).toBeUndefined();
    expect(emails(out)).toEqual([
      ["out@example.com", "UNTAGGED"],
      ["out.look@example.com", "UNTAGGED"],
    ]);
    expect(phones(out)).toEqual([
      ["+14255550102", "FAX"],
      ["+14255550100", "WORK"],
      ["+12065550100", "HOME"],
      ["+12065550199", "MOBILE"],
    ]);
    expect(out.info?.addresses?.items?.map((a) => [a.tag, a.address?.city, a.address?.subdivision])).toEqual([
      ["WORK", "Redmond", "US-WA"],
      ["HOME", "Seattle", undefined],
    ]);
    // "Customers" is the system label's display name: the existing label, not a new one.
    expect([...(out.info?.labelKeys?.items ?? [])].sort()).toEqual(["contacts.customers", labelKeys.get("VIP")].sort());

    const mail = byFirstName(contacts, "Mail");
    expect(mail.info?.addresses?.items?.[0]?.address?.addressLine1).toBe("675 Ponce de Leon Ave NE, Atlanta, GA 30308");
    expect(mail.info?.extendedFields?.items?.[since.key]).toBe("2020-03-04");
    expect([...(mail.info?.labelKeys?.items ?? [])].sort()).toEqual([labelKeys.get("Newsletter"), labelKeys.get("VIP")].sort());

    expect(byFirstName(contacts, "Ada").info?.name).toEqual({ first: "Ada", last: "Lovelace" });
    expect(byFirstName(contacts, "Charles").info?.name).toEqual({ first: "Charles", last: "Babbage" });
  });
});

describe.each(STORES)("importContacts through a real server on %s", (store: StoreName) => {
  const { clientFor } = suiteServer(store);

  it("stores the good rows and reports every bad row with its row, column, reason and code", async () => {
    const client = clientFor(tenant("import-bad"));
    const { field: shoe } = await client.extendedFields.findOrCreateExtendedField("Shoe size", "NUMBER");
    await client.labels.findOrCreateLabel("VIP");
    const header = ["First Name", "Last Name", "Email", "Mobile Phone", "Birthday", "Country", "Labels", "Shoe size", "Notes"];
    const rows = rowsOf(
      header,
      ["Ada", "Lovelace", "ada@example.com", "", "12/10/1815", "GB", "VIP", "38", ""],
      ["Bad", "Email", "not-an-email", "", "", "", "", "", ""],
      ["", "", "", "", "", "", "", "", "only a note"],
      ["Bad", "Date", "bad.date@example.com", "", "31/31/1999", "", "", "", ""],
      ["Ghost", "Label", "ghost@example.com", "", "", "", "Ghosts", "", ""],
      ["Big", "Foot", "big@example.com", "", "", "", "", "forty", ""],
      ["Far", "Away", "far@example.com", "", "", "Narnia", "", "", ""],
      ["Long", "Phone", "", "1".repeat(60), "", "", "", "", ""],
      ["Two", "Problems", "two@example.com", "", "someday", "", "Ghosts", "", ""],
      ["Grace", "Hopper", "", "(201) 555-0123", "", "US", "VIP", "", ""],
    );
    const rejects: ImportReject[] = [];
    const progress: number[] = [];
    const summary = await client.contacts.importContacts(rows, {
      labels: "refuse",
      batchSize: 4,
      onReject: (r) => void rejects.push(r),
      onProgress: (p) => void progress.push(p.committedRow),
    });
    expect(summary).toMatchObject({ rowsRead: 10, created: 2, updated: 0, unchanged: 0, rejected: 8, committedRow: 10, ignoredColumns: ["Notes"] });
    expect(progress).toEqual([4, 8, 10]);
    expect(rejects.map((r) => [r.row, r.column, r.code])).toEqual([
      [2, "Email", "INVALID_EMAIL"],
      [3, "", "INSUFFICIENT_CONTACT_DATA"],
      [4, "Birthday", "INVALID_DATE"],
      [5, "Labels", "LABEL_NOT_FOUND"],
      [6, "Shoe size", "INVALID_EXTENDED_FIELD_VALUE"],
      [7, "Country", "INVALID_COUNTRY_CODE"],
      [8, "Mobile Phone", "VALUE_TOO_LONG"],
      [9, "Birthday; Labels", "INVALID_DATE; LABEL_NOT_FOUND"],
    ]);
    expect(rejects[0]?.reason).toBe("is not a valid email address");
    expect(rejects[2]?.reason).toContain('"31/31/1999" is not a date');
    expect(rejects[3]?.reason).toContain('no label "Ghosts"');
    expect(rejects[7]?.reason).toMatch(/^Birthday: .*; Labels: /);
    expect(rejects[1]?.values).toEqual(rows[2]);
    // Refused, not created.
    expect((await client.labels.listLabels()).labels.map((l) => l.displayName)).not.toContain("Ghosts");

    const stored = await allContacts(client);
    expect(stored.map((c) => c.info?.name?.first).sort()).toEqual(["Ada", "Grace"]);
    const ada = byFirstName(stored, "Ada");
    expect(ada.info).toMatchObject({ birthdate: "1815-12-10", extendedFields: { items: { [shoe.key]: 38 } } });
    expect(byFirstName(stored, "Grace").info?.phones?.items?.[0]).toMatchObject({ countryCode: "US", e164Phone: "+12015550123", tag: "MOBILE" });
  });

  it("labels and fields: create makes what a row names, refuse rejects the rows that use it", async () => {
    const client = clientFor(tenant("import-create"));
    const header = ["Name", "Email", "Tags", "Favourite colour"];
    const rows = rowsOf(header, ["Ada Lovelace", "ada@example.com", "Friends, Chess", "green"], ["Grace Hopper", "grace@example.com", "Friends", ""]);
    const mapping = { "Favourite colour": "extendedField:Favourite colour" };

    const refused: ImportReject[] = [];
    const none = await client.contacts.importContacts(rows, { mapping, fields: "refuse", onReject: (r) => void refused.push(r) });
    expect(none).toMatchObject({ created: 1, rejected: 1 });
    expect(refused.map((r) => [r.row, r.column, r.code])).toEqual([[1, "Favourite colour", "EXTENDED_FIELD_NOT_FOUND"]]);

    const created = await client.contacts.importContacts(rows, { mapping, fields: "create", labels: "create" });
    expect(created).toMatchObject({ created: 1, unchanged: 1, rejected: 0 });
    const { fields } = await client.extendedFields.listExtendedFields({ fieldType: "USER_DEFINED" });
    expect(fields.map((f) => [f.displayName, f.dataType])).toEqual([["Favourite colour", "TEXT"]]);
    const ada = byFirstName(await allContacts(client), "Ada");
    expect(ada.info?.extendedFields?.items?.[fields[0]?.key as string]).toBe("green");
    const names = new Map((await client.labels.listLabels()).labels.map((l) => [l.key, l.displayName]));
    expect(ada.info?.labelKeys?.items?.map((k) => names.get(k)).sort()).toEqual(["Chess", "Friends"]);
  });

  it("an import that stops after the server answered a batch, resumed at that batch, creates nothing twice", async () => {
    const client = clientFor(tenant("import-resume"));
    // Name-only rows match no existing contact: only the batches' request ids keep repeats out.
    const rows = rowsOf(["First Name", "Last Name"], ...Array.from({ length: 250 }, (_, i) => [`Person${i + 1}`, `Row${String(i + 1).padStart(4, "0")}`]));
    const importId = `file-${randomUUID()}`;
    let checkpoint = 0;
    const crash = new Error("killed before the checkpoint was written");
    const first = client.contacts.importContacts(rows, {
      importId,
      batchSize: 50,
      onProgress: (p) => {
        // The server has answered rows 101–150; the process dies before recording it.
        if (p.committedRow === 150) throw crash;
        checkpoint = p.committedRow;
      },
    });
    await expect(first).rejects.toBe(crash);
    expect(checkpoint).toBe(100);
    expect((await allContacts(client)).length).toBe(150);

    const resumed = await client.contacts.importContacts(rows, { importId, batchSize: 50, startAtRow: checkpoint + 1 });
    // Rows 101–150 are answered as the first time (created), without being created again.
    expect(resumed).toMatchObject({ rowsRead: 250, created: 150, rejected: 0, committedRow: 250 });
    let stored = await allContacts(client);
    expect(stored.length).toBe(250);
    expect(new Set(stored.map((c) => c.info?.name?.last)).size).toBe(250);

    // The whole file again: the same request ids, the same answers, no new contacts.
    await client.contacts.importContacts(rows, { importId, batchSize: 50 });
    stored = await allContacts(client);
    expect(stored.length).toBe(250);
  });

  it("a row matching an existing contact by email updates it, and one matching nothing new is unchanged the second time", async () => {
    const client = clientFor(tenant("import-upsert"));
    await client.contacts.createContact({ name: { first: "Ada" }, emails: { items: [{ email: "ada@example.com" }] } });
    const rows = rowsOf(["First Name", "Last Name", "Email", "Company"], ["Ada", "Lovelace", "ADA@example.com", "Engines"]);
    expect(await client.contacts.importContacts(rows)).toMatchObject({ created: 0, updated: 1 });
    expect(await client.contacts.importContacts(rows)).toMatchObject({ created: 0, updated: 0, unchanged: 1 });
    const [ada] = await allContacts(client);
    expect(ada?.info).toMatchObject({ name: { first: "Ada", last: "Lovelace" }, company: "Engines" });
  });
});

describe.each(STORES)("npm run import on %s", (store: StoreName) => {
  const dir = suiteTempDir("contacts-import-");
  const suite = suiteServer(store);
  const { clientFor } = suite;

  it("writes every bad row to FILE.rejects.csv with row, column, reason and code; a re-run adds nothing; the fixed rejects file imports", async () => {
    const tenantId = tenant("cli-rejects");
    const client = clientFor(tenantId);
    await client.labels.findOrCreateLabel("VIP");
    const file = join(dir.path, `${tenantId}.csv`);
    const header = ["First Name", "Last Name", "Email", "Phone", "Birthday", "Labels", "Notes"];
    const lines = [
      ["Ada", "Lovelace", "ada@example.com", "", "1815-12-10", "VIP", "first, with a comma"],
      ["Grace", "Hopper", "", "+1 201 555 0123", "", "", ""],
      ["Bad", "Email", "not-an-email", "", "", "", ""],
      ["", "", "", "", "", "", "nothing to go by"],
      ["Bad", "Date", "bad.date@example.com", "", "31/31/1999", "", ""],
      ["Unknown", "Label", "unknown@example.com", "", "", "Ghosts", "multi\nline"],
      ["Alan", "Turing", "alan@example.com", "", "23.06.1912", "VIP", ""],
    ];
    writeFileSync(file, stringify([header, ...lines]));
    const args = [file, "--url", suite.server.grpcUrl, "--tenant", tenantId, "--labels", "refuse"];

    const run = await runTool("import", args);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`imported ${file}: 7 rows, 3 created, 0 updated, 0 unchanged, 4 rejected (see ${file}.rejects.csv).`);
    expect(existsSync(`${file}.import-state.json`)).toBe(false);
    expect((await allContacts(client)).map((c) => c.info?.name?.first).sort()).toEqual(["Ada", "Alan", "Grace"]);

    const rejects = parse(readFileSync(`${file}.rejects.csv`), { columns: true }) as Record<string, string>[];
    expect(Object.keys(rejects[0] ?? {})).toEqual(["row", "column", "reason", "code", ...header]);
    expect(rejects.map((r) => [r.row, r.column, r.code])).toEqual([
      ["3", "Email", "INVALID_EMAIL"],
      ["4", "", "INSUFFICIENT_CONTACT_DATA"],
      ["5", "Birthday", "INVALID_DATE"],
      ["6", "Labels", "LABEL_NOT_FOUND"],
    ]);
    for (const r of rejects) expect(r.reason ?? "").toMatch(/\w+ \w+/);
    // The original row, whole: a person fixes it here.
    expect(rejects[3]).toMatchObject({ "First Name": "Unknown", Labels: "Ghosts", Notes: "multi\nline" });

    const again = await runTool("import", args);
    expect(again.code, again.stderr).toBe(0);
    expect((await allContacts(client)).length).toBe(3);

    // A person fixes the rejects file and imports it as it is, report columns and all.
    const fixed = rejects.map((r) => ({ ...r }));
    (fixed[0] as Record<string, string>).Email = "fixed@example.com";
    (fixed[1] as Record<string, string>)["First Name"] = "Nobody";
    (fixed[2] as Record<string, string>).Birthday = "12/31/1999";
    (fixed[3] as Record<string, string>).Labels = "VIP";
    const fixedFile = `${file}.rejects.csv`;
    writeFileSync(fixedFile, stringify(fixed, { header: true }));
    const retry = await runTool("import", [fixedFile, "--url", suite.server.grpcUrl, "--tenant", tenantId, "--labels", "refuse"]);
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stderr).toContain("4 created, 0 updated, 0 unchanged, 0 rejected.");
    // The report columns are not contact data, and not reported as ignored either.
    expect(retry.stderr).toContain("ignored columns: Notes (");
    expect(existsSync(`${fixedFile}.rejects.csv`)).toBe(false);
    const stored = await allContacts(client);
    expect(stored.map((c) => c.info?.name?.first).sort()).toEqual(["Ada", "Alan", "Bad", "Bad", "Grace", "Nobody", "Unknown"]);
    expect(byFirstName(stored, "Alan").info?.birthdate).toBe("1912-06-23");
  });

  it("an import killed mid-run continues after its last committed batch and ends with exactly one contact per row", async () => {
    const tenantId = tenant("cli-kill");
    const client = clientFor(tenantId);
    const file = join(dir.path, `${tenantId}.csv`);
    const statePath = `${file}.import-state.json`;
    // Every other row has no email: only the resent batch's request id keeps it from being created twice.
    const lines = Array.from({ length: 1_500 }, (_, i) => [
      `Person${i + 1}`,
      `Row${String(i + 1).padStart(4, "0")}`,
      i % 2 === 0 ? `p${i + 1}@example.com` : "",
    ]);
    writeFileSync(file, stringify([["First Name", "Last Name", "Email"], ...lines]));
    const args = [file, "--url", suite.server.grpcUrl, "--tenant", tenantId, "--batch", "50"];

    const child = spawnTool("import", args);
    const killedAfter = await new Promise<number>((resolveKill, rejectKill) => {
      const poll = setInterval(() => {
        let state: { committedRow?: number } | undefined;
        try {
          state = JSON.parse(readFileSync(statePath, "utf8")) as { committedRow?: number };
        } catch {
          return; // not written yet
        }
        if ((state.committedRow ?? 0) >= 300) {
          clearInterval(poll);
          child.kill("SIGKILL");
          resolveKill(state.committedRow ?? 0);
        }
      }, 5);
      child.once("close", (code) => {
        clearInterval(poll);
        rejectKill(new Error(`the import ended (exit ${code}) before it could be killed mid-run`));
      });
    });
    const killed = await child.output;
    expect(killed.signal).toBe("SIGKILL");
    const state = JSON.parse(readFileSync(statePath, "utf8")) as { committedRow: number };
    expect(state.committedRow).toBeGreaterThanOrEqual(killedAfter);
    expect(state.committedRow).toBeLessThan(1_500);

    const rerun = await runTool("import", args);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toContain(`continuing the interrupted import of ${file} after row ${state.committedRow.toLocaleString("en-US")}`);
    expect(rerun.stderr).toContain("1,500 rows");
    expect(existsSync(statePath)).toBe(false);
    expect(existsSync(`${file}.rejects.csv`)).toBe(false);

    const stored = await allContacts(client);
    expect(stored.length).toBe(1_500);
    expect(new Set(stored.map((c) => c.info?.name?.last)).size).toBe(1_500);
  });
});
