/**
 * The SDK (`sdk/src`, `@contacts-api/sdk`) through a real server on MariaDB and SQLite: every
 * function of the reference surface, the shapes it returns, typed errors, the query builders
 * (every operator, paging through 2,500 contacts), deadlines, signals and retries, events; and
 * on MariaDB a server killed and restarted mid-run with 0 duplicate contacts and a watch that
 * resumes across the restart.
 */
import { randomUUID } from "node:crypto";
import net from "node:net";
import { Code, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SignJWT } from "jose";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AbortedError,
  AlreadyExistsError,
  CancelledError,
  type Contact,
  type ContactsClient,
  type ContactsEvent,
  type ContactsQueryBuilder,
  createClient,
  DeadlineExceededError,
  ENTITY_FQDN,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  UnauthenticatedError,
  UnavailableError,
} from "../sdk/src/index.js";
import { CONTACT_FIELDS as SDK_CONTACT_FIELDS, EXTENDED_FIELD_FIELDS, LABEL_FIELDS as SDK_LABEL_FIELDS } from "../sdk/src/query-fields.js";
import type { QueryField } from "../sdk/src/query.js";
import { startTestServer as startSdkTestServer } from "../testing/src/index.js";
import { startServer } from "../server/src/app.js";
import { DEFAULTS } from "../server/src/config.js";
import { CONTACT_FIELDS as SERVER_CONTACT_FIELDS } from "../server/src/domain/contact-query.js";
import type { FieldSpec } from "../server/src/domain/query.js";
import { FIELD_FIELDS as SERVER_FIELD_FIELDS } from "../server/src/services/extended-fields.js";
import { LABEL_FIELDS as SERVER_LABEL_FIELDS } from "../server/src/services/labels.js";
import { createTestDatabase } from "./support/databases.js";
import { expectPlain, failure, inParallel, suiteServer, tenant } from "./support/sdk.js";
import { STORES, startTestServer, type TestServer } from "./support/server.js";
import { startTcpProxy } from "./support/tcp-proxy.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const firstNames = (items: Contact[]) => items.map((c) => c.info?.name?.first).sort();

describe("SDK query field tables", () => {
  // The SDK checks filters before sending them; its tables must say what the server accepts.
  function compare(sdk: Readonly<Record<string, QueryField>>, server: readonly FieldSpec[]) {
    const byWire = new Map(Object.values(sdk).map((f) => [f.wire, f]));
    for (const field of server) {
      const mine = byWire.get(field.path);
      expect(mine, `the SDK knows ${field.path}`).toBeDefined();
      expect({ path: field.path, ops: [...(mine?.operators ?? [])].sort(), sortable: mine?.sortable }).toEqual({
        path: field.path,
        ops: [...field.operators].sort(),
        sortable: field.sortable,
      });
    }
    expect(byWire.size).toBe(server.length);
  }
  it("contacts, labels and extended fields match the server's", () => {
    compare(SDK_CONTACT_FIELDS, SERVER_CONTACT_FIELDS);
    compare(SDK_LABEL_FIELDS, SERVER_LABEL_FIELDS);
    compare(EXTENDED_FIELD_FIELDS, SERVER_FIELD_FIELDS);
  });
});

