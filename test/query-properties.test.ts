/**
 * The differential property test of QueryContacts / ListContacts (issue 5, item 4), on MariaDB
 * and SQLite.
 *
 * Random contacts are created through the API (allow_duplicates; names differing only in case,
 * long names sharing a 190-character prefix, Unicode, LIKE wildcards, labels, locations, every
 * custom field type, some contacts without names, emails or company), then fast-check builds
 * random queries from the schema (every filterable path × its operators, values drawn from the
 * data and at random, nested `$and`/`$or`/`$not`), a random sort or none, a random page size and
 * sometimes a search. The server's answer, paged to the end once by offset and once by cursor,
 * must equal — ids, order and documents — a plain in-memory evaluation of the same query over the
 * same contacts (test/support/query-model.ts), which knows only the definitions of
 * server/src/domain/contact-query.ts and server/src/domain/search.ts.
 *
 * Also: cursor paging while other contacts are inserted between pages returns every original
 * match exactly once, in order.
 *
 * QUERY_RUNS: fast-check runs per store (default 60), spread over QUERY_DATASETS fresh data sets
 * (default 3, 40–80 contacts each, each in its own tenant). A run is one random query paged to the
 * end both ways, plus five single-page probes of one condition each (cheap coverage of every
 * path × operator). QUERY_SEED: the seed (default random). Both are printed, with the number of
 * QueryContacts/ListContacts calls: `QUERY_SEED=<seed> npx vitest run test/query-properties.test.ts`
 * replays a run (server-assigned ids and dates differ between replays; data and queries do not).
 * QUERY_CONCURRENT_RUNS (default 4): runs of the concurrent-insert property. QUERY_SHRINK=1:
 * let fast-check shrink a failure (slow: each step is a query).
 */
import { fromJson, type JsonObject, type JsonValue, type MessageInitShape, toJson } from "@bufbuild/protobuf";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ContactInfoJson, ContactInfoSchema, type ContactJson, ContactSchema } from "../gen/contacts/v1/contact_pb.js";
import { SortOrder } from "../gen/contacts/v1/common_pb.js";
import type { ContactQuerySchema } from "../gen/contacts/v1/contacts_service_pb.js";
import { FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import type { ContactField } from "../server/src/domain/contact-query.js";
import { type ModelQuery, QueryModel } from "./support/query-model.js";
import { STORES, startTestServer, type TestServer } from "./support/server.js";

const RUNS = Number(process.env.QUERY_RUNS ?? 60);
const DATASETS = Math.max(1, Math.min(RUNS, Number(process.env.QUERY_DATASETS ?? 3)));
const SEED = process.env.QUERY_SEED ? Number(process.env.QUERY_SEED) : Math.floor(Math.random() * 2 ** 31);
const CONCURRENT_RUNS = Number(process.env.QUERY_CONCURRENT_RUNS ?? 4);

const CUSTOM = [
  { displayName: "Notes", key: "custom.notes", dataType: "TEXT", proto: FieldDataType.TEXT },
  { displayName: "Score", key: "custom.score", dataType: "NUMBER", proto: FieldDataType.NUMBER },
  { displayName: "Met On", key: "custom.met-on", dataType: "DATE", proto: FieldDataType.DATE },
  { displayName: "Website", key: "custom.website", dataType: "URL", proto: FieldDataType.URL },
] as const;
const LABELS = ["custom.vip", "custom.lead", "custom.friend", "contacts.customers", "contacts.contacted-me"];
const LOCATIONS = ["loc-1", "loc-2", "Loc-1", "loc 3", "loc_4"];

// ---- Contacts ------------------------------------------------------------------------------

const pick = <T>(values: readonly T[]) => fc.constantFrom(...values);
const maybe = <T>(arb: fc.Arbitrary<T>, freq = 2) => fc.option(arb, { nil: undefined, freq });
const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
const subset = <T>(values: readonly T[]) => fc.subarray([...values]);
/** The first `n` characters, never cutting a surrogate pair (the wire carries UTF-8 only). */
const cut = (s: string, n: number) => [...s].slice(0, n).join("");

const NAMES = [
  "Ada",
  "ada",
  "ADA",
  "Ádám",
  "ádám",
  "Zoë",
  "zoe",
  "Łukasz",
  "李小龙",
  "Ωmega",
  "ömer",
  "Ömer",
  "o'Brien",
  "Mary Ann",
  "mary",
  "Mary-Ann",
  "Émile",
  "émile",
  "Straße",
  "STRASSE",
  "İlkay",
  "ﬁona",
  "😀smile",
  "𝐀lpha",
  "a_b",
  "a%b",
  "a!b",
  "back\\slash",
  "jo𝐀n",
  "jo😀",
  "jo",
  "Z",
  "z",
  "ΣΟΦΙΑ",
  "σοφία",
];
const unicodeText = fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 });
const asciiText = fc.string({ minLength: 1, maxLength: 10 });
/** A long text: one of the data set's 190-character prefixes (sort keys keep 190) plus a tail. */
const longText = (prefixes: readonly string[]) =>
  fc.tuple(pick(prefixes), fc.constantFrom(-1, 0, 0, 1, 5, 30), fc.boolean(), asciiText).map(([p, extra, upper, tail]) => {
    const base = upper ? p.toUpperCase() : p;
    return extra < 0 ? cut(base, 189) : extra === 0 ? base : cut(`${base}${tail}`, 190 + extra);
  });
