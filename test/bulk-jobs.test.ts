/**
 * Bulk jobs (reference §1.7, §2.12) through gRPC on both stores: every error code, what each job
 * type does to the contacts it covers (members in a bulk delete, duplicates in a bulk update),
 * the counters and errors of GetBulkJob, ListBulkJobs, CancelBulkJob, idempotent starts, the
 * events of a job, contacts changed between loading and processing, and bulk jobs racing single
 * writes on the same contacts.
 */
import { Code } from "@connectrpc/connect";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { type BulkJob, BulkJobStatus, BulkJobType } from "../gen/contacts/v1/bulk_job_pb.js";
import { type Contact, MemberRole } from "../gen/contacts/v1/contact_pb.js";
import { FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { expectError } from "./support/errors.js";
import { STORES, startTestServer, suiteWithTenants, type TestServer } from "./support/server.js";

type Clients = ReturnType<TestServer["clients"]>;

describe.each(STORES)("bulk jobs on %s", (store) => {
  const suite = suiteWithTenants(store, "b", { bulkJobBatch: 7, bulkJobPollMs: 50 });
  /** A fresh tenant per test: jobs, counts and event logs stay independent. */
  const tenant = suite.tenant;
  type Tenant = ReturnType<typeof tenant>;

  async function label(c: Tenant, name: string): Promise<string> {
    const { label } = await c.labels.findOrCreateLabel({ displayName: name });
    return label?.key ?? "";
  }

  async function make(c: Tenant, count: number, labels: string[] = [], first = "Person"): Promise<Contact[]> {
    const out: Contact[] = [];
    for (let i = 0; i < count; i++) {
      const { contact } = await c.contacts.createContact({
        info: { name: { first, last: `N${i}` }, emails: { items: [{ email: `${first.toLowerCase()}${i}@${c.id}.example` }] }, labelKeys: { items: labels } },
      });
      if (contact) out.push(contact);
    }
    return out;
  }

  async function finished(c: Clients, jobId: string): Promise<BulkJob> {
    for (let i = 0; i < 400; i++) {
      const { job } = await c.contacts.getBulkJob({ id: jobId });
      if (job && [BulkJobStatus.COMPLETED, BulkJobStatus.CANCELLED, BulkJobStatus.FAILED].includes(job.status)) return job;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`job ${jobId} did not finish`);
  }

  const hasLabel = (key: string): JsonObject => ({ "info.labelKeys": { $hasSome: [key] } });

  /** The tenant's outbox, oldest first (what WatchEvents streams). */
  async function events(c: Tenant): Promise<{ type: string; entityId: string; subject: string }[]> {
    const rows = (await suite.t().server.db("events").where({ tenant_id: c.id }).orderBy("seq").select("event_type", "entity_id", "subject")) as {
      event_type: string;
      entity_id: string;
      subject: string;
    }[];
    return rows.map((r) => ({ type: r.event_type, entityId: r.entity_id, subject: r.subject }));
  }

  it("refuses a job with neither filter nor search (an empty filter is none), and every bad argument, starting nothing", async () => {
    const c = tenant();
    const key = await label(c, "VIP");
    for (const call of [
      c.contacts.bulkDeleteContacts({}),
      c.contacts.bulkDeleteContacts({ filter: {}, search: "  " }),
      c.contacts.bulkUpdateContacts({ info: { company: "x" } }),
      c.contacts.bulkLabelAndUnlabelContacts({ labelKeysToAdd: [key] }),
    ]) {
      await expectError(call, { code: Code.InvalidArgument, reason: "NEITHER_FILTER_NOR_SEARCH", field: "filter" });
    }
    await expectError(c.contacts.bulkDeleteContacts({ filter: { "info.nope": "x" } }), {
      code: Code.InvalidArgument,
      reason: "UNSUPPORTED_FILTER_FIELD_UNKNOWN",
    });
    await expectError(c.contacts.bulkDeleteContacts({ search: "x".repeat(101) }), { code: Code.InvalidArgument, reason: "INVALID_SEARCH", field: "search" });
    await expectError(c.contacts.bulkLabelAndUnlabelContacts({ search: "a" }), { code: Code.InvalidArgument, reason: "INVALID_LABEL_KEY" });
    await expectError(c.contacts.bulkLabelAndUnlabelContacts({ search: "a", labelKeysToAdd: ["custom.missing"] }), {
      code: Code.NotFound,
      reason: "LABEL_NOT_FOUND",
    });
    await expectError(c.contacts.bulkUpdateContacts({ search: "a" }), { code: Code.InvalidArgument, reason: "INVALID_CONTACT_INFO", field: "info" });
    await expectError(c.contacts.bulkUpdateContacts({ search: "a", info: { emails: { items: [{ email: "not an email" }] } } }), {
      code: Code.InvalidArgument,
      reason: "INVALID_EMAIL",
    });
    await expectError(c.contacts.getBulkJob({ id: "00000000-0000-0000-0000-000000000000" }), { code: Code.NotFound, reason: "BULK_JOB_NOT_FOUND" });
    await expectError(c.contacts.getBulkJob({ id: "" }), { code: Code.InvalidArgument, reason: "INVALID_BULK_JOB_ID", field: "id" });
    await expectError(c.contacts.cancelBulkJob({ id: "nope" }), { code: Code.NotFound, reason: "BULK_JOB_NOT_FOUND" });
    expect((await c.contacts.listBulkJobs({})).jobs).toEqual([]);
  });

  it("bulk delete removes the matching non-members and reports each member as a job error; one contact_deleted per deleted contact", async () => {
    const c = tenant();
    const key = await label(c, "Old list");
    const listed = await make(c, 10, [key]);
    const others = await make(c, 3, [], "Other");
    const [member, owner] = listed as [Contact, Contact];
    await c.contacts.updateMemberInfo({ contactId: member.id, memberInfo: { memberId: "m-1" } });
    await c.contacts.updateMemberInfo({ contactId: owner.id, memberInfo: { memberId: "m-2", role: MemberRole.OWNER } });

    const { jobId } = await c.contacts.bulkDeleteContacts({ filter: hasLabel(key) });
    const job = await finished(c, jobId);
    expect(job).toMatchObject({ type: BulkJobType.DELETE, status: BulkJobStatus.COMPLETED, totalItems: 10, successTotal: 8, failedTotal: 2, skippedTotal: 0 });
    expect(job.finishedDate).toBeDefined();
    expect(new Map(job.errors.map((e) => [e.contactId, e.code]))).toEqual(
      new Map([
        [member.id, "CANNOT_DELETE_SITE_MEMBERS"],
        [owner.id, "CANNOT_DELETE_MEMBER_OWNER_OR_CONTRIBUTOR"],
      ]),
    );
    const left = await c.contacts.queryContacts({ query: { pagingMethod: { case: "paging", value: { limit: 100 } } } });
    expect(left.contacts.map((x) => x.id).sort()).toEqual([member.id, owner.id, ...others.map((o) => o.id)].sort());
    const deleted = (await events(c)).filter((e) => e.type === "contact_deleted");
    expect(deleted.map((e) => e.entityId).sort()).toEqual(
      listed
        .slice(2)
        .map((x) => x.id)
        .sort(),
    );
  });

  it("bulk label adds and removes labels on the contacts a search selects, counting unchanged contacts as successes without an event", async () => {
    const c = tenant();
    const [vip, old] = [await label(c, "VIP"), await label(c, "Old")];
    const ann = await make(c, 9, [old], "Ann");
    const already = await make(c, 2, [vip], "Ann2");
    await make(c, 4, [old], "Bob");
    const { jobId } = await c.contacts.bulkLabelAndUnlabelContacts({ search: "ann", labelKeysToAdd: [vip], labelKeysToRemove: [old] });
    const job = await finished(c, jobId);
    expect(job).toMatchObject({ type: BulkJobType.ADD_REMOVE_LABELS, status: BulkJobStatus.COMPLETED, totalItems: 11, successTotal: 11, failedTotal: 0 });
    const vips = await c.contacts.queryContacts({ query: { filter: hasLabel(vip), pagingMethod: { case: "paging", value: { limit: 100 } } } });
    expect(vips.contacts.map((x) => x.id).sort()).toEqual([...ann, ...already].map((x) => x.id).sort());
    expect(vips.contacts.every((x) => !(x.info?.labelKeys?.items ?? []).includes(old))).toBe(true);
    const olds = await c.contacts.queryContacts({ query: { filter: hasLabel(old) } });
    expect(olds.pagingMetadata?.total).toBe(4);
    const updated = (await events(c)).filter((e) => e.type === "contact_updated");
    // Ann2's contacts had the label already and nothing to remove: no change, no event.
    expect(updated.map((e) => e.entityId).sort()).toEqual(ann.map((x) => x.id).sort());
    expect(updated.every((e) => e.subject === "dev")).toBe(true);
    for (const x of ann) expect((await c.contacts.getContact({ id: x.id })).contact?.revision).toBe(2);

    const { jobId: addOnly } = await c.contacts.bulkLabelAndUnlabelContacts({ filter: hasLabel(vip), labelKeysToRemove: [vip] });
    expect(await finished(c, addOnly)).toMatchObject({ type: BulkJobType.REMOVE_LABELS, successTotal: 11 });
  });

  it("bulk update applies the masked fields, and each contact the update cannot apply to is a job error", async () => {
    const c = tenant();
    const key = await label(c, "Team");
    const team = await make(c, 5, [key]);
    const { jobId } = await c.contacts.bulkUpdateContacts({
      filter: hasLabel(key),
      info: { company: "Acme", jobTitle: "ignored: not in the mask" },
      fieldMask: { paths: ["info.company"] },
    });
    expect(await finished(c, jobId)).toMatchObject({ type: BulkJobType.UPDATE, status: BulkJobStatus.COMPLETED, successTotal: 5, failedTotal: 0 });
    for (const x of team) {
      const got = (await c.contacts.getContact({ id: x.id })).contact;
      expect([got?.info?.company, got?.info?.jobTitle ?? "", got?.revision]).toEqual(["Acme", "", 2]);
    }
    // One email for all: the first contact (in id order) takes it, the others would duplicate it.
    const { jobId: dup } = await c.contacts.bulkUpdateContacts({
      filter: hasLabel(key),
      info: { emails: { items: [{ email: "shared@team.example" }] } },
      fieldMask: { paths: ["info.emails"] },
    });
    const job = await finished(c, dup);
    expect(job).toMatchObject({ successTotal: 1, failedTotal: 4 });
    expect(job.errors.map((e) => e.code)).toEqual(Array(4).fill("DUPLICATE_CONTACT_EXISTS"));
    const sorted = team.map((x) => x.id).sort();
    expect(job.errors.map((e) => e.contactId)).toEqual(sorted.slice(1));
    const owner = (await c.contacts.getContact({ id: sorted[0] as string })).contact;
    expect(owner?.primaryInfo?.email).toBe("shared@team.example");
  });

  it("processes each contact loaded once: one deleted or changed to no longer match before its batch is skipped; a cancelled job changes nothing more", async () => {
    const s = await startTestServer(store, { bulkJobConcurrency: 0 });
    try {
      const c = { id: "step", ...s.clients("step") };
      const key = (await c.labels.findOrCreateLabel({ displayName: "Batch" })).label?.key as string;
      const other = (await c.labels.findOrCreateLabel({ displayName: "Other" })).label?.key as string;
      const contacts: Contact[] = [];
      for (let i = 0; i < 5; i++) {
        const { contact } = await c.contacts.createContact({ info: { name: { first: `S${i}` }, labelKeys: { items: [key] } } });
        contacts.push(contact as Contact);
      }
      const { jobId } = await c.contacts.bulkLabelAndUnlabelContacts({ filter: hasLabel(key), labelKeysToAdd: [other] });
      const step = () => s.server.bulkJobs.stepJob("step", jobId);
      expect((await c.contacts.getBulkJob({ id: jobId })).job?.status).toBe(BulkJobStatus.NEW);
      expect(await step()).toBe("more"); // NEW → LOADING
      expect(await step()).toBe("more"); // one page: all 5 loaded, → RUNNING
      expect((await c.contacts.getBulkJob({ id: jobId })).job).toMatchObject({ status: BulkJobStatus.RUNNING, totalItems: 5, successTotal: 0 });
      const [gone, unlabelled] = [...contacts].sort((a, b) => (a.id < b.id ? -1 : 1)) as [Contact, Contact];
      await c.contacts.deleteContact({ contactId: gone.id });
      await c.contacts.unlabelContact({ contactId: unlabelled.id, labelKeys: [key] });
      // Contacts created after loading are not the job's.
      await c.contacts.createContact({ info: { name: { first: "Late" }, labelKeys: { items: [key] } } });
      while ((await step()) === "more");
      const job = (await c.contacts.getBulkJob({ id: jobId })).job as BulkJob;
      expect(job).toMatchObject({ status: BulkJobStatus.COMPLETED, totalItems: 5, successTotal: 3, skippedTotal: 2, failedTotal: 0 });
      const labelled = await c.contacts.queryContacts({ query: { filter: hasLabel(other) } });
      expect(labelled.contacts.map((x) => x.id).sort()).toEqual(
        contacts
          .filter((x) => x !== gone && x !== unlabelled)
          .map((x) => x.id)
          .sort(),
      );
      await expectError(c.contacts.cancelBulkJob({ id: jobId }), { code: Code.FailedPrecondition, reason: "BULK_JOB_ALREADY_FINISHED" });

      // Cancelled after its first batch: the rest stay as they were.
      const { jobId: second } = await c.contacts.bulkLabelAndUnlabelContacts({ filter: hasLabel(key), labelKeysToRemove: [other] });
      const runner = s.server.bulkJobs;
      expect(await runner.stepJob("step", second)).toBe("more");
      expect(await runner.stepJob("step", second)).toBe("more");
      const { job: cancelled } = await c.contacts.cancelBulkJob({ id: second });
      expect(cancelled).toMatchObject({ status: BulkJobStatus.CANCELLED, successTotal: 0, totalItems: 4 });
      expect(cancelled?.finishedDate).toBeDefined();
      expect(await runner.stepJob("step", second)).toBe("lost");
      // A repeat (its first answer lost) gets the cancelled job again.
      expect((await c.contacts.cancelBulkJob({ id: second })).job).toMatchObject({ status: BulkJobStatus.CANCELLED, successTotal: 0 });
      expect((await c.contacts.queryContacts({ query: { filter: hasLabel(other) } })).pagingMetadata?.total).toBe(3);
    } finally {
      await s.close();
    }
  });

  it("a job whose filter names an extended field deleted before it loads fails with the reason, changing nothing", async () => {
    const s = await startTestServer(store, { bulkJobConcurrency: 0 });
    try {
      const c = { id: "gone", ...s.clients("gone") };
      const { field } = await c.fields.findOrCreateExtendedField({ displayName: "Tier", dataType: FieldDataType.TEXT });
      const key = field?.key as string;
      await c.contacts.createContact({ info: { name: { first: "T" }, extendedFields: { items: { [key]: fromJson(ValueSchema, "gold") } } } });
      const { jobId } = await c.contacts.bulkDeleteContacts({ filter: { [`info.extendedFields.${key}`]: "gold" } });
      await c.fields.deleteExtendedField({ key });
      expect(await s.server.bulkJobs.stepJob("gone", jobId)).toBe("done");
      const job = (await c.contacts.getBulkJob({ id: jobId })).job;
      expect(job).toMatchObject({ status: BulkJobStatus.FAILED, totalItems: 0, successTotal: 0 });
      expect(job?.failureReason).toMatch(/no longer applies/);
      expect(job?.finishedDate).toBeDefined();
      expect((await c.contacts.queryContacts({})).contacts).toHaveLength(1);
      await expectError(c.contacts.cancelBulkJob({ id: jobId }), { code: Code.FailedPrecondition, reason: "BULK_JOB_ALREADY_FINISHED" });
    } finally {
      await s.close();
    }
  });

  it("starting with a request_id twice starts one job; ListBulkJobs pages the tenant's jobs newest first", async () => {
    const c = tenant();
    await make(c, 2);
    const first = await c.contacts.bulkDeleteContacts({ search: "nobody-matches-this", requestId: "job-1" });
    const again = await c.contacts.bulkDeleteContacts({ search: "nobody-matches-this", requestId: "job-1" });
    expect(again.jobId).toBe(first.jobId);
    await expectError(c.contacts.bulkDeleteContacts({ search: "something else", requestId: "job-1" }), {
      code: Code.InvalidArgument,
      reason: "REQUEST_ID_REUSED",
    });
    const ids = [first.jobId];
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 3));
      ids.push((await c.contacts.bulkDeleteContacts({ search: `none${i}` })).jobId);
    }
    for (const id of ids) expect(await finished(c, id)).toMatchObject({ status: BulkJobStatus.COMPLETED, totalItems: 0 });
    const page = await c.contacts.listBulkJobs({ paging: { limit: 2, offset: 1 } });
    expect(page.jobs.map((j) => j.id)).toEqual([...ids].reverse().slice(1, 3));
    expect(page.pagingMetadata).toMatchObject({ count: 2, offset: 1, total: 4, hasNext: true });
    expect((await c.contacts.listBulkJobs({ paging: { limit: 100_000 } })).jobs).toHaveLength(4);
    // Another tenant sees none of them.
    const other = tenant();
    expect((await other.contacts.listBulkJobs({})).jobs).toEqual([]);
    await expectError(other.contacts.getBulkJob({ id: first.jobId }), { code: Code.NotFound, reason: "BULK_JOB_NOT_FOUND" });
  });

  it("finished jobs are kept for the retention period, then removed with their items", async () => {
    const s = await startTestServer(store, { bulkJobPollMs: 20, bulkJobRetentionMs: 300 });
    try {
      const c = s.clients("retained");
      await c.contacts.createContact({ info: { name: { first: "Kept" } } });
      const { jobId } = await c.contacts.bulkLabelAndUnlabelContacts({ search: "kept", labelKeysToAdd: ["contacts.customers"] });
      for (let i = 0; (await c.contacts.getBulkJob({ id: jobId })).job?.status !== BulkJobStatus.COMPLETED; i++) {
        if (i > 400) throw new Error("the job did not complete");
        await new Promise((r) => setTimeout(r, 5));
      }
      expect((await c.contacts.listBulkJobs({})).jobs.map((j) => j.id)).toEqual([jobId]);
      for (let i = 0; (await c.contacts.listBulkJobs({})).jobs.length > 0; i++) {
        if (i > 400) throw new Error("the finished job was not removed");
        await new Promise((r) => setTimeout(r, 10));
      }
      await expectError(c.contacts.getBulkJob({ id: jobId }), { code: Code.NotFound, reason: "BULK_JOB_NOT_FOUND" });
      const items = (await s.server.db("bulk_job_items").where({ tenant_id: "retained" }).count({ n: "*" })) as [{ n: number | string }];
      expect(Number(items[0].n)).toBe(0);
      // The contact it labelled keeps its label.
      expect((await c.contacts.queryContacts({})).contacts[0]?.info?.labelKeys?.items).toEqual(["contacts.customers"]);
    } finally {
      await s.close();
    }
  });

  it("concurrent bulk jobs and single writers on the same contacts lose no update", async () => {
    const c = tenant();
    const [key, added, also] = [await label(c, "Race"), await label(c, "Added"), await label(c, "Also")];
    const contacts = await make(c, 30, [key]);
    // Two jobs over the same contacts run side by side (the runner takes two at once), while
    // each contact gets 3 company changes by read-modify-write, retried on a stale revision.
    const jobs = await Promise.all([
      c.contacts.bulkLabelAndUnlabelContacts({ filter: hasLabel(key), labelKeysToAdd: [added] }),
      c.contacts.bulkLabelAndUnlabelContacts({ search: "person", labelKeysToAdd: [also] }),
    ]);
    await Promise.all(
      contacts.map(async (x) => {
        for (let k = 1; k <= 3; k++) {
          for (;;) {
            const current = (await c.contacts.getContact({ id: x.id })).contact as Contact;
            try {
              await c.contacts.updateContact({ contactId: x.id, revision: current.revision, info: { company: `C${k}` } });
              break;
            } catch (err) {
              // Only a stale revision is expected; anything else fails the test.
              await expectError(Promise.reject(err), { code: Code.Aborted, reason: "CONTACT_ALREADY_CHANGED" });
            }
          }
        }
      }),
    );
    for (const { jobId } of jobs) expect(await finished(c, jobId)).toMatchObject({ status: BulkJobStatus.COMPLETED, successTotal: 30, failedTotal: 0 });
    for (const x of contacts) {
      const got = (await c.contacts.getContact({ id: x.id })).contact;
      // Created at 1, three company changes, two labels added: revision 6, nothing lost.
      expect([got?.info?.company, [...(got?.info?.labelKeys?.items ?? [])].sort(), got?.revision]).toEqual(["C3", [added, also, key].sort(), 6]);
    }
    const updated = (await events(c)).filter((e) => e.type === "contact_updated");
    expect(updated).toHaveLength(30 * 5);
  });
});