describe.each(STORES)("SDK through a real server on %s", (store) => {
  const suite = suiteServer(store, { eventsPollMs: 50 });
  const { clientFor } = suite;

  it("contacts: create, get, update (with and without a mask), label, unlabel, delete, in the reference's shapes", async () => {
    const { contacts, labels } = clientFor(tenant("crud"));
    const { label } = await labels.findOrCreateLabel("VIP Customer");
    const { contact } = await contacts.createContact(
      {
        name: { first: "Ada", last: "Lovelace" },
        emails: { items: [{ email: "ada@example.com", tag: "WORK" }] },
        phones: { items: [{ phone: "(201) 555-0123", countryCode: "US", tag: "MOBILE" }] },
        addresses: {
          items: [
            { tag: "HOME", address: { addressLine1: "12 St James's Square", city: "London", country: "GB", location: { latitude: 51.5, longitude: -0.13 } } },
          ],
        },
        company: "Analytical Engines",
        birthdate: "1815-12-10",
        labelKeys: { items: [label.key] },
      },
      { allowDuplicates: false },
    );
    expectPlain(contact);
    expect(contact).toMatchObject({
      revision: 1,
      source: { sourceType: "ADMIN" },
      lastActivity: { activityType: "CONTACT_CREATED" },
      primaryInfo: { email: "ada@example.com", phone: "(201) 555-0123" },
      primaryEmail: { email: "ada@example.com", subscriptionStatus: "NOT_SET", deliverabilityStatus: "NOT_SET" },
      primaryPhone: { e164Phone: "+12015550123", subscriptionStatus: "NOT_SET" },
      info: {
        name: { first: "Ada", last: "Lovelace" },
        emails: { items: [{ email: "ada@example.com", tag: "WORK", primary: true }] },
        phones: { items: [{ phone: "(201) 555-0123", tag: "MOBILE", e164Phone: "+12015550123" }] },
        addresses: { items: [{ tag: "HOME", address: { addressLine1: "12 St James's Square", city: "London", location: { latitude: 51.5 } } }] },
        labelKeys: { items: ["custom.vip-customer"] },
        extendedFields: { items: { "contacts.displayByFirstName": "Ada Lovelace", "emailSubscriptions.subscriptionStatus": "NOT_SET" } },
      },
    });
    expect(typeof contact._id).toBe("string");
    expect(contact._createdDate).toBeInstanceOf(Date);
    expect(contact._updatedDate).toBeInstanceOf(Date);
    expect(contact.lastActivity?.activityDate).toBeInstanceOf(Date);
    expect(contact.info?.emails?.items?.[0]?._id).toEqual(expect.any(String));
    expect(contact).not.toHaveProperty("id");
    expect(contact).not.toHaveProperty("createdDate");

    const got = await contacts.getContact(contact._id);
    expect(got).toEqual(contact);
    const basic = await contacts.getContact(contact._id, { fieldsets: ["BASIC"] });
    expect(basic.info?.emails).toBeUndefined();
    expect(basic.info?.name?.first).toBe("Ada");

    const updated = await contacts.updateContact(contact._id, { jobTitle: "Analyst" }, contact.revision);
    expect(updated.contact).toMatchObject({ revision: 2, info: { jobTitle: "Analyst", company: "Analytical Engines" } });
    const masked = await contacts.updateContact(contact._id, { name: { last: "King" } }, 2, { fieldMask: ["info.name.last", "info.company"] });
    expect(masked.contact.revision).toBe(3);
    expect(masked.contact.info?.name).toEqual({ first: "Ada", last: "King" });
    expect(masked.contact.info?.company).toBeUndefined();

    const unlabelled = await contacts.unlabelContact(contact._id, [label.key]);
    expect(unlabelled.contact.info?.labelKeys?.items ?? []).toEqual([]);
    const labelled = await contacts.labelContact(contact._id, ["contacts.customers", label.key]);
    expect(labelled.contact.info?.labelKeys?.items?.sort()).toEqual(["contacts.customers", "custom.vip-customer"]);
    expect(labelled.contact.revision).toBe(5);

    await contacts.deleteContact(contact._id);
    const gone = await failure(contacts.getContact(contact._id));
    expect(gone).toBeInstanceOf(NotFoundError);
    expect(gone.code).toBe("CONTACT_NOT_FOUND");
  });

  it("typed errors carry the gRPC code, the reference's code, its data and field violations", async () => {
    const { contacts } = clientFor(tenant("errors"));
    const { contact } = await contacts.createContact({ emails: { items: [{ email: "grace@example.com" }] } });

    const dup = await failure(contacts.createContact({ emails: { items: [{ email: " GRACE@example.com" }] } }));
    expect(dup).toBeInstanceOf(AlreadyExistsError);
    expect(dup).toMatchObject({ grpcCode: Code.AlreadyExists, grpcStatus: "ALREADY_EXISTS", code: "DUPLICATE_CONTACT_EXISTS" });
    expect(dup.details.duplicateContactId).toBe(contact._id);
    expect(dup.message).toContain("DUPLICATE_CONTACT_EXISTS");
    expect(dup.message).toContain(contact._id);
    expect(dup.requestId).toEqual(expect.any(String));
    // allowDuplicates creates it anyway
    await contacts.createContact({ emails: { items: [{ email: "grace@example.com" }] } }, { allowDuplicates: true });

    const stale = await failure(contacts.updateContact(contact._id, { company: "x" }, contact.revision + 5));
    expect(stale).toBeInstanceOf(AbortedError);
    expect(stale.code).toBe("CONTACT_ALREADY_CHANGED");

    const invalid = await failure(contacts.createContact({ emails: { items: [{ email: "ok@example.com" }, { email: "not an email" }] } }));
    expect(invalid).toBeInstanceOf(InvalidArgumentError);
    expect(invalid.code).toBe("INVALID_EMAIL");
    expect(invalid.details.fieldViolations).toEqual([{ field: "info.emails.items[1].email", description: expect.any(String) }]);

    const insufficient = await failure(contacts.createContact({ company: "Nobody Inc" }));
    expect(insufficient.code).toBe("INSUFFICIENT_CONTACT_DATA");

    const noLabel = await failure(contacts.labelContact(contact._id, ["custom.nope"]));
    expect(noLabel).toBeInstanceOf(NotFoundError);
    expect(noLabel.code).toBe("LABEL_NOT_FOUND");

    const malformed = await failure(contacts.queryFacets({ filter: { "info.name.first": "x" } }));
    expect(malformed).toBeInstanceOf(InvalidArgumentError);

    // Input the SDK can tell is wrong never leaves the process.
    await expect(contacts.createContact({ emails: { items: [{ email: "a@example.com", tag: "PERSONAL" as "WORK" }] } })).rejects.toThrow(
      /info\.emails\.items\[0\]\.tag must be one of "UNTAGGED", "MAIN", "HOME", "WORK"/,
    );
    await expect(contacts.createContact({ nmae: { first: "x" } } as never)).rejects.toThrow(/info\.nmae is not a field of ContactInfo/);
    await expect(contacts.createContact({ name: { first: 42 } } as never)).rejects.toThrow(/info\.name\.first must be a string/);
    await expect(contacts.updateContact(contact._id, {}, 0)).rejects.toThrow(TypeError);
    await expect(contacts.getContact("")).rejects.toThrow(TypeError);
  });

  it("merge, preview merge, member info and the delete protection", async () => {
    const { contacts } = clientFor(tenant("merge"));
    const target = (await contacts.createContact({ name: { first: "Charles" }, emails: { items: [{ email: "charles@example.com" }] } })).contact;
    const source = (await contacts.createContact({ name: { last: "Babbage" }, emails: { items: [{ email: "cb@example.com" }] }, company: "Difference" }))
      .contact;

    const preview = await contacts.previewMergeContacts(target._id, { sourceContactIds: [source._id] });
    expect(preview.contact).toMatchObject({ _id: target._id, revision: target.revision, info: { name: { first: "Charles", last: "Babbage" } } });
    expect((await contacts.getContact(source._id))._id).toBe(source._id);

    const merged = await contacts.mergeContacts(target._id, target.revision, { sourceContactIds: [source._id] });
    expect(merged.contact.revision).toBe(target.revision + 1);
    expect(merged.contact.info?.emails?.items?.map((e) => e.email)).toEqual(["charles@example.com", "cb@example.com"]);
    expect(merged.contact.lastActivity?.activityType).toBe("CONTACT_MERGED");
    // A merged-away id resolves to the target in getContact only.
    expect((await contacts.getContact(source._id))._id).toBe(target._id);
    expect((await failure(contacts.labelContact(source._id, ["contacts.customers"]))).code).toBe("CONTACT_NOT_FOUND");
    const stale = await failure(contacts.mergeContacts(target._id, target.revision, { sourceContactIds: [randomUUID()] }));
    expect(stale.grpcStatus).toMatch(/ABORTED|NOT_FOUND/);

    const member = await contacts.updateMemberInfo(target._id, { memberId: "m-1", role: "MEMBER", status: "ACTIVE" });
    expect(member.contact.memberInfo).toMatchObject({ memberId: "m-1", role: "MEMBER", status: "ACTIVE" });
    expect(member.contact.memberInfo?.signupDate).toBeInstanceOf(Date);
    const refused = await failure(contacts.deleteContact(target._id));
    expect(refused).toBeInstanceOf(FailedPreconditionError);
    expect(refused.code).toBe("CANNOT_DELETE_MEMBER");
    const cleared = await contacts.updateMemberInfo(target._id, null);
    expect(cleared.contact.memberInfo).toBeUndefined();
    await contacts.deleteContact(target._id);
  });

  it("listContacts, listFacets and queryFacets", async () => {
    const { contacts, labels } = clientFor(tenant("list"));
    const { label } = await labels.findOrCreateLabel("Lead");
    for (const [first, last] of [
      ["Ann", "Zed"],
      ["Bob", "Young"],
      ["Cid", "Xu"],
    ] as const) {
      await contacts.createContact({
        name: { first, last },
        emails: { items: [{ email: `${first}@example.com` }] },
        labelKeys: { items: first === "Ann" ? [label.key] : [] },
      });
    }
    const byLast = await contacts.listContacts({ sort: { fieldName: "info.name.last", order: "ASC" }, paging: { limit: 2 } });
    expect(byLast.contacts.map((c) => c.info?.name?.last)).toEqual(["Xu", "Young"]);
    expect(byLast.pagingMetadata).toEqual({ count: 2, offset: 0, total: 3, tooManyToCount: false, hasNext: true });
    const newest = await contacts.listContacts({ fields: ["info.name"], paging: { limit: 1 } });
    expect(newest.contacts[0]?.info?.name?.first).toBe("Cid");
    expect(newest.contacts[0]?.info?.emails).toBeUndefined();
    await expect(contacts.listContacts({ sort: { fieldName: "info.emails.email" as "info.name.last" } })).rejects.toThrow(/cannot sort by/);

    const { facets, pagingMetadata } = await contacts.listFacets();
    expectPlain(facets);
    expect(facets.find((f) => f.facetType === "ALL_CONTACTS")?.count).toBe(3);
    expect(facets.find((f) => f.facetType === "NOT_LABELED")?.count).toBe(2);
    expect(facets.find((f) => f.facetKey === label.key)).toMatchObject({
      facetType: "LABEL",
      count: 1,
      queryFilter: { "info.labelKeys": { $hasSome: [label.key] } },
    });
    expect(facets.find((f) => f.facetKey === "contacts.customers")?.count).toBe(0);
    expect(pagingMetadata.total).toBe(facets.length);
    const subscribed = await contacts.queryFacets({ filter: { "info.extendedFields.emailSubscriptions.subscriptionStatus": { $eq: "SUBSCRIBED" } } });
    expect(subscribed.facets.find((f) => f.facetType === "ALL_CONTACTS")?.count).toBe(0);
  });

  it("labels: findOrCreate, get, list, query, rename, delete", async () => {
    const { labels, contacts } = clientFor(tenant("labels"));
    const first = await labels.findOrCreateLabel("Puppy Training COURSE");
    expect(first).toMatchObject({ newLabel: true, label: { key: "custom.puppy-training-course", namespace: "custom", labelType: "USER_DEFINED" } });
    expect(first.label._createdDate).toBeInstanceOf(Date);
    expectPlain(first);
    const again = await labels.findOrCreateLabel("  puppy training course ");
    expect(again).toEqual({ label: first.label, newLabel: false });
    await labels.findOrCreateLabel("Barking Intensive (long weekend)");
    await labels.findOrCreateLabel("VIP");

    expect(await labels.getLabel("contacts.customers")).toMatchObject({ key: "contacts.customers", displayName: "Customers", labelType: "SYSTEM" });
    const listed = await labels.listLabels({ labelType: "USER_DEFINED", sort: { fieldName: "displayName", order: "ASC" } });
    expect(listed.labels.map((l) => l.displayName)).toEqual(["Barking Intensive (long weekend)", "Puppy Training COURSE", "VIP"]);
    expect(listed.metadata.total).toBe(3);

    const queried = await labels.queryLabels().eq("labelType", "USER_DEFINED").startsWith("displayName", "b").find();
    expect(queried.items.map((l) => l.key)).toEqual(["custom.barking-intensive-long-weekend"]);
    const system = await labels.queryLabels().eq("labelType", "SYSTEM").ascending("displayName").find();
    expect(system.items.map((l) => l.key)).toEqual(["contacts.contacted-me", "contacts.customers"]);
    const newestFirst = await labels.queryLabels().eq("namespace", "custom").find();
    expect(newestFirst.items.map((l) => l.displayName)).toEqual(["VIP", "Barking Intensive (long weekend)", "Puppy Training COURSE"]);
    const page2 = await labels.queryLabels().eq("namespace", "custom").ascending("displayName").limit(2).skip(2).find();
    expect(page2).toMatchObject({ length: 1, totalCount: 3, pageSize: 2, currentPage: 1, totalPages: 2 });
    expect(page2.hasPrev()).toBe(true);
    expect((await page2.prev()).items.map((l) => l.displayName)).toEqual(["Barking Intensive (long weekend)", "Puppy Training COURSE"]);

    const renamed = await labels.renameLabel(first.label.key, { displayName: "Puppy School" });
    expect(renamed).toMatchObject({ key: "custom.puppy-training-course", displayName: "Puppy School" });
    expect((await failure(labels.renameLabel("contacts.customers", { displayName: "x" }))).code).toBe("SYSTEM_LABEL_READ_ONLY");

    const { contact } = await contacts.createContact({ name: { first: "Rex" }, labelKeys: { items: [renamed.key] } });
    await labels.deleteLabel(renamed.key);
    expect((await contacts.getContact(contact._id)).info?.labelKeys?.items ?? []).toEqual([]);
    expect(await failure(labels.getLabel(renamed.key))).toBeInstanceOf(NotFoundError);
  });

  it("extended fields: findOrCreate, get, list, query, rename, delete, and values on contacts", async () => {
    const { extendedFields, contacts } = clientFor(tenant("fields"));
    const shoe = await extendedFields.findOrCreateExtendedField("Shoe size", "NUMBER");
    expect(shoe).toMatchObject({ newField: true, field: { key: "custom.shoe-size", dataType: "NUMBER", fieldType: "USER_DEFINED" } });
    expect((await extendedFields.findOrCreateExtendedField("shoe size", "TEXT")).newField).toBe(false);
    const met = await extendedFields.findOrCreateExtendedField("Met on", "DATE");
    expect(await extendedFields.getExtendedField("custom.shoe-size")).toEqual(shoe.field);

    const system = await extendedFields.listExtendedFields({ fieldType: "SYSTEM" });
    expect(system.fields.map((f) => f.key)).toContain("emailSubscriptions.effectiveEmail");
    const numbers = await extendedFields.queryExtendedFields().eq("dataType", "NUMBER").find();
    expect(numbers.items.map((f) => f.key).sort()).toEqual(["custom.shoe-size", "ecom.numOfPurchases", "ecom.totalSpentAmount"]);
    const custom = await extendedFields.queryExtendedFields().eq("fieldType", "USER_DEFINED").ascending("displayName").find();
    expect(custom.items.map((f) => f.displayName)).toEqual(["Met on", "Shoe size"]);

    const { contact } = await contacts.createContact({
      name: { first: "Imelda" },
      extendedFields: { items: { [shoe.field.key]: 38.5, [met.field.key]: "2024-02-29" } },
    });
    expect(contact.info?.extendedFields?.items).toMatchObject({ "custom.shoe-size": 38.5, "custom.met-on": "2024-02-29" });
    const bad = await failure(contacts.createContact({ name: { first: "x" }, extendedFields: { items: { "custom.shoe-size": "big" } } }));
    expect(bad.code).toBe("INVALID_EXTENDED_FIELD_VALUE");

    const renamed = await extendedFields.renameExtendedField(shoe.field.key, { displayName: "Shoe size (EU)" });
    expect(renamed).toMatchObject({ key: "custom.shoe-size", displayName: "Shoe size (EU)" });
    expect((await failure(extendedFields.renameExtendedField("contacts.displayByFirstName", { displayName: "x" }))).code).toBe("SYSTEM_FIELD_READ_ONLY");
    await extendedFields.deleteExtendedField(shoe.field.key);
    expect((await contacts.getContact(contact._id)).info?.extendedFields?.items?.["custom.shoe-size"]).toBeUndefined();
    expect((await failure(extendedFields.getExtendedField(shoe.field.key))).code).toBe("EXTENDED_FIELD_NOT_FOUND");
  });

  describe("the contacts query builder", () => {
    let contacts: ContactsClient["contacts"];
    let q: () => ContactsQueryBuilder;
    const made: Contact[] = [];
    let vip = "";
    let customer = "";

    beforeAll(async () => {
      const client = clientFor(tenant("builder"));
      contacts = client.contacts;
      q = () => contacts.queryContacts();
      vip = (await client.labels.findOrCreateLabel("vip")).label.key;
      customer = (await client.labels.findOrCreateLabel("customer")).label.key;
      const shoe = (await client.extendedFields.findOrCreateExtendedField("Shoe size", "NUMBER")).field.key;
      const people = [
        { name: { first: "Ada", last: "Lovelace" }, company: "Analytical", birthdate: "1815-12-10", labels: [vip], shoe: 38, email: "ada@example.com" },
        {
          name: { first: "Charles", last: "Babbage" },
          company: "Analytical",
          birthdate: "1791-12-26",
          labels: [vip, customer],
          shoe: 44,
          email: "charles@example.com",
        },
        { name: { first: "Grace", last: "Hopper" }, company: "Navy", birthdate: "1906-12-09", labels: [customer], shoe: 40, email: "grace@example.com" },
        { name: { first: "Alan", last: "Turing" }, birthdate: "1912-06-23", labels: [], email: "alan@example.com" },
        { name: { first: "Katherine", last: "Johnson" }, company: "NASA", birthdate: "1918-08-26", labels: [], phone: "+1 202 555 0199" },
      ];
      for (const p of people) {
        const { contact } = await contacts.createContact({
          name: p.name,
          ...(p.company ? { company: p.company } : {}),
          birthdate: p.birthdate,
          labelKeys: { items: p.labels },
          ...(p.shoe ? { extendedFields: { items: { [shoe]: p.shoe } } } : {}),
          ...(p.email ? { emails: { items: [{ email: p.email }] } } : {}),
          ...(p.phone ? { phones: { items: [{ phone: p.phone }] } } : {}),
        });
        made.push(contact);
        await sleep(5); // distinct creation times
      }
    });

    const run = async (b: ContactsQueryBuilder) => firstNames((await b.find()).items);

    it("eq, ne, gt, ge, lt, le, between, in, hasSome, hasAll, startsWith, isEmpty, isNotEmpty", async () => {
      expect(await run(q().eq("info.company", "Analytical"))).toEqual(["Ada", "Charles"]);
      expect(await run(q().ne("info.company", "Analytical").isNotEmpty("info.company"))).toEqual(["Grace", "Katherine"]);
      expect(await run(q().gt("info.birthdate", "1906-12-09"))).toEqual(["Alan", "Katherine"]);
      expect(await run(q().ge("info.birthdate", "1906-12-09"))).toEqual(["Alan", "Grace", "Katherine"]);
      expect(await run(q().lt("info.birthdate", "1815-12-10"))).toEqual(["Charles"]);
      expect(await run(q().le("info.birthdate", new Date(Date.UTC(1815, 11, 10))))).toEqual(["Ada", "Charles"]);
      expect(await run(q().between("info.birthdate", "1800-01-01", "1906-12-09"))).toEqual(["Ada"]);
      expect(await run(q().in("info.name.first", ["Ada", "Grace", "Nobody"]))).toEqual(["Ada", "Grace"]);
      expect(await run(q().hasSome("info.labelKeys", [vip]))).toEqual(["Ada", "Charles"]);
      expect(await run(q().hasSome("info.labelKeys", vip, customer))).toEqual(["Ada", "Charles", "Grace"]);
      expect(await run(q().hasAll("info.labelKeys", [vip, customer]))).toEqual(["Charles"]);
      expect(await run(q().hasSome("info.company", ["Navy", "NASA"]))).toEqual(["Grace", "Katherine"]);
      expect(await run(q().startsWith("info.name.last", "lo"))).toEqual(["Ada"]);
      expect(await run(q().startsWith("info.emails.email", "CH"))).toEqual(["Charles"]);
      expect(await run(q().isEmpty("info.company"))).toEqual(["Alan"]);
      expect(await run(q().isNotEmpty("info.labelKeys"))).toEqual(["Ada", "Charles", "Grace"]);
      expect(await run(q().isEmpty("primaryInfo.email"))).toEqual(["Katherine"]);
      expect(await run(q().eq("primaryEmail.subscriptionStatus", "NOT_SET"))).toEqual(["Ada", "Alan", "Charles", "Grace"]);
      expect(await run(q().gt("info.extendedFields.custom.shoe-size", 39))).toEqual(["Charles", "Grace"]);
      const third = made[2] as Contact;
      expect(await run(q().ge("_createdDate", third._createdDate as Date))).toEqual(["Alan", "Grace", "Katherine"]);
      expect(await run(q().eq("_id", third._id))).toEqual(["Grace"]);
    });

    it("and, or, not", async () => {
      expect(await run(q().eq("info.company", "Analytical").or(q().eq("info.company", "Navy")))).toEqual(["Ada", "Charles", "Grace"]);
      expect(
        await run(
          q()
            .eq("info.company", "Analytical")
            .and(q().hasSome("info.labelKeys", [customer])),
        ),
      ).toEqual(["Charles"]);
      expect(await run(q().eq("info.company", "Analytical").not(q().eq("info.name.first", "Ada")))).toEqual(["Charles"]);
      expect(await run(q().not(q().isNotEmpty("info.labelKeys")))).toEqual(["Alan", "Katherine"]);
    });

    it("ascending, descending, limit, skip and the result's paging", async () => {
      const names = async (b: ContactsQueryBuilder) => (await b.find()).items.map((c) => c.info?.name?.first);
      expect(await names(q())).toEqual(["Katherine", "Alan", "Grace", "Charles", "Ada"]); // default: newest first
      expect(await names(q().ascending("info.name.first"))).toEqual(["Ada", "Alan", "Charles", "Grace", "Katherine"]);
      expect(await names(q().descending("info.birthdate"))).toEqual(["Katherine", "Alan", "Grace", "Ada", "Charles"]);
      expect(await names(q().ascending("info.extendedFields.custom.shoe-size").isNotEmpty("info.labelKeys"))).toEqual(["Ada", "Grace", "Charles"]);

      const page = await q().ascending("info.name.first").limit(2).skip(2).find();
      expectPlain(page.items);
      expect(page).toMatchObject({ length: 2, totalCount: 5, pageSize: 2, currentPage: 1, totalPages: 3, tooManyToCount: false });
      expect(page.items.map((c) => c.info?.name?.first)).toEqual(["Charles", "Grace"]);
      expect(page.hasNext()).toBe(true);
      expect(page.hasPrev()).toBe(true);
      const last = await page.next();
      expect(last.items.map((c) => c.info?.name?.first)).toEqual(["Katherine"]);
      expect(last.hasNext()).toBe(false);
      await expect(last.next()).rejects.toThrow(RangeError);
      expect((await page.prev()).items.map((c) => c.info?.name?.first)).toEqual(["Ada", "Alan"]);
      const first = await q().limit(2).find();
      expect(first.hasPrev()).toBe(false);

      const searched = await contacts.queryContacts({ search: "hopper" }).find();
      expect(searched.items.map((c) => c.info?.name?.first)).toEqual(["Grace"]);
      const projected = await contacts
        .queryContacts({ fieldsets: ["BASIC"] })
        .eq("info.name.first", "Ada")
        .find();
      expect(projected.items[0]?.info?.emails).toBeUndefined();
    });

    it("misuse fails at once with a clear message", () => {
      expect(() => q().eq("info.nickname" as "info.company", "x")).toThrow(
        /queryContacts\(\)\.eq\(\): unknown field "info.nickname"; fields are _id, _createdDate/,
      );
      expect(() => q().eq("info.company", 5)).toThrow(/"info.company" takes strings; got number 5/);
      expect(() => q().eq("info.labelKeys", "x")).toThrow(/"info.labelKeys" does not support eq\(\); it supports hasAll, isEmpty, isNotEmpty, hasSome/);
      expect(() => q().startsWith("info.birthdate", "19")).toThrow(/does not support startsWith/);
      expect(() => q().gt("_createdDate", "yesterday")).toThrow(/"_createdDate" takes Dates/);
      expect(() => q().gt("info.birthdate", "10/12/1815")).toThrow(/YYYY-MM-DD/);
      expect(() => q().eq("primaryEmail.subscriptionStatus", "SUBSCRIPTION_STATUS_NOT_SET")).toThrow(/takes one of "NO_SUBSCRIPTION_STATUS", "NOT_SET"/);
      expect(() => q().in("info.name.first", [])).toThrow(/at least one value/);
      expect(() => q().ascending("info.emails.email")).toThrow(/"info.emails.email" cannot be sorted by/);
      expect(() => q().ascending("info.name.first").descending("_createdDate")).toThrow(/at most 1 sort field/);
      expect(() => q().limit(0)).toThrow(RangeError);
      expect(() => q().limit(1001)).toThrow(/from 1 to 1000/);
      expect(() => q().skip(-1)).toThrow(RangeError);
      expect(() => q().or({} as ContactsQueryBuilder)).toThrow(/takes another queryContacts\(\) builder/);
      expect(() => q().eq("info.extendedFields.custom.shoe-size", { size: 1 } as never)).toThrow(/takes strings, numbers or Dates/);
    });

    it("pages through 2,500 contacts with next() until hasNext() is false", { timeout: 300_000 }, async () => {
      const client = clientFor(tenant("paging"));
      const started = Date.now();
      const created = await inParallel(
        2_500,
        25,
        async (i) => (await client.contacts.createContact({ name: { first: `P${i}` } }, { allowDuplicates: true })).contact._id,
      );
      const createdMs = Date.now() - started;
      const seen = new Map<string, number>();
      let page = await client.contacts
        .queryContacts({ fieldsets: ["BASIC"] })
        .limit(100)
        .find();
      let pages = 1;
      expect(page).toMatchObject({ totalCount: 2_500, totalPages: 25, currentPage: 0 });
      for (;;) {
        for (const c of page.items) seen.set(c._id, (seen.get(c._id) ?? 0) + 1);
        if (!page.hasNext()) break;
        page = await page.next();
        pages++;
      }
      console.log(`[sdk paging ${store}] created 2500 contacts in ${createdMs} ms; paged ${pages} pages in ${Date.now() - started - createdMs} ms`);
      expect(pages).toBe(25);
      expect(page.currentPage).toBe(24);
      expect(seen.size).toBe(2_500);
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
      expect(new Set(created)).toEqual(new Set(seen.keys()));
    });
  });

  it("misuse of the labels and extended fields builders fails at once", () => {
    const { labels, extendedFields } = clientFor(tenant("misuse"));
    expect(() => labels.queryLabels().eq("labelType", "CUSTOM" as never)).toThrow(/"SYSTEM", "USER_DEFINED", "WIX_APP_DEFINED"/);
    expect(() => labels.queryLabels().startsWith("key", "custom")).toThrow(/"key" does not support startsWith/);
    expect(() => labels.queryLabels().limit(2001)).toThrow(/from 1 to 2000/);
    expect(() => extendedFields.queryExtendedFields().ascending("displayName").descending("_createdDate")).toThrow(/at most 1 sort field/);
    expect(() => extendedFields.queryExtendedFields().eq("dataType", "BOOLEAN" as never)).toThrow(/"TEXT", "NUMBER", "DATE", "URL"/);
    expect(() => labels.queryLabels().and(extendedFields.queryExtendedFields() as never)).toThrow(/takes another queryLabels\(\) builder/);
  });

  it("events: watch from the oldest event, resume after a cursor, filter, and on…() helpers", async () => {
    const client = clientFor(tenant("events"));
    const { contacts, labels, extendedFields, events } = client;
    const label = (await labels.findOrCreateLabel("Hot")).label;
    await extendedFields.findOrCreateExtendedField("Score", "NUMBER");
    const a = (await contacts.createContact({ name: { first: "A" } })).contact;
    const b = (await contacts.createContact({ name: { first: "B" } })).contact;
    await contacts.labelContact(a._id, [label.key]);
    await contacts.mergeContacts(a._id, a.revision + 1, { sourceContactIds: [b._id] });

    const collect = async (options: Parameters<typeof events.watch>[0], n: number) => {
      const out: ContactsEvent[] = [];
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), 10_000);
      for await (const e of events.watch({ ...options, signal: ac.signal })) {
        out.push(e);
        if (out.length === n) break;
      }
      clearTimeout(timer);
      return out;
    };
    const all = await collect({ start: "OLDEST" }, 8);
    expect(all.map((e) => e.metadata.eventType)).toEqual([
      "label_created",
      "extended_field_created",
      "contact_created",
      "contact_created",
      "contact_updated",
      "contact_updated",
      "contact_deleted",
      "contact_merged",
    ]);
    expectPlain(all);
    const created = all[2] as ContactsEvent;
    expect(created.metadata).toMatchObject({ entityFqdn: ENTITY_FQDN.contact, slug: "created", entityId: a._id, entityEventSequence: "1" });
    expect(created.metadata.eventTime).toBeInstanceOf(Date);
    expect((created.entity as Contact)._createdDate).toBeInstanceOf(Date);
    expect(all[0]?.entity).toMatchObject({ key: label.key, labelType: "USER_DEFINED" });
    expect(all[4]?.modifiedFields).toContain("info.labelKeys");
    expect(all[6]?.metadata).toMatchObject({ entityId: b._id, originatedFrom: "merge" });
    expect(all[7]?.data).toMatchObject({ targetContactId: a._id, sourceContactIds: [b._id], targetContact: { _id: a._id } });

    // Resume after the third event: nothing missed, nothing repeated.
    const rest = await collect({ after: all[2]?.cursor as string }, 5);
    expect(rest.map((e) => e.metadata.id)).toEqual(all.slice(3).map((e) => e.metadata.id));
    const onlyDeleted = await collect({ start: "OLDEST", filter: { entityFqdns: [ENTITY_FQDN.contact], slugs: ["deleted"] } }, 1);
    expect(onlyDeleted[0]?.metadata.entityId).toBe(b._id);
    const onlyMerged = await collect({ start: "OLDEST", filter: { eventTypes: ["contact_merged"] } }, 1);
    expect(onlyMerged[0]?.metadata.eventType).toBe("contact_merged");

    // on…() helpers, from the current end of the log.
    const seen: string[] = [];
    const sub = events.onContactCreated(
      (e) => {
        seen.push(e.entity.info?.name?.first ?? "");
      },
      { after: all[7]?.cursor as string },
    );
    const labelsSeen: string[] = [];
    const labelSub = events.onLabelUpdated(
      (e) => {
        labelsSeen.push(e.entity.displayName);
      },
      { after: all[7]?.cursor as string },
    );
    await contacts.createContact({ name: { first: "C" } });
    await labels.renameLabel(label.key, { displayName: "Hotter" });
    await contacts.createContact({ name: { first: "D" } });
    for (let i = 0; i < 200 && (seen.length < 2 || labelsSeen.length < 1); i++) await sleep(25);
    expect(seen).toEqual(["C", "D"]);
    expect(labelsSeen).toEqual(["Hotter"]);
    expect(sub.cursor).toEqual(expect.any(String));
    await sub.close();
    await labelSub.close();
    await sub.done;

    // A cursor the server cannot resume from is a failure a reconnect cannot fix.
    const bad = await failure(collect({ after: "not-a-cursor" }, 1));
    expect(bad.code).toBe("INVALID_CURSOR");
  });

  it("other protocols: Connect over HTTP/1.1 and gRPC-Web to the HTTP port", async () => {
    const tenantId = tenant("protocols");
    const viaConnect = clientFor(tenantId, { baseUrl: suite.server.httpUrl, protocol: "connect", httpVersion: "1.1" });
    const viaGrpcWeb = clientFor(tenantId, { baseUrl: suite.server.httpUrl, protocol: "grpc-web" });
    const { contact } = await viaConnect.contacts.createContact({ name: { first: "Web" } });
    expect((await viaGrpcWeb.contacts.getContact(contact._id))._createdDate).toEqual(contact._createdDate);
    const err = await failure(viaConnect.contacts.getContact(randomUUID()));
    expect(err).toMatchObject({ grpcStatus: "NOT_FOUND", code: "CONTACT_NOT_FOUND" });
  });

  it("request ids: an explicit requestId makes a repeated create return the first contact", async () => {
    const { contacts } = clientFor(tenant("idempotent"));
    const requestId = randomUUID();
    const first = await contacts.createContact({ name: { first: "Once" } }, { allowDuplicates: true, requestId });
    const second = await contacts.createContact({ name: { first: "Once" } }, { allowDuplicates: true, requestId });
    expect(second.contact._id).toBe(first.contact._id);
    expect((await contacts.queryContacts().find()).totalCount).toBe(1);
    const reused = await failure(contacts.createContact({ name: { first: "Twice" } }, { requestId }));
    expect(reused.code).toBe("REQUEST_ID_REUSED");
  });
});