const text = (pool: readonly string[], prefixes: readonly string[]) =>
  fc.oneof(
    { arbitrary: pick(pool), weight: 6 },
    { arbitrary: unicodeText, weight: 1 },
    { arbitrary: asciiText, weight: 1 },
    { arbitrary: longText(prefixes), weight: 2 },
  );

const EMAILS = [
  "ada@example.com",
  "Ada@Example.com",
  "ADA@EXAMPLE.COM",
  "bob@x.io",
  "bob.smith@x.io",
  "zoë@exämple.de",
  "a_b%c@x.io",
  "o'neil@x.io",
  "ada.lovelace@example.com",
];
const emailArb = fc.oneof(
  { arbitrary: pick(EMAILS), weight: 5 },
  { arbitrary: fc.tuple(fc.stringMatching(/^[a-zA-Z0-9._%+-]{1,12}$/), pick(["x.io", "Example.com", "mail.de"])).map(([l, d]) => `${l}@${d}`), weight: 2 },
  { arbitrary: fc.stringMatching(/^[a-z]{1,6}$/).map((s) => `${"l".repeat(200)}${s}@long.example.com`), weight: 1 },
);
const PHONES = [
  { phone: "(201) 555-0123", countryCode: "US" },
  { phone: "+1 201 555 0123" },
  { phone: "+44 20 7946 0958" },
  { phone: "030 901820", countryCode: "DE" },
  { phone: "call me maybe" },
  { phone: "555_0100" },
  { phone: "(212) 555-0100", countryCode: "US" },
];
const phoneArb = fc.oneof({ arbitrary: pick(PHONES), weight: 4 }, { arbitrary: fc.stringMatching(/^\+?[0-9]{3,12}$/).map((phone) => ({ phone })), weight: 1 });
const addressArb = fc
  .record({
    street: fc.oneof(
      pick(["1 Main St", "1 main st", "Baker Street 221b", "rue de Rivoli", " padded line "]).map((addressLine) => ({ addressLine })),
      fc.record({ number: pick(["221b", "1", "10"]), name: pick(["Baker Street", "Main St", "Straße"]) }).map((streetAddress) => ({ streetAddress })),
      fc.constant({}),
    ),
    city: maybe(pick(["Paris", "paris", "São Paulo", "New York", "new york", "Zürich"]), 1),
    subdivision: maybe(pick(["US-NY", "GB-NIR", "FR-IDF", "us-ny"]), 1),
    country: maybe(pick(["US", "GB", "FR", "BR"]), 1),
  })
  .map(({ street, city, subdivision, country }) => ({ address: defined({ ...street, city, subdivision, country }) }));
