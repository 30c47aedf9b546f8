/**
 * Property tests of CreateContact/GetContact on SQLite (fast-check).
 *
 * (a) Any valid ContactInfo round-trips: GetContact returns exactly what CreateContact returned,
 *     and that is what was sent (normalised as API.md and the reference say) plus the server fields.
 * (b) Any single invalid input fails with its documented code, reason and field violation, and
 *     stores nothing.
 *
 * Runs: FC_RUNS (default 100). Seed: FC_SEED (default random); both are printed, so a failure can
 * be replayed with `FC_SEED=<seed> npx vitest run test/contacts-properties.test.ts`.
 */
import { fromJson, type JsonObject, type JsonValue, toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { type CountryCode, parsePhoneNumberFromString } from "libphonenumber-js/max";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AddressJson,
  type ContactAddressJson,
  type ContactEmailJson,
  type ContactInfoJson,
  ContactInfoSchema,
  type ContactJson,
  type ContactPhoneJson,
  ContactSchema,
} from "../gen/contacts/v1/contact_pb.js";
import { FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { startTestServer, type TestServer } from "./support/server.js";

const RUNS = Number(process.env.FC_RUNS ?? 100);
const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : Math.floor(Math.random() * 2 ** 31);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FIELDS = { text: "custom.notes", number: "custom.score", date: "custom.met-on", url: "custom.website" } as const;
const LABELS = ["custom.vip", "custom.lead", "custom.friend", "contacts.customers"] as const;

// ---- Arbitraries of valid input -----------------------------------------------------------

const pad = fc.constantFrom("", "", " ", "  ", "\t", " \n");
/** Free text: printable ASCII or any Unicode graphemes, sometimes padded with whitespace. */
const text = (maxLength: number) =>
  fc
    .tuple(pad, fc.oneof(fc.string({ maxLength }), fc.string({ unit: "grapheme", maxLength: Math.min(maxLength, 12) })), pad)
    .map(([a, s, b]) => `${a}${s}${b}`);
/** Non-empty text kept verbatim by the server (addresses are not trimmed). */
const verbatim = (maxLength: number) => fc.string({ minLength: 1, maxLength });
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
/** Drops undefined keys so that the JSON form has only what is set. */
const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

const email = fc
  .tuple(
    pad,
    fc.stringMatching(/^[A-Za-z0-9._%+-]{1,20}$/),
    fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9-]{0,12}[A-Za-z0-9])?$/),
    fc.constantFrom("com", "org", "Example", "IO", "co.uk"),
    pad,
  )
  .map(([a, local, domain, tld, b]) => `${a}${local}@${domain}.${tld}${b}`);

const phone = fc.oneof(
  fc.constantFrom("650-253-0000", "(212) 555-0100", "+1 650 253 0000", "+44 20 7946 0958", "030 901820", "+972-3-555-1234", " 6502530000 "),
  fc.stringMatching(/^\+?[0-9 ()-]{1,30}$/).filter((p) => p.trim().length > 0),
  fc.constantFrom("ext. 12", "call reception", "☎ 12345"),
);

/** Items with at most one `primary: true` (or none), the rest unset or false. */
function withPrimary<T extends object>(items: T[], primaryAt: number | undefined, falses: boolean[]): (T & { primary?: boolean })[] {
  return items.map((item, i) => {
    if (primaryAt !== undefined && i === primaryAt % items.length) return { ...item, primary: true };
    return falses[i] ? { ...item, primary: false } : item;
  });
}

const emails = fc
  .tuple(
    fc.array(fc.record({ email, tag: fc.constantFrom(undefined, "EMAIL_TAG_UNTAGGED", "EMAIL_TAG_MAIN", "EMAIL_TAG_HOME", "EMAIL_TAG_WORK") }), {
      maxLength: 5,
    }),
    optional(fc.nat()),
    fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  )
  .map(([items, primaryAt, falses]) => withPrimary(items.map(defined), primaryAt, falses) as ContactEmailJson[]);

const phones = fc
  .tuple(
    fc.array(
      fc.record({
        phone,
        countryCode: fc.constantFrom(undefined, "US", "GB", "DE", "il", "fr"),
        tag: fc.constantFrom(undefined, "PHONE_TAG_MOBILE", "PHONE_TAG_WORK", "PHONE_TAG_FAX"),
      }),
      { maxLength: 3 },
    ),
    optional(fc.nat()),
    fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
  )
  .map(([items, primaryAt, falses]) => withPrimary(items.map(defined), primaryAt, falses) as ContactPhoneJson[]);