describe("SDK deadlines, signals and retries", () => {
  let t: TestServer;
  let hanging: net.Server;
  const hangingSockets = new Set<net.Socket>();
  let hangingUrl = "";
  let closedUrl = "";
  beforeAll(async () => {
    t = await startTestServer("sqlite");
    // A server that accepts connections and never answers.
    hanging = net.createServer((s) => {
      hangingSockets.add(s);
      s.on("error", () => {});
    });
    await new Promise<void>((r) => hanging.listen(0, "127.0.0.1", () => r()));
    hangingUrl = `http://127.0.0.1:${(hanging.address() as net.AddressInfo).port}`;
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
    closedUrl = `http://127.0.0.1:${(probe.address() as net.AddressInfo).port}`;
    await new Promise<void>((r) => probe.close(() => r()));
  });
  afterAll(async () => {
    for (const s of hangingSockets) s.destroy();
    hanging?.close();
    await t?.close();
  });

  /** A client whose attempts are counted. */
  function counted(baseUrl: string, options: Partial<Parameters<typeof createClient>[0]> = {}) {
    const stats = { attempts: 0 };
    const count: Interceptor = (next) => (req) => {
      stats.attempts++;
      return next(req);
    };
    const client = createClient({ transport: createGrpcTransport({ baseUrl, interceptors: [count] }), tenantId: "retries", ...options });
    return { client, stats };
  }

  it("UNAVAILABLE is retried with backoff, up to maxAttempts, then surfaces as UnavailableError", async () => {
    const { client, stats } = counted(closedUrl, { retry: { maxAttempts: 4, initialDelayMs: 20, maxDelayMs: 40 } });
    const started = Date.now();
    const err = await failure(client.contacts.createContact({ name: { first: "x" } }));
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.grpcStatus).toBe("UNAVAILABLE");
    expect(stats.attempts).toBe(4);
    expect(Date.now() - started).toBeGreaterThanOrEqual(10 + 20 + 20); // three backoffs, jittered 50–100 %
    const noRetry = counted(closedUrl, { retry: false });
    await failure(noRetry.client.labels.getLabel("x"));
    expect(noRetry.stats.attempts).toBe(1);
  });

  it("nothing but UNAVAILABLE is retried", async () => {
    const { client, stats } = counted(t.grpcUrl);
    expect(await failure(client.contacts.getContact(randomUUID()))).toBeInstanceOf(NotFoundError);
    expect(await failure(client.contacts.createContact({ company: "no name" }))).toBeInstanceOf(InvalidArgumentError);
    expect(stats.attempts).toBe(2);
  });

  it("a call's deadline covers the whole call; a signal cancels it", async () => {
    const { client } = counted(hangingUrl);
    let started = Date.now();
    const late = await failure(client.contacts.getContact(randomUUID(), { timeoutMs: 300 }));
    expect(late).toBeInstanceOf(DeadlineExceededError);
    expect(Date.now() - started).toBeLessThan(3_000);

    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    started = Date.now();
    const cancelled = await failure(client.contacts.createContact({ name: { first: "x" } }, { signal: ac.signal }));
    expect(cancelled).toBeInstanceOf(CancelledError);
    expect(cancelled.requestId).toEqual(expect.any(String));
    expect(Date.now() - started).toBeLessThan(3_000);

    const already = await failure(client.labels.getLabel("x", { signal: AbortSignal.abort() }));
    expect(already).toBeInstanceOf(CancelledError);

    const defaultDeadline = counted(hangingUrl, { timeoutMs: 200 });
    expect(await failure(defaultDeadline.client.labels.listLabels())).toBeInstanceOf(DeadlineExceededError);
    client.close();
  });

  it("createClient rejects bad options", () => {
    expect(() => createClient({ baseUrl: "127.0.0.1:50051" })).toThrow(/baseUrl must be an http/);
    expect(() => createClient({ baseUrl: t.grpcUrl, token: "x", tenantId: "y" })).toThrow(/either token/);
    expect(() => createClient({ baseUrl: t.grpcUrl, timeoutMs: -1 })).toThrow(/timeoutMs/);
  });

  it("@contacts-api/testing starts an in-process server on in-memory SQLite", async () => {
    const server = await startSdkTestServer({ tenantId: "app" });
    try {
      const { contact } = await server.client.contacts.createContact({ name: { first: "Tess" } });
      expect((await server.client.contacts.getContact(contact._id)).info?.name?.first).toBe("Tess");
      const other = server.clientFor("other");
      expect(await failure(other.contacts.getContact(contact._id))).toBeInstanceOf(NotFoundError);
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await server.close();
    }
  });
});