const COMPANIES = ["Acme", "ACME", "acme inc", "Globex", "Ünicorp", "ünicorp", "%wild_card", "Initech", "a"];
const JOBS = ["CEO", "ceo", "Engineer", "engineer II", "Straße-Kehrer", "Ω"];
const DATES = ["1990-01-01", "1985-12-31", "2000-02-29", "1990-01-02", "2024-07-04", "1969-07-20"];
const dateArb = fc.oneof(
  pick(DATES),
  fc.date({ min: new Date("1900-01-01"), max: new Date("2099-12-31"), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
);
const NOTES = ["hello", "Hello", "hello world", "HELLO", "%_!", "zebra", "Ünïcode", "hello "];
const SCORES = [0, -1, 1.5, 0.1 + 0.2, 1e9, -1e-9, 42, 42, 1 / 3, -Number.MAX_VALUE, Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE, 2 ** 53 + 2, 7];
const scoreArb = fc.oneof(
  { arbitrary: pick(SCORES), weight: 4 },
  { arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (d === 0 ? 0 : d)), weight: 1 },
);
const URLS = ["example.com", "https://Example.com/a", "http://x.io", "example.com/path?q=1"];

/**
 * The data includes what stores tend to get wrong, on both stores: custom TEXT values with
 * trailing spaces and control characters (MariaDB's PAD SPACE collations would call "hello" and
 * "hello " equal; the contact tables use utf8mb4_nopad_bin), 190-character prefixes ending in a
 * character outside the BMP (sort keys keep 190 code points), and search terms followed by such
 * a character (a plain `like 'term%'` index range on MariaDB ends at U+FFFF).
 */

function infoArb(prefixes: readonly string[], padSpace = true): fc.Arbitrary<ContactInfoJson> {
  return fc
    .record({
      first: maybe(text(NAMES, prefixes), 3),
      last: maybe(text(NAMES, prefixes), 3),
      emails: fc.array(emailArb, { maxLength: 3 }),
      phones: fc.array(phoneArb, { maxLength: 2 }),
      addresses: fc.array(addressArb, { maxLength: 2 }),
      company: maybe(text(COMPANIES, prefixes)),
      jobTitle: maybe(text(JOBS, prefixes)),
      birthdate: maybe(dateArb),
      locale: maybe(pick(["en-US", "en-us", "de-DE", "fr", "pt-BR"])),
      labels: subset(LABELS),
      locations: subset(LOCATIONS),
      notes: maybe(fc.oneof(pick(NOTES), unicodeText, longText(prefixes))),
      score: maybe(scoreArb),
      metOn: maybe(dateArb),
      website: maybe(pick(URLS)),
    })
    .map((r) => {
      const notes = padSpace || r.notes === undefined ? r.notes : r.notes.trimEnd() || undefined;
      const ext = defined({ "custom.notes": notes, "custom.score": r.score, "custom.met-on": r.metOn, "custom.website": r.website }) as Record<
        string,
        JsonValue
      >;
      const info: ContactInfoJson = defined({
        name: r.first || r.last ? defined({ first: r.first, last: r.last }) : undefined,
        emails: r.emails.length ? { items: r.emails.map((email) => ({ email })) } : undefined,
        phones: r.phones.length ? { items: r.phones } : undefined,
        addresses: r.addresses.length ? { items: r.addresses } : undefined,
        company: r.company,
        jobTitle: r.jobTitle,
        birthdate: r.birthdate,
        locale: r.locale,
        labelKeys: r.labels.length ? { items: r.labels } : undefined,
        locations: r.locations.length ? { items: r.locations } : undefined,
        extendedFields: Object.keys(ext).length ? { items: ext } : undefined,
      });
      // A contact needs a name, an email or a phone.
      if (!info.name?.first?.trim() && !info.name?.last?.trim() && !info.emails && !info.phones) info.phones = { items: [PHONES[1] as { phone: string }] };
      return info;
    });
}

/**
 * A 190-character prefix (sort keys keep 190 UTF-16 units): words, some Unicode, never
 * whitespace at either end; the last characters differ, and may lie outside the BMP.
 */
const prefixesArb = fc
  .tuple(
    fc.array(fc.oneof(pick(["alpha", "Beta", "ÿ", "straße", "李", "x"]), fc.stringMatching(/^[a-z]{1,8}$/)), { minLength: 60, maxLength: 80 }),
    fc.subarray(["x", "😀", "𝐀", "ﬁ", "ｚ", "é"], { minLength: 1 }),
  )
  .map(([words, lasts]) => {
    const base = words.join(" ").slice(0, 189).trim().padEnd(189, "q");
    return lasts.map((last) => `${base}${last}`);
  });

interface DatasetSpec {
  infos: ContactInfoJson[];
  /** Indexes of contacts to change after creation (update or label), for varied dates and revisions. */
  changes: { index: number; kind: "company" | "label" | "unlabel" }[];
  prefixes: string[];
}

const datasetArb = (min: number, max: number, padSpace: boolean): fc.Arbitrary<DatasetSpec> =>
  prefixesArb.chain((prefixes) =>
    fc.record({
      infos: fc.array(infoArb(prefixes, padSpace), { minLength: min, maxLength: max }),
      changes: fc.array(fc.record({ index: fc.nat(), kind: pick(["company", "label", "unlabel"] as const) }), { maxLength: 8 }),
      prefixes: fc.constant(prefixes),
    }),
  );

type Clients = ReturnType<TestServer["clients"]>;

async function inParallel<T>(items: readonly T[], width: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i] as T, i);
      }
    }),
  );
}

const asJson = (c: unknown) => toJson(ContactSchema, c as never) as ContactJson;