const address: fc.Arbitrary<AddressJson> = fc
  .record({
    street: fc.oneof(
      fc.constant(undefined),
      fc.record({ number: verbatim(10), name: verbatim(30) }).map((streetAddress) => ({ streetAddress })),
      verbatim(40).map((addressLine) => ({ addressLine })),
    ),
    addressLine2: optional(verbatim(20)),
    city: optional(verbatim(20)),
    subdivision: optional(fc.constantFrom("US-NY", "GB-NIR", "DE-BE")),
    country: optional(fc.constantFrom("US", "GB", "DE", "IL")),
    postalCode: optional(fc.stringMatching(/^[0-9A-Z -]{1,10}$/)),
  })
  .map(({ street, ...rest }) => defined({ ...(street ?? {}), ...rest }));

const addresses = fc.array(
  fc.record({ tag: fc.constantFrom(undefined, "ADDRESS_TAG_HOME", "ADDRESS_TAG_WORK", "ADDRESS_TAG_BILLING"), address }).map(defined),
  { maxLength: 2 },
) as fc.Arbitrary<ContactAddressJson[]>;

const isoDate = fc
  .date({ min: new Date("1900-01-01T00:00:00Z"), max: new Date("2020-12-31T00:00:00Z"), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));

const extendedFields = fc
  .record({
    [FIELDS.text]: optional(text(40)),
    [FIELDS.number]: optional(fc.oneof(fc.integer({ min: -1e6, max: 1e6 }), fc.double({ noNaN: true, noDefaultInfinity: true }))),
    [FIELDS.date]: optional(isoDate),
    [FIELDS.url]: optional(fc.oneof(fc.webUrl(), fc.constantFrom("example.com/path", "www.example.org", "HTTP://Example.com/A?b=c"))),
  })
  .map((o) => defined(o) as Record<string, JsonValue>);

const labelKeys = fc
  .tuple(fc.shuffledSubarray([...LABELS]), fc.boolean())
  .map(([keys, repeat]) => (repeat && keys.length > 0 ? [...keys, keys[0] as string] : keys));

const validInfo: fc.Arbitrary<ContactInfoJson> = fc
  .record({
    name: optional(fc.record({ first: optional(text(30)), last: optional(text(30)) }).map(defined)),
    emails: optional(emails.map((items) => ({ items }))),
    phones: optional(phones.map((items) => ({ items }))),
    addresses: optional(addresses.map((items) => ({ items }))),
    company: optional(text(40)),
    jobTitle: optional(text(40)),
    birthdate: optional(isoDate),
    locale: optional(fc.constantFrom("en-US", "de-DE", "en-us", "fr", "pt-BR", "zh-Hant-TW", "he-IL")),
    labelKeys: optional(labelKeys.map((items) => ({ items }))),
    extendedFields: optional(extendedFields.map((items) => ({ items }))),
  })
  .map((o) => defined(o) as ContactInfoJson)
  .filter((i) => Boolean(i.name?.first?.trim() || i.name?.last?.trim() || i.emails?.items?.length || i.phones?.items?.length));

// ---- What the server should return for a valid input --------------------------------------

function phoneForms(phone: string, countryCode: string | undefined): { e164Phone?: string; formattedPhone?: string } {
  const parsed = parsePhoneNumberFromString(phone, countryCode ? { defaultCountry: countryCode as CountryCode } : undefined);
  return parsed?.isValid() ? { e164Phone: parsed.number, formattedPhone: parsed.formatInternational() } : {};
}

/** Index of the primary item: the one flagged, else the first. */
const primaryIndex = (items: readonly { primary?: boolean }[]) =>
  Math.max(
    0,
    items.findIndex((i) => i.primary === true),
  );