describe("SDK with authentication: token", () => {
  const secret = "sdk-test-secret-sdk-test-secret-0123456789";
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer("sqlite", { auth: { secret, clockToleranceS: 30, jwksAlgorithms: ["RS256"] }, devMode: false });
  });
  afterAll(async () => {
    await t?.close();
  });
  const token = (scope: string) =>
    new SignJWT({ tenant: "acme", scope, identity_type: "app" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("sdk-test")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(secret));

  it("sends the token as a bearer credential; missing and insufficient credentials are typed errors", async () => {
    const manager = createClient({ baseUrl: t.grpcUrl, token: await token("contacts.manage") });
    const { contact } = await manager.contacts.createContact({ name: { first: "Authed" } });
    expect(contact.source?.sourceType).toMatch(/APP|THIRD_PARTY|WIX_APP/);
    const reader = createClient({ baseUrl: t.grpcUrl, token: await token("contacts.read") });
    expect((await reader.contacts.getContact(contact._id))._id).toBe(contact._id);
    const denied = await failure(reader.contacts.deleteContact(contact._id));
    expect(denied).toBeInstanceOf(PermissionDeniedError);
    expect(denied.code).toBe("MISSING_SCOPE");
    expect(denied.details.requiredScope).toBe("contacts.manage");
    const anonymous = createClient({ baseUrl: t.grpcUrl });
    const unauthenticated = await failure(anonymous.labels.listLabels());
    expect(unauthenticated).toBeInstanceOf(UnauthenticatedError);
    expect(unauthenticated.code).toBe("TOKEN_MISSING");
    for (const c of [manager, reader, anonymous]) c.close();
  });
});

