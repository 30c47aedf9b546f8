/**
 * RELIABILITY scenario 9 (SQL tenant audit): every statement the server runs against a tenant
 * table, while every implemented RPC is exercised (successes, failures, idempotent replays,
 * paging, cleanups), must carry a tenant predicate. The checker itself is shown to catch the
 * statements it is about (negative controls), so a zero means something.
 */
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmailTag, MemberRole } from "../gen/contacts/v1/contact_pb.js";
import { ContactFieldSet } from "../gen/contacts/v1/contacts_service_pb.js";
import { FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { SortOrder } from "../gen/contacts/v1/common_pb.js";
import { STORES, startTestServer, type TestServer } from "./support/server.js";
import { attachTenantAudit, auditStatement, TENANT_TABLES } from "./support/tenant-audit.js";

/** Awaits a call that may fail with a status; anything else (a bug in the workload) is rethrown. */
async function settle(call: Promise<unknown>): Promise<Code | "OK"> {
  try {
    await call;
    return "OK";
  } catch (err) {
    if (err instanceof ConnectError) return err.code;
    throw err;
  }
}

describe("the audit's checker (negative controls)", () => {
  it("flags statements without a tenant predicate and passes those with one", () => {
    const bad = [
      "select * from `labels` where `key` = ?",
      'select * from "contacts" where "id" = ?',
      "update `contacts` set `doc` = ?, `revision` = ? where `id` = ?",
      "delete from `contact_labels` where `contact_id` = ?",
      'insert into "events" ("seq", "id", "payload") values (?, ?, ?)',
      "select c.* from contacts c join contact_labels cl on cl.contact_id = c.id where c.tenant_id = ?",
      "select * from contacts where tenant_id = ? and id in (select contact_id from contact_labels where label_key = ?)",
      "select * from contacts where tenant_id is not null",
      "select tenant_id, id from contacts where id = ?",
      "update contacts set tenant_id = ? where id = ?",
      "select count(*) as n from idempotency_keys",
    ];
    for (const sql of bad) expect(auditStatement(sql), sql).toMatchObject({ kind: "violation" });
    const good = [
      "select * from `labels` where `tenant_id` = ? and `key` = ?",
      'select * from "contacts" where "tenant_id" = ? and "id" in (?, ?)',
      "update `contacts` set `doc` = ? where `tenant_id` = ? and `id` = ?",
      "delete from `contact_labels` where `tenant_id` = ? and `contact_id` = ?",
      'insert into "events" ("tenant_id", "seq") values (?, ?), (?, ?)',
      "insert ignore into `dedupe_locks` (`lock_key`, `tenant_id`) values (?, ?) on duplicate key update `lock_key` = `lock_key`",
      "select c.* from contacts c join contact_labels cl on cl.tenant_id = c.tenant_id and cl.contact_id = c.id where c.tenant_id = ?",
      "select * from contacts where tenant_id = ? and id in (select contact_id from contact_labels where tenant_id = ? and label_key = ?)",
      "select * from `tenants` where `tenant_id` = ? for update",
    ];
    for (const sql of good) expect(auditStatement(sql), sql).toMatchObject({ kind: "tenant" });
    for (const sql of ["BEGIN;", "COMMIT;", "ROLLBACK", "SAVEPOINT trx2", "select 1", "select * from knex_migrations", "create table `x` (a int)"]) {
      expect(auditStatement(sql), sql).toEqual({ kind: "ignored" });
    }
  });
});

describe.each(STORES)("scenario 9 on %s", (store) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(store, { labelsQuota: 4, fieldsQuota: 4 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("every statement on a tenant table has a tenant predicate", async () => {
    const audit = attachTenantAudit(t.server.db);
    const rpcs = new Set<string>();
    const outcomes: string[] = [];
    const track = async (rpc: string, call: Promise<unknown>) => {
      rpcs.add(rpc);
      const code = await settle(call);
      outcomes.push(code === "OK" ? "OK" : Code[code]);
      return code;
    };
    try {
      for (const tenant of ["audit-a", "audit-b"]) {
        const { labels, fields, contacts } = t.clients(tenant);

        // Labels: create, find, collide, quota, get, list, query (cursor), rename, delete.
        await track("FindOrCreateLabel", labels.findOrCreateLabel({ displayName: "VIP", requestId: `${tenant}-l1` }));
        await track("FindOrCreateLabel", labels.findOrCreateLabel({ displayName: "VIP", requestId: `${tenant}-l1` }));
        await track("FindOrCreateLabel", labels.findOrCreateLabel({ displayName: "vip!" }));
        for (const name of ["Doomed", "Spare", "Q1", "Q2"]) await track("FindOrCreateLabel", labels.findOrCreateLabel({ displayName: name }));
        await track("GetLabel", labels.getLabel({ key: "custom.vip" }));
        await track("GetLabel", labels.getLabel({ key: "custom.nope" }));
        await track("ListLabels", labels.listLabels({ startsWith: "V", sort: { fieldName: "displayName", order: SortOrder.ASC } }));
        await track("ListLabels", labels.listLabels({ namespace: "custom", paging: { limit: 2, offset: 1 } }));
        await track("QueryLabels", labels.queryLabels({ query: { filter: { displayName: { $startsWith: "V" } } } }));
        const page = await labels.queryLabels({ query: { pagingMethod: { case: "cursorPaging", value: { limit: 2 } } } });
        const cursor = page.pagingMetadata?.cursors?.next;
        if (cursor) await track("QueryLabels", labels.queryLabels({ query: { pagingMethod: { case: "cursorPaging", value: { limit: 2, cursor } } } }));
        await track("RenameLabel", labels.renameLabel({ label: { key: "custom.spare", displayName: "Spare Renamed" } }));
        await track("RenameLabel", labels.renameLabel({ label: { key: "custom.spare", displayName: "vip" } }));
        await track("RenameLabel", labels.renameLabel({ label: { key: "contacts.customers", displayName: "X" } }));

        // Extended fields, the same.
        await track(
          "FindOrCreateExtendedField",
          fields.findOrCreateExtendedField({ displayName: "Shoe", dataType: FieldDataType.NUMBER, requestId: `${tenant}-f1` }),
        );
        await track(
          "FindOrCreateExtendedField",
          fields.findOrCreateExtendedField({ displayName: "Shoe", dataType: FieldDataType.NUMBER, requestId: `${tenant}-f1` }),
        );
        for (const name of ["Notes", "Doomed Field", "Spare Field", "F4", "F5"]) {
          await track("FindOrCreateExtendedField", fields.findOrCreateExtendedField({ displayName: name, dataType: FieldDataType.TEXT }));
        }
        await track("GetExtendedField", fields.getExtendedField({ key: "custom.shoe" }));
        await track("GetExtendedField", fields.getExtendedField({ key: "custom.nope" }));
        await track("ListExtendedFields", fields.listExtendedFields({ startsWith: "S", paging: { limit: 5 } }));
        await track("QueryExtendedFields", fields.queryExtendedFields({ query: { filter: { dataType: "TEXT" } } }));
        const fpage = await fields.queryExtendedFields({ query: { pagingMethod: { case: "cursorPaging", value: { limit: 2 } } } });
        const fcursor = fpage.pagingMetadata?.cursors?.next;
        if (fcursor) {
          await track(
            "QueryExtendedFields",
            fields.queryExtendedFields({ query: { pagingMethod: { case: "cursorPaging", value: { limit: 2, cursor: fcursor } } } }),
          );
        }
        await track("RenameExtendedField", fields.renameExtendedField({ field: { key: "custom.spare-field", displayName: "Spare 2" } }));
        await track("RenameExtendedField", fields.renameExtendedField({ field: { key: "custom.spare-field", displayName: "shoe" } }));

        // Contacts: create (idempotent, duplicate, bad label), get, update, label, member, delete.
        const info = {
          name: { first: "Ada", last: "Lovelace" },
          emails: { items: [{ email: `ada@${tenant}.test`, tag: EmailTag.WORK }] },
          phones: { items: [{ phone: "+12015550123" }] },
          labelKeys: { items: ["custom.vip", "custom.doomed"] },
          extendedFields: { items: { "custom.shoe": fromJson(ValueSchema, 42 as JsonValue), "custom.doomed-field": fromJson(ValueSchema, "x") } },
        };
        const created = await contacts.createContact({ info, requestId: `${tenant}-c1` });
        rpcs.add("CreateContact");
        const id = created.contact?.id ?? "";
        await track("CreateContact", contacts.createContact({ info, requestId: `${tenant}-c1` }));
        await track("CreateContact", contacts.createContact({ info }));
        await track("CreateContact", contacts.createContact({ info: { name: { first: "Other" } }, requestId: `${tenant}-c1` }));
        await track("CreateContact", contacts.createContact({ info, allowDuplicates: true }));
        await track("CreateContact", contacts.createContact({ info: { name: { first: "Phone" }, phones: { items: [{ phone: "+12015550199" }] } } }));
        await track("CreateContact", contacts.createContact({ info: { name: { first: "Bad" }, labelKeys: { items: ["custom.nope"] } } }));
        await track("GetContact", contacts.getContact({ id }));
        await track("GetContact", contacts.getContact({ id, fieldsets: [ContactFieldSet.BASIC] }));
        await track("GetContact", contacts.getContact({ id: "00000000-0000-4000-8000-000000000000" }));
        await track("UpdateContact", contacts.updateContact({ contactId: id, revision: 1, info: { company: "X" }, requestId: `${tenant}-u1` }));
        await track("UpdateContact", contacts.updateContact({ contactId: id, revision: 1, info: { company: "X" }, requestId: `${tenant}-u1` }));
        await track("UpdateContact", contacts.updateContact({ contactId: id, revision: 1, info: { company: "Stale" } }));
        await track(
          "UpdateContact",
          contacts.updateContact({
            contactId: id,
            revision: 2,
            info: { emails: { items: [{ email: `grace@${tenant}.test` }] } },
            fieldMask: { paths: ["info.emails"] },
          }),
        );
        await track("LabelContact", contacts.labelContact({ contactId: id, labelKeys: ["custom.vip-2"] }));
        await track("LabelContact", contacts.labelContact({ contactId: id, labelKeys: ["custom.nope"] }));
        await track("UnlabelContact", contacts.unlabelContact({ contactId: id, labelKeys: ["custom.vip-2"] }));
        // Bulk jobs: started (idempotently, or refused), run by the server's runner in the
        // background to the end, read, listed, cancelled too late.
        const job = await contacts.bulkLabelAndUnlabelContacts({
          filter: { "info.labelKeys": { $hasSome: ["custom.vip"] } },
          labelKeysToAdd: ["custom.spare"],
          requestId: `${tenant}-b1`,
        });
        rpcs.add("BulkLabelAndUnlabelContacts");
        await track(
          "BulkLabelAndUnlabelContacts",
          contacts.bulkLabelAndUnlabelContacts({
            filter: { "info.labelKeys": { $hasSome: ["custom.vip"] } },
            labelKeysToAdd: ["custom.spare"],
            requestId: `${tenant}-b1`,
          }),
        );
        await track("BulkDeleteContacts", contacts.bulkDeleteContacts({}));
        const jobs = [job.jobId];
        jobs.push((await contacts.bulkDeleteContacts({ search: "nobody" })).jobId);
        rpcs.add("BulkDeleteContacts");
        jobs.push((await contacts.bulkUpdateContacts({ search: "ada", info: { jobTitle: "Bulk" }, fieldMask: { paths: ["info.job_title"] } })).jobId);
        rpcs.add("BulkUpdateContacts");
        for (const jobId of jobs) {
          for (let i = 0; (await contacts.getBulkJob({ id: jobId })).job?.finishedDate === undefined; i++) {
            if (i > 400) throw new Error(`bulk job ${jobId} did not finish`);
            await new Promise((r) => setTimeout(r, 25));
          }
        }
        await track("GetBulkJob", contacts.getBulkJob({ id: job.jobId }));
        await track("GetBulkJob", contacts.getBulkJob({ id: "00000000-0000-4000-8000-000000000000" }));
        await track("ListBulkJobs", contacts.listBulkJobs({ paging: { limit: 2, offset: 1 } }));
        await track("CancelBulkJob", contacts.cancelBulkJob({ id: job.jobId }));
        await track("UpdateMemberInfo", contacts.updateMemberInfo({ contactId: id, memberInfo: { memberId: `m-${tenant}`, role: MemberRole.MEMBER } }));
        await track("DeleteContact", contacts.deleteContact({ contactId: id }));
        await track("UpdateMemberInfo", contacts.updateMemberInfo({ contactId: id }));

        // Deleting a label and a field that contacts use runs the cleanup.
        await track("DeleteLabel", labels.deleteLabel({ key: "custom.doomed" }));
        await track("DeleteLabel", labels.deleteLabel({ key: "custom.doomed" }));
        await track("DeleteExtendedField", fields.deleteExtendedField({ key: "custom.doomed-field" }));
        await track("DeleteContact", contacts.deleteContact({ contactId: id }));
        await track("DeleteContact", contacts.deleteContact({ contactId: "00000000-0000-4000-8000-000000000000" }));
      }
    } finally {
      audit.detach();
    }

    expect([...rpcs].sort()).toEqual(
      [
        "CreateContact",
        "GetContact",
        "UpdateContact",
        "DeleteContact",
        "LabelContact",
        "UnlabelContact",
        "UpdateMemberInfo",
        "BulkDeleteContacts",
        "BulkUpdateContacts",
        "BulkLabelAndUnlabelContacts",
        "GetBulkJob",
        "ListBulkJobs",
        "CancelBulkJob",
        "FindOrCreateLabel",
        "GetLabel",
        "ListLabels",
        "QueryLabels",
        "RenameLabel",
        "DeleteLabel",
        "FindOrCreateExtendedField",
        "GetExtendedField",
        "ListExtendedFields",
        "QueryExtendedFields",
        "RenameExtendedField",
        "DeleteExtendedField",
      ].sort(),
    );

    // Both successes and refusals were exercised, and nothing broke.
    expect(outcomes).toContain("OK");
    expect(outcomes).toEqual(expect.arrayContaining(["NotFound", "AlreadyExists", "Aborted", "InvalidArgument", "FailedPrecondition"]));
    expect(outcomes.filter((c) => c === "Internal" || c === "Unknown")).toEqual([]);

    const checked = audit.checked();
    const violations = audit.violations();
    const touched = new Set(checked.flatMap((s) => (s.verdict.kind === "ignored" || s.verdict.kind === "untenanted" ? [] : s.verdict.tables)));
    console.log(
      `[scenario 9] ${store}: statements=${checked.length} withoutTenantPredicate=${violations.length} ` +
        `(all statements seen=${audit.statements.length}, tenant tables touched=${touched.size}/${TENANT_TABLES.length})`,
    );
    if (process.env.AUDIT_PRINT_SQL) {
      for (const sql of new Set(audit.statements.map((s) => `${s.verdict.kind}: ${s.sql}`))) console.log(sql);
    }
    for (const v of violations) {
      if (v.verdict.kind === "violation") console.log(`[scenario 9] ${store} VIOLATION (${v.verdict.problem}): ${v.sql}`);
    }
    // Statements that touch no tenant table at all are listed so a new table cannot slip by.
    const untenanted = [...new Set(audit.untenanted().map((s) => s.sql))];
    expect(untenanted, "statements on tables the audit does not know").toEqual([]);
    expect(checked.length).toBeGreaterThan(100);
    expect(violations.map((v) => v.sql)).toEqual([]);

    // Live negative control: a statement without a tenant predicate, sent through the same
    // knex instance (the driver's real SQL text), is caught.
    const control = attachTenantAudit(t.server.db);
    try {
      await t.server.db("labels").where({ key: "custom.vip" }).select("key");
      await t.server.db("contacts").whereIn("id", ["x"]).update({ revision: 1 });
    } finally {
      control.detach();
    }
    expect(control.violations()).toHaveLength(2);
  });
});