/** Creates the data set in a fresh tenant; returns the contacts as GetContact presents them. */
async function createDataset(c: Clients, spec: DatasetSpec): Promise<ContactJson[]> {
  for (const f of CUSTOM) await c.fields.findOrCreateExtendedField({ displayName: f.displayName, dataType: f.proto });
  for (const l of LABELS.filter((k) => k.startsWith("custom."))) await c.labels.findOrCreateLabel({ displayName: l.slice(7) });
  const ids: string[] = [];
  // Several at a time: some share a creation millisecond, so ties are broken by id.
  await inParallel(spec.infos, 6, async (info, i) => {
    const res = await c.contacts.createContact({ info: fromJson(ContactInfoSchema, info as JsonObject), allowDuplicates: true });
    ids[i] = res.contact?.id as string;
  });
  for (const change of spec.changes) {
    const id = ids[change.index % ids.length] as string;
    if (change.kind === "company") {
      const got = await c.contacts.getContact({ id });
      await c.contacts.updateContact({
        contactId: id,
        revision: got.contact?.revision ?? 0,
        info: { company: `Changed ${change.index % 3}` },
        fieldMask: { paths: ["info.company"] },
        allowDuplicates: true,
      });
    } else if (change.kind === "label") {
      await c.contacts.labelContact({ contactId: id, labelKeys: ["custom.lead"] });
    } else {
      await c.contacts.unlabelContact({ contactId: id, labelKeys: ["custom.vip", "contacts.customers"] });
    }
  }
  const out: ContactJson[] = [];
  for (const id of ids) out.push(asJson((await c.contacts.getContact({ id })).contact));
  return out;
}

// ---- Queries -------------------------------------------------------------------------------

type Filter = { [key: string]: JsonValue };

interface QuerySpec {
  filter?: Filter;
  sort?: { field: string; order: SortOrder };
  search?: string;
  limit?: number;
  /** Use ListContacts (no filter, no search) for the offset pass. */
  list: boolean;
  /** Cheap extra checks: single-page queries (limit 1000) of one condition each, sorted at random. */
  probes: { filter: Filter; sort?: { field: string; order: SortOrder } }[];
}

/** Values for a field: those in the data, variants of them, and some random. */
function valuePool(field: ContactField, contacts: readonly ContactJson[]): fc.Arbitrary<JsonValue> {
  const read = contacts.flatMap((c) => {
    const r = field.read(c);
    return r === undefined ? [] : Array.isArray(r) ? [...r] : [r as string | number];
  });
  const type = field.type;
  switch (type.kind) {
    case "timestamp": {
      const ms = [...new Set(read as number[])];
      const iso = (n: number) => new Date(n).toISOString();
      const fromData = ms.length
        ? fc
            .constantFrom(...ms)
            .chain((n) => fc.constantFrom(n, n - 1, n + 1))
            .map(iso)
        : fc.constant(iso(Date.now()));
      return fc.oneof(
        { arbitrary: fromData, weight: 4 },
        { arbitrary: fromData.map(($date) => ({ $date })), weight: 1 },
        // Without an offset: UTC.
        { arbitrary: fromData.map((iso) => iso.replace(/Z$/, "")), weight: 1 },
        { arbitrary: fc.constantFrom("2020-01-01T00:00:00Z", "2100-01-01T00:00:00.000Z"), weight: 1 },
      );
    }
    case "number": {
      const nums = [...new Set(read as number[])];
      return fc.oneof(
        { arbitrary: nums.length ? pick(nums) : fc.constant(0), weight: 3 },
        { arbitrary: pick(SCORES), weight: 1 },
        { arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }), weight: 1 },
      );
    }
    case "date": {
      const dates = [...new Set(read as string[])];
      return fc.oneof({ arbitrary: dates.length ? pick(dates) : pick(DATES), weight: 3 }, { arbitrary: dateArb, weight: 1 });
    }
    case "enum":
      return pick([...type.values, ...Object.keys(type.aliases ?? {})]);
    case "string": {
      const strings = [...new Set(read.map(String))];
      const fromData = strings.length ? pick(strings) : pick(["x"]);
      return fc.oneof(
        { arbitrary: fromData, weight: 5 },
        { arbitrary: fromData.map((s) => s.toUpperCase()), weight: 1 },
        { arbitrary: fromData.map((s) => s.toLowerCase()), weight: 1 },
        // Trailing and leading spaces are part of a value (MariaDB's PAD SPACE collations ignore them).
        { arbitrary: fromData.map((s) => `${s} `), weight: 2 },
        { arbitrary: fromData.map((s) => (s.endsWith(" ") ? s.trimEnd() : ` ${s}`)), weight: 1 },
        { arbitrary: fc.oneof(pick([...NAMES, ...COMPANIES, ...EMAILS, ...LABELS, ...LOCATIONS])), weight: 1 },
        { arbitrary: fc.oneof(unicodeText, asciiText), weight: 1 },
      );
    }
  }
}

