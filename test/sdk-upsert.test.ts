/**
 * The SDK's `contacts.bulkUpsertContacts` and `contacts.exportContacts` through a real server on
 * MariaDB and SQLite: results in the SDK's shapes (actions without their proto prefix, `_id`,
 * Dates, an item error with its field), a repeated request id that changes nothing, an export of
 * more contacts than one stream message holds, newest first, that ends when the loop breaks and
 * throws CancelledError when its signal aborts; and the checks made before anything is sent.
 */
import { randomUUID } from "node:crypto";
import net from "node:net";
import { describe, expect, it } from "vitest";
import {
  CancelledError,
  type Contact,
  type ContactInfo,
  ContactsApiError,
  type ContactsClient,
  createClient,
  InvalidArgumentError,
  UnavailableError,
} from "../sdk/src/index.js";
import { collect, expectPlain, suiteServer, tenant, unreachableClient } from "./support/sdk.js";
import { STORES } from "./support/server.js";

/** `n` people, 100 a call. */
async function seed(client: ContactsClient, n: number, info: (i: number) => ContactInfo): Promise<void> {
  for (let start = 0; start < n; start += 100) {
    const batch = Array.from({ length: Math.min(100, n - start) }, (_, k) => info(start + k));
    const { bulkActionMetadata } = await client.contacts.bulkUpsertContacts(batch);
    expect(bulkActionMetadata.totalFailures).toBe(0);
  }
}