/** The contact info CreateContact must return for `sent`, without the generated item ids. */
function expectedInfo(sent: ContactInfoJson): ContactInfoJson {
  const out: ContactInfoJson = {};
  const first = sent.name?.first?.trim();
  const last = sent.name?.last?.trim();
  if (first || last) out.name = defined({ first: first || undefined, last: last || undefined });
  const em = sent.emails?.items ?? [];
  if (em.length > 0) {
    const p = primaryIndex(em);
    out.emails = {
      items: em.map((e, i) => ({ tag: e.tag ?? "EMAIL_TAG_UNTAGGED", email: (e.email ?? "").trim(), primary: i === p })),
    };
  }
  const ph = sent.phones?.items ?? [];
  if (ph.length > 0) {
    const p = primaryIndex(ph);
    out.phones = {
      items: ph.map((x, i) => {
        const countryCode = x.countryCode?.toUpperCase();
        const number = (x.phone ?? "").trim();
        return defined({ tag: x.tag ?? "PHONE_TAG_UNTAGGED", countryCode, phone: number, ...phoneForms(number, countryCode), primary: i === p });
      }),
    };
  }
  const ad = sent.addresses?.items ?? [];
  if (ad.length > 0) out.addresses = { items: ad.map((a) => ({ tag: a.tag ?? "ADDRESS_TAG_UNTAGGED", address: a.address ?? {} })) };
  if (sent.company?.trim()) out.company = sent.company.trim();
  if (sent.jobTitle?.trim()) out.jobTitle = sent.jobTitle.trim();
  if (sent.birthdate) out.birthdate = sent.birthdate;
  if (sent.locale) out.locale = sent.locale;
  const labels = [...new Set(sent.labelKeys?.items ?? [])];
  if (labels.length > 0) out.labelKeys = { items: labels };
  const ext: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(sent.extendedFields?.items ?? {})) {
    if (key === FIELDS.url && typeof value === "string" && !/^[a-z][a-z0-9+.-]*:/i.test(value.trim())) ext[key] = `https://${value.trim()}`;
    else if (key === FIELDS.url && typeof value === "string") ext[key] = value.trim();
    // JSON has no -0: a stored number comes back as 0.
    else ext[key] = value === 0 ? 0 : value;
  }
  // System fields (reference §1.2): display names from the name, subscription trio from the primary email.
  if (out.name) {
    ext["contacts.displayByFirstName"] = [first, last].filter(Boolean).join(" ");
    ext["contacts.displayByLastName"] = [last, first].filter(Boolean).join(" ");
  }
  const primaryEmail = out.emails?.items?.find((e) => e.primary)?.email;
  if (primaryEmail) {
    ext["emailSubscriptions.subscriptionStatus"] = "NOT_SET";
    ext["emailSubscriptions.deliverabilityStatus"] = "NOT_SET";
    ext["emailSubscriptions.effectiveEmail"] = primaryEmail;
  }
  if (Object.keys(ext).length > 0) out.extendedFields = { items: ext };
  return out;
}

/** The info with item ids removed, after checking they are fresh distinct UUIDs. */
function withoutIds(info: ContactInfoJson): ContactInfoJson {
  const ids: string[] = [];
  const strip = <T extends { id?: string }>(items: T[] | undefined) =>
    (items ?? []).map(({ id, ...rest }) => {
      ids.push(id ?? "");
      return rest;
    });
  const out: ContactInfoJson = { ...info };
  if (info.emails) out.emails = { items: strip(info.emails.items) };
  if (info.phones) out.phones = { items: strip(info.phones.items) };
  if (info.addresses) out.addresses = { items: strip(info.addresses.items) };
  for (const id of ids) expect(id).toMatch(UUID);
  expect(new Set(ids).size).toBe(ids.length);
  return out;
}

// ---- Invalid input ------------------------------------------------------------------------

interface Violation {
  name: string;
  apply: (info: ContactInfoJson, at: number) => { info: ContactInfoJson; field?: string };
  code: Code;
  reason: string;
}

const someEmails = (info: ContactInfoJson, n: number): ContactEmailJson[] => {
  const items = [...(info.emails?.items ?? [])].map(({ primary: _p, ...e }) => e);
  while (items.length < n) items.push({ email: `filler${items.length}@example.com` });
  return items;
};
const somePhones = (info: ContactInfoJson): ContactPhoneJson[] => {
  const items = [...(info.phones?.items ?? [])];
  return items.length > 0 ? items : [{ phone: "650-253-0000", countryCode: "US" }];
};