/** A non-empty prefix of a value in the data (sometimes long, beyond the 190-character key), or random. */
function prefixPool(field: ContactField, contacts: readonly ContactJson[]): fc.Arbitrary<string> {
  const strings = [
    ...new Set(
      contacts.flatMap((c) => {
        const r = field.read(c);
        return (r === undefined ? [] : Array.isArray(r) ? [...r] : [r]).filter((x): x is string => typeof x === "string" && x.length > 0);
      }),
    ),
  ];
  const long = strings.filter((x) => x.length >= 190);
  const cased = (arb: fc.Arbitrary<string>) =>
    fc.tuple(arb, fc.constantFrom("same", "upper", "lower")).map(([p, how]) => (how === "upper" ? p.toUpperCase() : how === "lower" ? p.toLowerCase() : p));
  const short = strings.length ? fc.tuple(pick(strings), fc.integer({ min: 1, max: 6 })).map(([x, n]) => cut(x, n)) : fc.constant("a");
  // Long prefixes: up to, at and past the 190 characters the index keeps; some diverge from the
  // value only after 190 characters, where only the full text can tell.
  const longer = long.length
    ? fc
        .tuple(pick(long), fc.integer({ min: 185, max: 260 }), fc.constantFrom("", "", "Ω", "z", "!", " "))
        .map(([x, n, junk]) => (junk ? `${cut(x, Math.max(190, Math.min(n, [...x].length - 1)))}${junk}` : cut(x, n)))
    : short;
  return fc
    .oneof(
      { arbitrary: cased(short), weight: 4 },
      { arbitrary: cased(longer), weight: 3 },
      { arbitrary: fc.oneof(unicodeText, pick(["%", "_", "!", "a_", "A%", "\\", "back\\"])), weight: 1 },
    )
    .filter((x) => x.length > 0);
}

function operand(field: ContactField, op: string, contacts: readonly ContactJson[]): fc.Arbitrary<JsonValue> {
  const one = valuePool(field, contacts);
  switch (op) {
    case "$exists":
      return fc.boolean();
    case "$startsWith":
      return prefixPool(field, contacts);
    case "$in":
    case "$nin":
    case "$hasSome":
    case "$hasAll":
      return fc.array(one, { minLength: 1, maxLength: 4 });
    default:
      return one;
  }
}

function leafArb(fields: readonly ContactField[], contacts: readonly ContactJson[]): fc.Arbitrary<Filter> {
  return pick(fields).chain((field) => {
    const ops = field.operators;
    const single = pick(ops).chain((op) => operand(field, op, contacts).map((v) => ({ [op]: v }) as Filter));
    const bareOk = ops.includes("$eq");
    return fc
      .oneof(
        { arbitrary: single, weight: 5 },
        { arbitrary: fc.tuple(single, single).map(([a, b]) => ({ ...a, ...b })), weight: 1 },
        ...(bareOk ? [{ arbitrary: operand(field, "$eq", contacts), weight: 2 }] : []),
      )
      .map((cond) => ({ [field.path]: cond }) as Filter);
  });
}

function filterArb(fields: readonly ContactField[], contacts: readonly ContactJson[]): fc.Arbitrary<Filter> {
  const leaf = leafArb(fields, contacts);
  // Conditions on one custom NUMBER or DATE field, which the planner merges into one range of
  // value rows (and may drive the page from): often, and beside anything else.
  const ranged = fields.filter((f) => f.path === "info.extendedFields.custom.score" || f.path === "info.extendedFields.custom.met-on");
  const range = ranged.length > 0 ? leafArb(ranged, contacts) : leaf;
  const { tree } = fc.letrec<{ tree: Filter }>((tie) => ({
    tree: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      { arbitrary: leaf, weight: 5 },
      { arbitrary: fc.array(tie("tree"), { minLength: 1, maxLength: 3 }).map((fs) => ({ $and: fs })), weight: 1 },
      { arbitrary: fc.array(tie("tree"), { minLength: 1, maxLength: 3 }).map((fs) => ({ $or: fs })), weight: 1 },
      { arbitrary: tie("tree").map((f) => ({ $not: f })), weight: 1 },
      // Several keys in one object: ANDed (distinct keys only, as JSON has them).
      { arbitrary: fc.tuple(leaf, leaf).map(([a, b]) => ({ ...b, ...a })), weight: 1 },
      // The empty filter matches everything, also under `$not` and among `$or` alternatives.
      { arbitrary: fc.constant({}), weight: 1 },
      { arbitrary: range, weight: 1 },
      { arbitrary: fc.tuple(range, tie("tree")).map(([a, b]) => ({ $and: [a, b] })), weight: 1 },
    ),
  }));
  return tree;
}

