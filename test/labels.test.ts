import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabelType } from "../gen/contacts/v1/labels_service_pb.js";
import { SortOrder } from "../gen/contacts/v1/common_pb.js";
import { expectError } from "./support/errors.js";
import { STORES, startTestServer, type TestServer } from "./support/server.js";

describe.each(STORES)("LabelsService on %s", (store) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(store, { labelsQuota: 6 });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Rows and events a tenant has, straight from the database: proof that nothing was stored. */
  async function stored(tenantId: string) {
    const db = t.server.db;
    const labels = await db("labels").where({ tenant_id: tenantId }).count({ n: "*" }).first();
    const events = await db("events").where({ tenant_id: tenantId }).count({ n: "*" }).first();
    return { labels: Number(labels?.n ?? 0), events: Number(events?.n ?? 0) };
  }

  it("every tenant has the system labels", async () => {
    const { labels } = t.clients("sys");
    const res = await labels.listLabels({});
    expect(res.labels.map((l) => [l.key, l.displayName, l.labelType])).toEqual(
      expect.arrayContaining([
        ["contacts.customers", "Customers", LabelType.SYSTEM],
        ["contacts.contacted-me", "Contacted Me", LabelType.SYSTEM],
      ]),
    );
    const got = await labels.getLabel({ key: "contacts.customers" });
    expect(got.label?.namespace).toBe("contacts");
    expect(got.label?.createdDate).toBeUndefined();
  });

  it("FindOrCreateLabel creates custom.<slug> once and then finds it case-insensitively", async () => {
    const { labels } = t.clients("foc");
    const first = await labels.findOrCreateLabel({ displayName: "Barking Intensive (long weekend)" });
    expect(first.newLabel).toBe(true);
    expect(first.label).toMatchObject({
      key: "custom.barking-intensive-long-weekend",
      namespace: "custom",
      displayName: "Barking Intensive (long weekend)",
      labelType: LabelType.USER_DEFINED,
    });
    expect(first.label?.createdDate).toBeDefined();
    const again = await labels.findOrCreateLabel({ displayName: "  barking INTENSIVE (long weekend) " });
    expect(again.newLabel).toBe(false);
    expect(again.label?.key).toBe("custom.barking-intensive-long-weekend");
    expect((await stored("foc")).events).toBe(1);
  });

  it("slug collisions get -2, -3 suffixes", async () => {
    const { labels } = t.clients("slug");
    const keys = [];
    for (const name of ["Student", "student!", "STUDENT?"]) {
      keys.push((await labels.findOrCreateLabel({ displayName: name })).label?.key);
    }
    // "student!" and "STUDENT?" differ from "Student" after trimming and lower-casing, so they
    // are new labels whose slug collides.
    expect(keys).toEqual(["custom.student", "custom.student-2", "custom.student-3"]);
  });

  it("concurrent FindOrCreate of one name creates exactly one label", async () => {
    const { labels } = t.clients("race");
    const results = await Promise.all(Array.from({ length: 10 }, () => labels.findOrCreateLabel({ displayName: "Race" })));
    expect(new Set(results.map((r) => r.label?.key))).toEqual(new Set(["custom.race"]));
    expect(results.filter((r) => r.newLabel)).toHaveLength(1);
    expect(await stored("race")).toEqual({ labels: 3, events: 1 });
  });

  it("the quota is enforced with its error data, and nothing is stored past it", async () => {
    const { labels } = t.clients("quota");
    for (let i = 0; i < 6; i++) await labels.findOrCreateLabel({ displayName: `Q${i}` });
    const before = await stored("quota");
    await expectError(labels.findOrCreateLabel({ displayName: "one too many" }), {
      code: Code.ResourceExhausted,
      reason: "LABELS_QUOTA_REACHED",
      metadata: { labelsQuota: "6", labelsCurrentTotal: "6" },
    });
    expect(await stored("quota")).toEqual(before);
    // Finding an existing label still works at the quota.
    expect((await labels.findOrCreateLabel({ displayName: "q0" })).newLabel).toBe(false);
  });

  it("bad input gets the documented error and stores nothing", async () => {
    const { labels } = t.clients("bad");
    await labels.listLabels({}); // materialise the tenant's system labels
    const before = await stored("bad");
    const cases: [() => Promise<unknown>, string, string][] = [
      [() => labels.findOrCreateLabel({ displayName: "" }), "INVALID_DISPLAY_NAME", "display_name"],
      [() => labels.findOrCreateLabel({ displayName: "   " }), "INVALID_DISPLAY_NAME", "display_name"],
      [() => labels.findOrCreateLabel({ displayName: "x".repeat(181) }), "INVALID_DISPLAY_NAME", "display_name"],
      [() => labels.findOrCreateLabel({ displayName: "ok", requestId: "r".repeat(65) }), "INVALID_REQUEST_ID", "request_id"],
      [() => labels.getLabel({ key: "" }), "INVALID_KEY", "key"],
      [() => labels.getLabel({ key: "k".repeat(81) }), "INVALID_KEY", "key"],
      [() => labels.renameLabel({}), "INVALID_LABEL", "label"],
      [() => labels.renameLabel({ label: { key: "custom.x", displayName: "" } }), "INVALID_DISPLAY_NAME", "label.display_name"],
      [() => labels.renameLabel({ label: { key: "", displayName: "x" } }), "INVALID_KEY", "label.key"],
      [() => labels.deleteLabel({ key: "" }), "INVALID_KEY", "key"],
      [() => labels.listLabels({ namespace: "ab" }), "INVALID_NAMESPACE", "namespace"],
      [() => labels.listLabels({ startsWith: "" }), "INVALID_STARTS_WITH", "starts_with"],
      [() => labels.listLabels({ sort: { fieldName: "key" } }), "INVALID_SORT", "sort[0].field_name"],
      [() => labels.listLabels({ paging: { limit: -1 } }), "ILLEGAL_LIMIT", "paging.limit"],
      [() => labels.listLabels({ paging: { offset: -1 } }), "ILLEGAL_OFFSET", "paging.offset"],
    ];
    for (const [call, reason, field] of cases) {
      await expectError(call(), { code: Code.InvalidArgument, reason, field });
    }
    expect(await stored("bad")).toEqual(before);
  });

  it("GetLabel, RenameLabel and DeleteLabel of an unknown key are LABEL_NOT_FOUND", async () => {
    const { labels } = t.clients("nf");
    const nf = { code: Code.NotFound, reason: "LABEL_NOT_FOUND" };
    await expectError(labels.getLabel({ key: "custom.nope" }), nf);
    await expectError(labels.renameLabel({ label: { key: "custom.nope", displayName: "X" } }), nf);
    await expectError(labels.deleteLabel({ key: "custom.nope" }), nf);
  });

  it("system labels cannot be renamed or deleted", async () => {
    const { labels } = t.clients("sysro");
    const ro = { code: Code.FailedPrecondition, reason: "SYSTEM_LABEL_READ_ONLY" };
    await expectError(labels.renameLabel({ label: { key: "contacts.customers", displayName: "Clients" } }), ro);
    await expectError(labels.deleteLabel({ key: "contacts.customers" }), ro);
    expect((await labels.getLabel({ key: "contacts.customers" })).label?.displayName).toBe("Customers");
  });

  it("RenameLabel keeps the key, changes the name, and refuses a name another label has", async () => {
    const { labels } = t.clients("rename");
    const { label } = await labels.findOrCreateLabel({ displayName: "Demo Label" });
    await labels.findOrCreateLabel({ displayName: "Other" });
    const renamed = await labels.renameLabel({ label: { key: label?.key ?? "", displayName: "Renamed" } });
    expect(renamed.label).toMatchObject({ key: "custom.demo-label", displayName: "Renamed" });
    expect((await labels.getLabel({ key: "custom.demo-label" })).label?.displayName).toBe("Renamed");
    await expectError(labels.renameLabel({ label: { key: "custom.demo-label", displayName: "other" } }), {
      code: Code.AlreadyExists,
      reason: "LABEL_NAME_TAKEN",
    });
    // The old name is free again: FindOrCreate makes a new label for it.
    const again = await labels.findOrCreateLabel({ displayName: "Demo Label" });
    expect(again).toMatchObject({ newLabel: true, label: { key: "custom.demo-label-2" } });
  });

  it("DeleteLabel removes the label", async () => {
    const { labels } = t.clients("del");
    await labels.findOrCreateLabel({ displayName: "Gone" });
    await labels.deleteLabel({ key: "custom.gone" });
    await expectError(labels.getLabel({ key: "custom.gone" }), { code: Code.NotFound, reason: "LABEL_NOT_FOUND" });
  });

  it("every change writes its event in the outbox", async () => {
    const { labels } = t.clients("ev");
    await labels.findOrCreateLabel({ displayName: "Evented" });
    await labels.renameLabel({ label: { key: "custom.evented", displayName: "Evented 2" } });
    await labels.deleteLabel({ key: "custom.evented" });
    const rows = await t.server.db("events").where({ tenant_id: "ev" }).orderBy("seq");
    expect(rows.map((r) => [Number(r.seq), r.event_type, r.entity_id, Number(r.entity_seq), r.subject])).toEqual([
      [1, "label_created", "custom.evented", 1, "dev"],
      [2, "label_updated", "custom.evented", 2, "dev"],
      [3, "label_deleted", "custom.evented", 3, "dev"],
    ]);
    expect(JSON.parse(rows[1].modified_fields)).toEqual(["displayName"]);
    expect(JSON.parse(rows[1].payload).label.displayName).toBe("Evented 2");
  });

  it("a request_id makes a write idempotent, and refuses reuse with another request", async () => {
    const { labels } = t.clients("idem");
    const a = await labels.findOrCreateLabel({ displayName: "Once", requestId: "req-1" });
    const b = await labels.findOrCreateLabel({ displayName: "Once", requestId: "req-1" });
    expect(b).toEqual(a);
    expect(b.newLabel).toBe(true);
    await expectError(labels.findOrCreateLabel({ displayName: "Twice", requestId: "req-1" }), {
      code: Code.InvalidArgument,
      reason: "REQUEST_ID_REUSED",
      field: "request_id",
    });
    await labels.deleteLabel({ key: "custom.once", requestId: "del-1" });
    await labels.deleteLabel({ key: "custom.once", requestId: "del-1" }); // repeat: same (empty) answer
    const events = await t.server.db("events").where({ tenant_id: "idem" }).count({ n: "*" }).first();
    expect(Number(events?.n)).toBe(2);
  });

  it("tenants do not see each other's labels", async () => {
    await t.clients("iso-a").labels.findOrCreateLabel({ displayName: "Secret" });
    const b = t.clients("iso-b").labels;
    await expectError(b.getLabel({ key: "custom.secret" }), { code: Code.NotFound, reason: "LABEL_NOT_FOUND" });
    const res = await b.queryLabels({ query: { filter: { key: "custom.secret" } } });
    expect(res.labels).toHaveLength(0);
    expect((await b.findOrCreateLabel({ displayName: "Secret" })).newLabel).toBe(true);
  });

  describe("ListLabels and QueryLabels", () => {
    const tenant = "q";
    beforeAll(async () => {
      const { labels } = t.clients(tenant);
      for (const name of ["Alpha", "beta", "Gamma", "alpine", "VIP Customer", "VIP Gold"]) {
        await labels.findOrCreateLabel({ displayName: name });
        await new Promise((r) => setTimeout(r, 3)); // distinct creation times
      }
    });

    it("lists newest first by default, with system labels last", async () => {
      const res = await t.clients(tenant).labels.listLabels({});
      expect(res.labels.map((l) => l.displayName)).toEqual(["VIP Gold", "VIP Customer", "alpine", "Gamma", "beta", "Alpha", "Customers", "Contacted Me"]);
      expect(res.metadata).toMatchObject({ count: 8, total: 8, offset: 0, hasNext: false });
    });

    it("filters by type, namespace and case-sensitive starts_with", async () => {
      const { labels } = t.clients(tenant);
      expect((await labels.listLabels({ labelType: LabelType.SYSTEM })).labels).toHaveLength(2);
      expect((await labels.listLabels({ namespace: "custom" })).labels).toHaveLength(6);
      const al = await labels.listLabels({ startsWith: "Al", sort: { fieldName: "displayName", order: SortOrder.ASC } });
      expect(al.labels.map((l) => l.displayName)).toEqual(["Alpha"]);
    });

    it("sorts and pages by offset", async () => {
      const { labels } = t.clients(tenant);
      const page = await labels.listLabels({
        sort: { fieldName: "displayName", order: SortOrder.ASC },
        paging: { limit: 3, offset: 2 },
      });
      // Byte order: upper case before lower case.
      expect(page.labels.map((l) => l.displayName)).toEqual(["Customers", "Gamma", "VIP Customer"]);
      expect(page.metadata).toMatchObject({ count: 3, offset: 2, total: 8, hasNext: true });
    });

    it("queries with every operator of the reference's label table", async () => {
      const { labels } = t.clients(tenant);
      const names = async (filter: Record<string, unknown>) =>
        (
          await labels.queryLabels({
            query: { filter: filter as never, sort: [{ fieldName: "displayName", order: SortOrder.ASC }] },
          })
        ).labels.map((l) => l.displayName);
      expect(await names({ displayName: { $startsWith: "al" } })).toEqual(["Alpha", "alpine"]);
      expect(await names({ displayName: "beta" })).toEqual(["beta"]);
      // Compared exactly, trailing spaces included (MariaDB's PAD SPACE collations would say equal).
      expect(await names({ displayName: "beta " })).toEqual([]);
      expect(await names({ displayName: { $in: ["beta ", "Gamma"] } })).toEqual(["Gamma"]);
      expect(await names({ displayName: { $in: ["Gamma", "beta", "nope"] } })).toEqual(["Gamma", "beta"]);
      expect(await names({ key: { $in: ["custom.vip-gold", "contacts.customers"] } })).toEqual(["Customers", "VIP Gold"]);
      expect(await names({ key: { $ne: "custom.alpha" }, namespace: "custom" })).toEqual(["Gamma", "VIP Customer", "VIP Gold", "alpine", "beta"]);
      expect(await names({ namespace: { $ne: "custom" } })).toEqual(["Contacted Me", "Customers"]);
      expect(await names({ labelType: "SYSTEM" })).toEqual(["Contacted Me", "Customers"]);
      expect(await names({ labelType: "LABEL_TYPE_SYSTEM" })).toEqual(["Contacted Me", "Customers"]);
      expect(await names({ $or: [{ displayName: "Alpha" }, { displayName: { $startsWith: "vip g" } }] })).toEqual(["Alpha", "VIP Gold"]);
      expect(await names({ $not: { namespace: "custom" } })).toEqual(["Contacted Me", "Customers"]);
      const all = (await labels.queryLabels({ query: { filter: { namespace: "custom" } } })).labels;
      const created = all.map((l) => l.createdDate).filter((d) => d !== undefined);
      const middle = new Date(Number(created[2]?.seconds) * 1000 + Math.floor((created[2]?.nanos ?? 0) / 1e6)).toISOString();
      // Newest first: the third is "alpine", created after "Alpha", "beta" and "Gamma".
      expect(await names({ createdDate: { $gte: middle }, namespace: "custom" })).toEqual(["VIP Customer", "VIP Gold", "alpine"]);
      expect(await names({ createdDate: { $lt: middle }, namespace: "custom" })).toEqual(["Alpha", "Gamma", "beta"]);
      expect(await names({ updatedDate: { $gt: "2000-01-01T00:00:00Z" } })).toHaveLength(6);
    });

    it("rejects bad queries with the reference's codes and the offending path", async () => {
      const { labels } = t.clients(tenant);
      const q = (filter: unknown, sort: { fieldName: string }[] = []) => labels.queryLabels({ query: { filter: filter as never, sort } });
      const bad = Code.InvalidArgument;
      await expectError(q({ color: "red" }), { code: bad, reason: "UNSUPPORTED_FILTER_FIELD", field: "query.filter.color" });
      await expectError(q({ key: { $startsWith: "c" } }), {
        code: bad,
        reason: "UNSUPPORTED_FILTER_OPERATOR",
        field: "query.filter.key.$startsWith",
      });
      await expectError(q({ key: { $regex: "c" } }), { code: bad, reason: "UNSUPPORTED_FILTER_OPERATOR" });
      await expectError(q({ displayName: 5 }), { code: bad, reason: "UNSUPPORTED_FILTER_VALUE", field: "query.filter.displayName" });
      await expectError(q({ labelType: "PURPLE" }), { code: bad, reason: "UNSUPPORTED_FILTER_VALUE" });
      await expectError(q({ createdDate: { $gt: "yesterday" } }), { code: bad, reason: "UNSUPPORTED_FILTER_VALUE" });
      await expectError(q({ $and: "x" }), { code: bad, reason: "MALFORMED_FILTER", field: "query.filter.$and" });
      await expectError(q({ $eq: 1 }), { code: bad, reason: "MALFORMED_FILTER" });
      await expectError(q({ key: {} }), { code: bad, reason: "MALFORMED_FILTER" });
      await expectError(q({}, [{ fieldName: "key" }]), { code: bad, reason: "INVALID_SORT", field: "query.sort[0].field_name" });
      await expectError(q({}, [{ fieldName: "nope" }]), { code: bad, reason: "INVALID_SORT" });
    });

    it("pages by cursor through every label exactly once, and binds the cursor to its query", async () => {
      const { labels } = t.clients(tenant);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 10; i++) {
        const res = await labels.queryLabels({
          query: { pagingMethod: { case: "cursorPaging", value: { limit: 3, ...(cursor ? { cursor } : {}) } } },
        });
        seen.push(...res.labels.map((l) => l.key));
        cursor = res.pagingMetadata?.cursors?.next;
        if (!cursor) break;
      }
      expect(seen).toHaveLength(8);
      expect(new Set(seen).size).toBe(8);
      const first = await labels.queryLabels({ query: { pagingMethod: { case: "cursorPaging", value: { limit: 2 } } } });
      await expectError(
        labels.queryLabels({
          query: {
            filter: { namespace: "custom" },
            pagingMethod: { case: "cursorPaging", value: { limit: 2, cursor: first.pagingMetadata?.cursors?.next ?? "" } },
          },
        }),
        { code: Code.InvalidArgument, reason: "INVALID_CURSOR", field: "query.cursor_paging.cursor" },
      );
      await expectError(labels.queryLabels({ query: { pagingMethod: { case: "cursorPaging", value: { cursor: "garbage" } } } }), {
        code: Code.InvalidArgument,
        reason: "INVALID_CURSOR",
      });
    });

    it("coerces a page size over the maximum to 2000", async () => {
      const res = await t.clients(tenant).labels.queryLabels({
        query: { pagingMethod: { case: "paging", value: { limit: 1_000_000 } } },
      });
      expect(res.labels).toHaveLength(8);
    });
  });
});