describe("SDK upsert and export: checks made before anything is sent", () => {
  const client = unreachableClient();

  it("rejects malformed arguments with a TypeError naming the path", async () => {
    const { contacts } = client;
    await expect(contacts.bulkUpsertContacts([])).rejects.toThrow(/bulkUpsertContacts\(\): contacts must be a non-empty array/);
    await expect(contacts.bulkUpsertContacts("ada" as never)).rejects.toThrow(TypeError);
    await expect(contacts.bulkUpsertContacts([{ name: { first: "Ada" } }, { nmae: { first: "x" } } as never])).rejects.toThrow(
      /contacts\[1\]\.nmae is not a field of ContactInfo/,
    );
    await expect(contacts.bulkUpsertContacts([{ emails: { items: [{ email: "a@b.c", tag: "OFFICE" as never }] } }])).rejects.toThrow(
      /contacts\[0\]\.emails\.items\[0\]\.tag must be one of/,
    );
    await expect(contacts.bulkUpsertContacts([{}], { requestId: "" })).rejects.toThrow(/requestId must be a string of 1–64 characters/);
  });

  it("exportContacts checks its options when called, before the loop starts", () => {
    const { contacts } = client;
    expect(() => contacts.exportContacts({ filter: "info.company" as never })).toThrow(/exportContacts\(\): options\.filter must be an object/);
    expect(() => contacts.exportContacts({ search: 5 as never })).toThrow(/options\.search must be a string/);
    expect(() => contacts.exportContacts({ fieldsets: ["EVERYTHING" as never] })).toThrow(/options\.fieldsets\[0\] must be one of/);
    expect(() => contacts.exportContacts({ fields: [] })).toThrow(TypeError);
  });

  it("an export that cannot connect fails with UnavailableError once its retries are spent", async () => {
    const err = await collect(client.contacts.exportContacts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
  });
});

describe.each(STORES)("SDK upsert and export through a real server on %s", (store) => {
  const suite = suiteServer(store);
  const { clientFor } = suite;

  it("bulkUpsertContacts answers per item in the SDK's shapes: created, updated, unchanged and failed with the bad field", async () => {
    const { contacts, labels } = clientFor(tenant("upsert"));
    const { label } = await labels.findOrCreateLabel("VIP");
    const first = await contacts.bulkUpsertContacts([
      { name: { first: "Ada" }, emails: { items: [{ email: "ada@example.com", tag: "WORK" }] }, labelKeys: { items: [label.key] } },
      { name: { first: "Grace" }, phones: { items: [{ phone: "(201) 555-0123", countryCode: "US", tag: "MOBILE" }] } },
      { name: { first: "Bad" }, emails: { items: [{ email: "not-an-email" }] } },
      { company: "Nobody Inc" },
      { name: { first: "Ghost" }, labelKeys: { items: ["custom.no-such-label"] } },
    ]);
    expectPlain(first);
    expect(first.results.map((r) => [r.originalIndex, r.action])).toEqual([
      [0, "CREATED"],
      [1, "CREATED"],
      [2, "FAILED"],
      [3, "FAILED"],
      [4, "FAILED"],
    ]);
    expect(first.bulkActionMetadata).toEqual({ totalSuccesses: 2, totalFailures: 3 });
    const [ada, grace] = first.results.map((r) => r.contactId);
    expect(ada).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.results[0]?.contact).toBeUndefined();
    expect(first.results[2]).toEqual({
      originalIndex: 2,
      action: "FAILED",
      error: { code: "INVALID_EMAIL", message: expect.stringContaining("not a valid email"), field: "contacts[2].emails.items[0].email" },
    });
    expect(first.results[2]?.contactId).toBeUndefined();
    expect(first.results[3]?.error?.code).toBe("INSUFFICIENT_CONTACT_DATA");
    expect(first.results[4]?.error?.code).toBe("LABEL_NOT_FOUND");

    const second = await contacts.bulkUpsertContacts(
      [
        { name: { last: "Lovelace" }, company: "Analytical Engines", emails: { items: [{ email: "ADA@example.com" }] } },
        { name: { first: "Grace" }, phones: { items: [{ phone: "+1 201 555 0123" }] } },
      ],
      { returnEntity: true },
    );
    expectPlain(second);
    expect(second.results.map((r) => [r.action, r.contactId])).toEqual([
      ["UPDATED", ada],
      ["UNCHANGED", grace],
    ]);
    const updated = second.results[0]?.contact as Contact;
    expect(updated._id).toBe(ada);
    expect(updated._createdDate).toBeInstanceOf(Date);
    expect(updated.info?.name).toEqual({ first: "Ada", last: "Lovelace" });
    expect(updated.info?.company).toBe("Analytical Engines");
    expect(updated.info?.emails?.items?.map((e) => [e.email, e.tag])).toEqual([["ada@example.com", "WORK"]]);
    expect(updated.info?.labelKeys?.items).toEqual([label.key]);
    expect(await contacts.getContact(ada as string)).toEqual(updated);
  });

  it("a repeated requestId returns the first answer and creates nothing more", async () => {
    const { contacts } = clientFor(tenant("upsert-repeat"));
    const requestId = `import-${randomUUID()}`;
    // Name-only contacts match nothing, so only the request id keeps a repeat from creating them again.
    const batch: ContactInfo[] = [{ name: { first: "Only", last: "Name" } }, { name: { first: "Also", last: "Name" } }];
    const first = await contacts.bulkUpsertContacts(batch, { requestId });
    const again = await contacts.bulkUpsertContacts(batch, { requestId });
    expect(again).toEqual(first);
    expect((await contacts.queryContacts().find()).totalCount).toBe(2);
    const fresh = await contacts.bulkUpsertContacts(batch);
    expect(fresh.results.map((r) => r.action)).toEqual(["CREATED", "CREATED"]);
    expect((await contacts.queryContacts().find()).totalCount).toBe(4);
  });

  it("exportContacts yields every matching contact once, newest first, across stream messages, as getContact shapes them", async () => {
    const client = clientFor(tenant("export"));
    const { contacts, labels } = client;
    const { label } = await labels.findOrCreateLabel("Export VIP");
    // 1,100 contacts: three stream messages of at most 500.
    await seed(client, 1_100, (i) => ({
      name: { first: `Person${i}`, last: i % 2 === 0 ? "Even" : "Odd" },
      emails: { items: [{ email: `person${i}@example.com` }] },
      ...(i % 10 === 0 ? { labelKeys: { items: [label.key] } } : {}),
    }));

    const all = await collect(contacts.exportContacts());
    expect(all).toHaveLength(1_100);
    expect(new Set(all.map((c) => c._id)).size).toBe(1_100);
    const created = all.map((c) => (c._createdDate as Date).getTime());
    expect(created).toEqual([...created].sort((a, b) => b - a));
    expectPlain(all[0]);
    const sample = all[17] as Contact;
    expect(await contacts.getContact(sample._id)).toEqual(sample);

    const vips = await collect(contacts.exportContacts({ filter: { "info.labelKeys": { $hasSome: [label.key] } } }));
    expect(vips).toHaveLength(110);
    expect(vips.every((c) => c.info?.labelKeys?.items?.includes(label.key))).toBe(true);

    const searched = await collect(contacts.exportContacts({ search: "person1099" }));
    expect(searched.map((c) => c.info?.name?.first)).toEqual(["Person1099"]);

    const evenVips = await collect(contacts.exportContacts({ filter: { "info.labelKeys": { $hasSome: [label.key] } }, search: "even" }));
    expect(evenVips).toHaveLength(110);

    const basic = await collect(contacts.exportContacts({ search: "person1099", fieldsets: ["BASIC"] }));
    expect(basic[0]?.info?.labelKeys).toBeUndefined();
    expect(basic[0]?.info?.name?.first).toBe("Person1099");

    // Iterating the same export again runs it again.
    const iterable = contacts.exportContacts({ search: "person1098" });
    expect((await collect(iterable)).length).toBe(1);
    expect((await collect(iterable)).length).toBe(1);
  });

  it("an export ends its stream when the loop breaks, and throws CancelledError when its signal aborts", async () => {
    const client = clientFor(tenant("export-stop"));
    await seed(client, 1_200, (i) => ({ name: { first: `P${i}` } }));
    const { contacts } = client;

    let seen = 0;
    for await (const _ of contacts.exportContacts()) {
      if (++seen === 10) break;
    }
    expect(seen).toBe(10);

    const controller = new AbortController();
    seen = 0;
    const err = await (async () => {
      for await (const _ of contacts.exportContacts({ signal: controller.signal })) {
        if (++seen === 600) controller.abort();
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    // The contacts already received when the signal fired may still be delivered, but not the rest.
    expect(seen).toBeLessThan(1_200);

    const early = await collect(contacts.exportContacts({ signal: AbortSignal.abort() })).catch((e: unknown) => e);
    expect(early).toBeInstanceOf(CancelledError);

    // The server is unharmed: a full export still runs.
    expect((await collect(contacts.exportContacts())).length).toBe(1_200);
  });

  it("a bad filter fails the export's first step with the server's query error", async () => {
    const { contacts } = clientFor(tenant("export-bad"));
    const err = await collect(contacts.exportContacts({ filter: { "info.company": { $regex: "x" } } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as ContactsApiError).code).toMatch(/FILTER/);
  });

  it("an export whose server goes away mid-stream throws rather than start over", async () => {
    // A proxy in front of the server, cut once the first contacts arrived: a restart would repeat them.
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(new URL(suite.server.grpcUrl).port), "127.0.0.1");
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("error", () => {});
        s.once("close", () => sockets.delete(s));
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const tenantId = tenant("export-cut");
    await seed(clientFor(tenantId), 1_200, (i) => ({ name: { first: `C${i}` } }));
    const viaProxy = createClient({ baseUrl: `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`, tenantId });
    try {
      let seen = 0;
      const err = await (async () => {
        for await (const _ of viaProxy.contacts.exportContacts()) {
          if (++seen === 1) for (const s of sockets) s.resetAndDestroy();
        }
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ContactsApiError);
      expect(seen).toBeLessThan(1_200);
    } finally {
      viaProxy.close();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});