function searchArb(contacts: readonly ContactJson[]): fc.Arbitrary<string> {
  const words = [
    ...new Set(
      contacts.flatMap((c) => [
        ...`${c.info?.name?.first ?? ""} ${c.info?.name?.last ?? ""}`
          .split(/\s+/)
          .filter(Boolean)
          .map((w) => cut(w, 30)),
        ...(c.info?.emails?.items ?? []).map((e) => e.email ?? ""),
        ...(c.info?.phones?.items ?? []).map((p) => p.phone ?? ""),
      ]),
    ),
  ].filter(Boolean);
  const word = words.length ? pick(words) : fc.constant("ada");
  return fc
    .oneof(
      { arbitrary: word.chain((w) => fc.integer({ min: 1, max: Math.max(1, [...w].length) }).map((n) => cut(w, n))), weight: 4 },
      { arbitrary: fc.tuple(word, word).map(([a, b]) => `${cut(a, 3)} ${cut(b, 4)}`), weight: 2 },
      { arbitrary: word.map((w) => w.toUpperCase()), weight: 1 },
      { arbitrary: fc.oneof(pick(["201", "2015550123", "+1 201", "example", "@x.io", "a_b", "%", "ada@", "zoë"]), unicodeText), weight: 2 },
    )
    .map((s) => cut(s, 100));
}

function queryArb(model: QueryModel, contacts: readonly ContactJson[]): fc.Arbitrary<QuerySpec> {
  const fields = [...model.fields.values()];
  const sortable = fields.filter((f) => f.sortable).map((f) => f.path);
  const sort = fc.record({ field: pick(sortable), order: pick([SortOrder.ASC, SortOrder.DESC, SortOrder.UNSPECIFIED]) });
  // A name prefix alone: under the default sort, one of up to four characters reads its
  // name-prefix rows, a longer one pages (on MariaDB) as a merge of per-name runs.
  const names = fields.filter((f) => f.path === "info.name.first" || f.path === "info.name.last");
  const namePrefix = pick(names).chain((f) => prefixPool(f, contacts).map((p) => ({ [f.path]: { $startsWith: p } }) as Filter));
  const limit = fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: 6 }), weight: 1 },
    { arbitrary: fc.integer({ min: 7, max: 40 }), weight: 3 },
    { arbitrary: fc.constantFrom(undefined, 1000), weight: 1 },
  );
  const probes = fc.array(
    fc.record({ filter: leafArb(fields, contacts), sort: maybe(sort, 1) }).map((p) => defined(p)),
    { minLength: 5, maxLength: 5 },
  );
  const prefixQuery = fc
    .record({
      filter: namePrefix,
      sort: maybe(fc.record({ field: fc.constant("createdDate"), order: pick([SortOrder.ASC, SortOrder.DESC]) }), 1),
      probes,
      limit,
    })
    .map((q) => defined({ ...q, list: false }) as QuerySpec);
  const general = fc
    .record({
      filter: maybe(filterArb(fields, contacts), 1),
      sort: maybe(sort, 1),
      probes,
      search: maybe(searchArb(contacts), 4),
      limit,
      list: fc.boolean(),
    })
    .map((q) => defined({ ...q, list: q.list && !q.filter && !q.search }) as QuerySpec);
  return fc.oneof({ arbitrary: general, weight: 4 }, { arbitrary: prefixQuery, weight: 1 });
}

// ---- Checks --------------------------------------------------------------------------------

/** For a failure: what the filter's paths read on the contacts the two answers disagree on. */
function explain(model: QueryModel, contacts: readonly ContactJson[], filter: Filter | undefined, got: string[], want: string[]): string {
  const paths = new Set<string>();
  const walk = (f: JsonValue): void => {
    if (typeof f !== "object" || f === null) return;
    for (const [k, v] of Object.entries(f)) {
      if (model.fields.has(k)) paths.add(k);
      if (Array.isArray(v)) v.forEach(walk);
      else walk(v);
    }
  };
  walk(filter ?? {});
  const differing = [...got.filter((x) => !want.includes(x)), ...want.filter((x) => !got.includes(x))];
  const lines = contacts
    .filter((c) => differing.includes(c.id as string))
    .map((c) => `${c.id}: ${JSON.stringify(Object.fromEntries([...paths].map((p) => [p, model.fields.get(p)?.read(c)])))}`);
  return lines.length ? `\n  differing contacts read:\n  ${lines.join("\n  ")}` : "";
}