describe("SDK reliability on MariaDB: a server killed and restarted mid-run", () => {
  it("every create succeeds exactly once (0 duplicates) and events.watch resumes across the restart", { timeout: 120_000 }, async () => {
    const database = await createTestDatabase("sdk_restart");
    const config = { ...DEFAULTS, grpcPort: 0, httpPort: 0, databaseUrl: database.url, sqliteFile: ":memory:", shutdownGraceMs: 500, eventsPollMs: 50 };
    const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
    let server = await startServer(config, log);
    const port = server.grpcPort;
    // The client reaches the server through a proxy, so the "kill" can cut connections with
    // calls in flight: writes the server committed whose answers never arrive.
    const proxy = await startTcpProxy("127.0.0.1", port);
    const stats = { attempts: 0, failed: new Map<string, number>() };
    const count: Interceptor = (next) => async (req) => {
      stats.attempts++;
      try {
        return await next(req);
      } catch (err) {
        const key = `${(err as { code?: number }).code}`;
        stats.failed.set(key, (stats.failed.get(key) ?? 0) + 1);
        throw err;
      }
    };
    const tenantId = tenant("restart");
    const client = createClient({
      transport: createGrpcTransport({ baseUrl: `http://127.0.0.1:${proxy.port}`, interceptors: [count] }),
      tenantId,
      timeoutMs: 30_000,
      retry: { maxAttempts: 40, initialDelayMs: 25, maxDelayMs: 400 },
    });
    try {
      const N = 400;
      const events: ContactsEvent[] = [];
      const watcher = new AbortController();
      let reconnects = 0;
      const watching = (async () => {
        for await (const e of client.events.watch({
          start: "OLDEST",
          filter: { entityFqdns: [ENTITY_FQDN.contact], slugs: ["created"] },
          signal: watcher.signal,
          onReconnect: () => {
            reconnects++;
          },
        })) {
          events.push(e);
          if (events.length === N) return;
        }
      })();

      let done = 0;
      const ids: string[] = [];
      const writing = inParallel(N, 8, async (i) => {
        // allowDuplicates: a retry that was not idempotent would create a second contact.
        const { contact } = await client.contacts.createContact(
          { name: { first: `R${i}` }, emails: { items: [{ email: `r${i}@example.com` }] } },
          { allowDuplicates: true },
        );
        ids.push(contact._id);
        done++;
      });
      while (done < N / 3) await sleep(5);
      const killedAt = done;
      proxy.pause(); // every connection reset, calls in flight lose their answers
      await server.close(); // the process is gone; what it committed stays in MariaDB
      await sleep(300);
      server = await startServer({ ...config, grpcPort: port }, log); // same port, same database
      proxy.resume();
      await writing;
      const stop = setTimeout(() => watcher.abort(), 20_000);
      await watching;
      clearTimeout(stop);

      const emails = new Map<string, number>();
      let page = await client.contacts
        .queryContacts({ fieldsets: ["COMMUNICATION_DETAILS"] })
        .limit(1000)
        .find();
      for (;;) {
        for (const c of page.items) for (const e of c.info?.emails?.items ?? []) emails.set(e.email, (emails.get(e.email) ?? 0) + 1);
        if (!page.hasNext()) break;
        page = await page.next();
      }
      const duplicates = [...emails.values()].filter((n) => n > 1).length;
      const failedKinds = Object.fromEntries([...stats.failed].map(([k, v]) => [Code[Number(k)] ?? k, v]));
      console.log(
        `[sdk restart] ${N} creates, killed after ${killedAt}: ${stats.attempts} attempts (${JSON.stringify(failedKinds)} failed and retried), ` +
          `${page.totalCount} contacts, ${duplicates} duplicates; watch: ${events.length} events, ${new Set(events.map((e) => e.metadata.id)).size} distinct, ${reconnects} reconnects`,
      );
      expect(ids.length).toBe(N);
      expect(page.totalCount).toBe(N);
      expect(emails.size).toBe(N);
      expect(duplicates).toBe(0);
      expect(stats.attempts).toBeGreaterThan(N); // the restart did cost retries
      expect(events.length).toBe(N);
      expect(new Set(events.map((e) => e.metadata.id)).size).toBe(N);
      expect(new Set(events.map((e) => e.metadata.entityId))).toEqual(new Set(ids));
      expect(reconnects).toBeGreaterThan(0);
    } finally {
      client.close();
      await proxy.close();
      await server.close();
      await database.drop();
    }
  });
});