const VIOLATIONS: Violation[] = [
  {
    name: "first name of 1001 characters",
    apply: (info) => ({ info: { ...info, name: { ...info.name, first: "x".repeat(1001) } }, field: "info.name.first" }),
    code: Code.InvalidArgument,
    reason: "VALUE_TOO_LONG",
  },
  {
    name: "51 emails",
    apply: (info) => ({ info: { ...info, emails: { items: someEmails(info, 51) } }, field: "info.emails.items" }),
    code: Code.InvalidArgument,
    reason: "TOO_MANY_ITEMS",
  },
  {
    name: "email without @",
    apply: (info, at) => {
      const items = someEmails(info, 1);
      const i = at % items.length;
      items[i] = { ...items[i], email: "no-at-sign.example.com" };
      return { info: { ...info, emails: { items } }, field: `info.emails.items[${i}].email` };
    },
    code: Code.InvalidArgument,
    reason: "INVALID_EMAIL",
  },
  {
    name: "phone of 51 characters",
    apply: (info, at) => {
      const items = somePhones(info);
      const i = at % items.length;
      items[i] = { ...items[i], phone: "1".repeat(51) };
      return { info: { ...info, phones: { items } }, field: `info.phones.items[${i}].phone` };
    },
    code: Code.InvalidArgument,
    reason: "VALUE_TOO_LONG",
  },
  {
    name: "two primary emails",
    apply: (info, at) => {
      const items = someEmails(info, 2);
      const i = at % items.length;
      const j = (i + 1) % items.length;
      items[i] = { ...items[i], primary: true };
      items[j] = { ...items[j], primary: true };
      return { info: { ...info, emails: { items } }, field: "info.emails.items" };
    },
    code: Code.InvalidArgument,
    reason: "CANNOT_HAVE_MULTIPLE_PRIMARY_INFO",
  },
  {
    name: "birthdate 2023-02-30",
    apply: (info) => ({ info: { ...info, birthdate: "2023-02-30" }, field: "info.birthdate" }),
    code: Code.InvalidArgument,
    reason: "INVALID_DATE",
  },
  {
    name: "unknown extended field key",
    apply: (info) => ({
      info: { ...info, extendedFields: { items: { ...info.extendedFields?.items, "custom.nope": "x" } } },
      field: 'info.extended_fields.items["custom.nope"]',
    }),
    code: Code.InvalidArgument,
    reason: "INVALID_EXTENDED_FIELD_VALUE",
  },
  {
    name: "NUMBER field given a string",
    apply: (info) => ({
      info: { ...info, extendedFields: { items: { ...info.extendedFields?.items, [FIELDS.number]: "42" } } },
      field: `info.extended_fields.items["${FIELDS.number}"]`,
    }),
    code: Code.InvalidArgument,
    reason: "INVALID_EXTENDED_FIELD_VALUE",
  },
  {
    name: "unknown label key",
    apply: (info) => ({ info: { ...info, labelKeys: { items: [...(info.labelKeys?.items ?? []), "custom.nope"] } } }),
    code: Code.NotFound,
    reason: "LABEL_NOT_FOUND",
  },
  {
    name: "no name, email or phone",
    apply: ({ name: _n, emails: _e, phones: _p, ...rest }) => ({ info: rest, field: "info" }),
    code: Code.InvalidArgument,
    reason: "INSUFFICIENT_CONTACT_DATA",
  },
  {
    name: 'locale "!!"',
    apply: (info) => ({ info: { ...info, locale: "!!" }, field: "info.locale" }),
    code: Code.InvalidArgument,
    reason: "INVALID_LOCALE",
  },
  {
    name: 'country_code "USA"',
    apply: (info, at) => {
      const items = somePhones(info);
      const i = at % items.length;
      items[i] = { ...items[i], countryCode: "USA" };
      return { info: { ...info, phones: { items } }, field: `info.phones.items[${i}].country_code` };
    },
    code: Code.InvalidArgument,
    reason: "INVALID_COUNTRY_CODE",
  },
];

// ---- The properties -----------------------------------------------------------------------

async function checkProperty(name: string, property: fc.IAsyncProperty<[unknown]> | fc.IAsyncProperty<unknown[]>) {
  const started = performance.now();
  const out = await fc.check(property as fc.IAsyncProperty<unknown[]>, { seed: SEED, numRuns: RUNS });
  const ms = Math.round(performance.now() - started);
  console.log(`[property ${name}] seed=${SEED} runs=${out.numRuns} ${out.failed ? "FAILED" : "passed"} in ${ms} ms`);
  if (out.failed) {
    // The report (seed, path, counterexample), then the failing assertion itself with its diff.
    console.error(fc.defaultReportMessage(out));
    throw out.errorInstance;
  }
}