const describeQuery = (q: Omit<QuerySpec, "probes" | "list">) =>
  JSON.stringify({ filter: q.filter, search: q.search, limit: q.limit, sort: q.sort && { field: q.sort.field, order: SortOrder[q.sort.order] } });

function queryInit(q: QuerySpec, pagingMethod: MessageInitShape<typeof ContactQuerySchema>["pagingMethod"]): MessageInitShape<typeof ContactQuerySchema> {
  return {
    ...(q.filter ? { filter: q.filter as JsonObject } : {}),
    sort: q.sort ? [{ fieldName: q.sort.field, order: q.sort.order }] : [],
    pagingMethod,
  };
}

function modelQuery(q: QuerySpec): ModelQuery {
  return defined({ filter: q.filter, search: q.search, sort: q.sort && { field: q.sort.field, descending: q.sort.order === SortOrder.DESC } });
}

describe.each(STORES)("QueryContacts agrees with the in-memory model on %s", (store) => {
  let t: TestServer;
  let queries = 0;
  let runs = 0;
  /** Queries whose answer was not empty, and matches in all: the test must not only check empty answers. */
  let nonEmpty = 0;
  let matched = 0;
  beforeAll(async () => {
    t = await startTestServer(store);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Every page by offset (QueryContacts, or ListContacts), checking the metadata of each. */
  async function byOffset(c: Clients, q: QuerySpec, expectedTotal: number): Promise<ContactJson[]> {
    const out: ContactJson[] = [];
    const limit = q.limit ?? 50;
    for (let offset = 0; ; offset += limit) {
      const paging = { ...(q.limit === undefined ? {} : { limit: q.limit }), offset };
      const sort = q.sort ? [{ fieldName: q.sort.field, order: q.sort.order }] : [];
      queries++;
      const res = q.list
        ? await c.contacts.listContacts({ ...(sort[0] ? { sort: sort[0] } : {}), paging })
        : await c.contacts.queryContacts({ query: queryInit(q, { case: "paging", value: paging }), search: q.search ?? "" });
      const m = res.pagingMetadata;
      const page = res.contacts.map(asJson);
      expect({ count: m?.count, offset: m?.offset, total: m?.total, tooManyToCount: m?.tooManyToCount, hasNext: m?.hasNext }).toEqual({
        count: page.length,
        offset,
        total: expectedTotal,
        tooManyToCount: false,
        hasNext: offset + limit < expectedTotal,
      });
      out.push(...page);
      if (!m?.hasNext) return out;
      if (out.length > expectedTotal + limit) throw new Error("offset paging does not end");
    }
  }

  /** Every page by cursor; `between` runs after each page (concurrent inserts). */
  async function byCursor(c: Clients, q: QuerySpec, bound: number, between?: () => Promise<void>): Promise<ContactJson[]> {
    const out: ContactJson[] = [];
    let cursor: string | undefined;
    for (;;) {
      const cursorPaging = { ...(q.limit === undefined ? {} : { limit: q.limit }), ...(cursor ? { cursor } : {}) };
      queries++;
      const res = await c.contacts.queryContacts({ query: queryInit(q, { case: "cursorPaging", value: cursorPaging }), search: q.search ?? "" });
      const m = res.pagingMetadata;
      out.push(...res.contacts.map(asJson));
      expect(m?.count).toBe(res.contacts.length);
      expect(Boolean(m?.cursors?.next)).toBe(Boolean(m?.hasNext));
      if (!m?.hasNext) return out;
      expect(res.contacts.length).toBe(q.limit ?? 50);
      cursor = m.cursors?.next;
      if (out.length > bound) throw new Error("cursor paging does not end");
      await between?.();
    }
  }

  const noDuplicates = (ids: string[]) => expect(ids.length, "a contact came twice").toBe(new Set(ids).size);

  it("for random filters, sorts, searches and page sizes, by offset and by cursor", async () => {
    const started = performance.now();
    const model = new QueryModel(CUSTOM);
    const perDataset = Math.ceil(RUNS / DATASETS);
    let creation = 0;
    let created = 0;
    for (let d = 0; d < DATASETS; d++) {
      const [spec] = fc.sample(datasetArb(40, 80, true), { seed: SEED + d, numRuns: 1 });
      const c = t.clients(`qp-${d}`);
      const creating = performance.now();
      const contacts = await createDataset(c, spec as DatasetSpec);
      creation += performance.now() - creating;
      created += contacts.length;
      const byId = new Map(contacts.map((x) => [x.id as string, x]));
      const numRuns = Math.min(perDataset, RUNS - d * perDataset);
      if (numRuns <= 0) break;
      await fc.assert(
        fc.asyncProperty(queryArb(model, contacts), async (q) => {
          runs++;
          const expected = model.run(contacts, modelQuery(q));
          if (expected.length > 0) nonEmpty++;
          matched += expected.length;
          for (const probe of q.probes) {
            const want = model.run(contacts, modelQuery({ ...probe, list: false, probes: [] }));
            queries++;
            const res = await c.contacts.queryContacts({ query: queryInit({ ...probe, list: false, probes: [] }, { case: "paging", value: { limit: 1000 } }) });
            const got = res.contacts.map((x) => x.id);
            expect(got, `probe: ${store} seed=${SEED} dataset=${d} query=${describeQuery(probe)}${explain(model, contacts, probe.filter, got, want)}`).toEqual(
              want,
            );
            expect(res.pagingMetadata?.total).toBe(want.length);
          }
          const context = `${store} seed=${SEED} dataset=${d} query=${describeQuery(q)}`;
          const offset = await byOffset(c, q, expected.length);
          const offsetIds = offset.map((x) => x.id as string);
          noDuplicates(offsetIds);
          expect(offsetIds, `offset paging: ${context}${explain(model, contacts, q.filter, offsetIds, expected)}`).toEqual(expected);
          const cursor = await byCursor(c, q, expected.length + 1000);
          const cursorIds = cursor.map((x) => x.id as string);
          noDuplicates(cursorIds);
          expect(cursorIds, `cursor paging: ${context}${explain(model, contacts, q.filter, cursorIds, expected)}`).toEqual(expected);
          for (const got of [...offset, ...cursor]) expect(got).toEqual(byId.get(got.id as string));
        }),
        { numRuns, seed: SEED + d, endOnFailure: process.env.QUERY_SHRINK !== "1" },
      );
    }
    console.log(
      `[query-properties] store=${store} seed=${SEED} runs=${runs} queries=${queries} datasets=${DATASETS} contacts=${created} nonEmpty=${nonEmpty} matched=${matched} (${Math.round(performance.now() - started)} ms, creating ${Math.round(creation)} ms)`,
    );
  }, 600_000);

  it("cursor paging returns every original match exactly once while contacts are inserted between pages", async () => {
    const started = performance.now();
    const model = new QueryModel(CUSTOM);
    const c = t.clients("qp-concurrent");
    const [spec] = fc.sample(datasetArb(40, 50, true), { seed: SEED + 1000, numRuns: 1 });
    const contacts = await createDataset(c, spec as DatasetSpec);
    const originals = new Set(contacts.map((x) => x.id as string));
    const inserted = new Set<string>();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        // Broad queries (no filter, or a filter matching many), small pages: many pages to race.
        queryArb(model, contacts).map((q) => ({
          ...q,
          list: false,
          limit: Math.min(q.limit ?? 4, 4),
          search: undefined,
          filter: q.filter && { $not: q.filter },
        })),
        fc.array(infoArb((spec as DatasetSpec).prefixes, true), { minLength: 20, maxLength: 20 }),
        async (q, newcomers) => {
          n++;
          const expected = model.run(contacts, modelQuery(q));
          const between = async () => {
            // Two at once, racing the next page.
            const batch = newcomers.splice(0, 2);
            await Promise.all(
              batch.map(async (info) => {
                const res = await c.contacts.createContact({ info: fromJson(ContactInfoSchema, info as JsonObject), allowDuplicates: true });
                inserted.add(res.contact?.id as string);
              }),
            );
          };
          const got = (await byCursor(c, q, expected.length + 1000, between)).map((x) => x.id as string);
          noDuplicates(got);
          for (const id of got) expect(originals.has(id) || inserted.has(id), `unknown contact ${id}`).toBe(true);
          expect(
            got.filter((id) => originals.has(id)),
            `${store} seed=${SEED} query=${describeQuery(q)}`,
          ).toEqual(expected);
        },
      ),
      { numRuns: CONCURRENT_RUNS, seed: SEED + 1000, endOnFailure: true },
    );
    console.log(
      `[query-properties] store=${store} seed=${SEED} concurrent-insert runs=${n} inserted=${inserted.size} (${Math.round(performance.now() - started)} ms)`,
    );
  }, 600_000);
});