describe("CreateContact / GetContact properties on sqlite", () => {
  let t: TestServer;
  beforeAll(async () => {
    console.log(`[properties] seed=${SEED} runs=${RUNS} (set FC_SEED / FC_RUNS to replay or scale)`);
    t = await startTestServer("sqlite");
    for (const tenant of ["props", "props-bad"]) {
      const { fields, labels } = t.clients(tenant);
      for (const [name, dataType] of [
        ["Notes", FieldDataType.TEXT],
        ["Score", FieldDataType.NUMBER],
        ["Met On", FieldDataType.DATE],
        ["Website", FieldDataType.URL],
      ] as const) {
        await fields.findOrCreateExtendedField({ displayName: name, dataType });
      }
      for (const name of ["VIP", "Lead", "Friend"]) await labels.findOrCreateLabel({ displayName: name });
    }
    // The keys the arbitraries use must be the ones the server made.
    const { fields } = t.clients("props");
    for (const key of Object.values(FIELDS)) expect((await fields.getExtendedField({ key })).field?.key).toBe(key);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("(a) Create → Get round-trips any valid contact, preserving what was sent", async () => {
    const { contacts } = t.clients("props");
    await checkProperty(
      "a: create→get round-trip",
      fc.asyncProperty(validInfo, async (sent) => {
        const created = (await contacts.createContact({ info: fromJson(ContactInfoSchema, sent as JsonObject), allowDuplicates: true })).contact;
        const got = await contacts.getContact({ id: created?.id ?? "" });
        expect(got.contact).toEqual(created);

        const c = toJson(ContactSchema, created ?? fromJson(ContactSchema, {})) as ContactJson;
        expect(c.id).toMatch(UUID);
        expect(c.revision).toBe(1);
        expect(c.createdDate).toBeDefined();
        expect(c.updatedDate).toBe(c.createdDate);
        expect(c.lastActivity?.activityType).toBe("CONTACT_ACTIVITY_TYPE_CONTACT_CREATED");
        const info = withoutIds(c.info ?? {});
        expect(info).toEqual(expectedInfo(sent));

        const primaryEmails = (c.info?.emails?.items ?? []).filter((e) => e.primary);
        const primaryPhones = (c.info?.phones?.items ?? []).filter((p) => p.primary);
        expect(primaryEmails).toHaveLength(sent.emails?.items?.length ? 1 : 0);
        expect(primaryPhones).toHaveLength(sent.phones?.items?.length ? 1 : 0);
        expect(c.primaryInfo ?? {}).toEqual(defined({ email: primaryEmails[0]?.email, phone: primaryPhones[0]?.phone }));
        expect(c.primaryEmail?.email).toBe(primaryEmails[0]?.email);
        expect(c.primaryPhone?.phone).toBe(primaryPhones[0]?.phone);
        expect(c.primaryPhone?.e164Phone).toBe(primaryPhones[0]?.e164Phone);
      }),
    );
  }, 120_000);

  it("(b) any single invalid input fails with its documented error and stores nothing", async () => {
    const tenant = "props-bad";
    const { contacts } = t.clients(tenant);
    const db = t.server.db;
    const stored = async () => {
      const out: Record<string, number> = {};
      for (const table of ["contacts", "events", "contact_emails", "contact_phones", "contact_labels", "contact_field_values", "idempotency_keys"]) {
        const row = await db(table).where({ tenant_id: tenant }).count({ n: "*" }).first();
        out[table] = Number(row?.n ?? 0);
      }
      return out;
    };
    const before = await stored();
    const seen = new Map<string, number>();
    await checkProperty(
      "b: invalid input rejected",
      fc.asyncProperty(validInfo, fc.constantFrom(...VIOLATIONS), fc.nat(), fc.boolean(), fc.uuid(), async (base, violation, at, withRequestId, requestId) => {
        seen.set(violation.name, (seen.get(violation.name) ?? 0) + 1);
        const { info, field } = violation.apply(structuredClone(base), at);
        let caught: unknown;
        try {
          await contacts.createContact({
            info: fromJson(ContactInfoSchema, info as JsonObject),
            allowDuplicates: true,
            ...(withRequestId ? { requestId } : {}),
          });
        } catch (err) {
          caught = err;
        }
        expect(caught, violation.name).toBeInstanceOf(ConnectError);
        const err = caught as ConnectError;
        const ei = err.findDetails(ErrorInfoSchema)[0];
        expect({ violation: violation.name, code: Code[err.code], reason: ei?.reason, domain: ei?.domain }).toEqual({
          violation: violation.name,
          code: Code[violation.code],
          reason: violation.reason,
          domain: "contacts.v1",
        });
        if (field !== undefined) {
          const fields = err.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => v.field));
          expect(fields, violation.name).toContain(field);
        }
        expect(await stored()).toEqual(before);
      }),
    );
    console.log(`[property b] violations exercised: ${[...seen].map(([k, n]) => `${k}=${n}`).join(", ")}`);
  }, 120_000);
});
