/**
 * The SDK's bulk functions (`contacts.bulkDeleteContacts`, `bulkUpdateContacts`,
 * `bulkLabelAndUnlabelContacts`) and `client.bulkJobs` (get, list, cancel, waitForJob) through a
 * real server on MariaDB and SQLite: jobs started by filter and by search, their counters,
 * per-contact errors and final effect as a query sees it, the reference's error codes, and
 * waitForJob's progress, timeout and cancellation.
 */
import { randomUUID } from "node:crypto";
import { isMessage } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import {
  type BulkJob,
  CancelledError,
  type Contact,
  type ContactsApiError,
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "../sdk/src/index.js";
import { BulkJobStatus } from "../sdk/src/gen/contacts/v1/bulk_job_pb.js";
import { GetBulkJobResponseSchema } from "../sdk/src/gen/contacts/v1/contacts_service_pb.js";
import { expectPlain, failure, inParallel, suiteServer, tenant, unreachableClient } from "./support/sdk.js";
import { STORES } from "./support/server.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Generous for a job of a few hundred contacts on a loaded CI machine; a passing run takes a fraction. */
const JOB_TIMEOUT_MS = 20_000;

/** A finished job's dates: both there, in order. */
function expectFinishedDates(job: BulkJob): void {
  expect(job.startedDate).toBeInstanceOf(Date);
  expect(job.finishedDate).toBeInstanceOf(Date);
  expect((job.finishedDate as Date).getTime()).toBeGreaterThanOrEqual(job.startedDate.getTime());
}

const ids = (contacts: Contact[]) => contacts.map((c) => c._id).sort();

describe("SDK bulk functions: checks made before anything is sent", () => {
  const client = unreachableClient();

  it("rejects malformed options with a TypeError naming the path", async () => {
    const { contacts, bulkJobs } = client;
    await expect(contacts.bulkDeleteContacts({ filter: "info.company" as never })).rejects.toThrow(/bulkDeleteContacts\(\): options\.filter must be an object/);
    await expect(contacts.bulkDeleteContacts({ filter: { "info.company": { $eq: () => 1 } } })).rejects.toThrow(
      /options\.filter\.info\.company\.\$eq must be JSON/,
    );
    await expect(contacts.bulkDeleteContacts({ search: 5 as never })).rejects.toThrow(/options\.search must be a string/);
    await expect(contacts.bulkUpdateContacts({ search: "x", info: { nmae: { first: "x" } } as never })).rejects.toThrow(
      /options\.info\.nmae is not a field of ContactInfo/,
    );
    await expect(contacts.bulkUpdateContacts({ search: "x", info: { company: "x" }, fieldMask: [] })).rejects.toThrow(TypeError);
    await expect(contacts.bulkLabelAndUnlabelContacts({ search: "x", labelKeysToAdd: "custom.vip" as never })).rejects.toThrow(
      /options\.labelKeysToAdd must be an array of strings/,
    );
    await expect(bulkJobs.getBulkJob("")).rejects.toThrow(TypeError);
    await expect(bulkJobs.cancelBulkJob(undefined as never)).rejects.toThrow(TypeError);
    await expect(bulkJobs.waitForJob("j", { pollIntervalMs: 0 })).rejects.toThrow(/pollIntervalMs must be a positive number/);
    await expect(bulkJobs.waitForJob("j", { timeoutMs: Number.NaN })).rejects.toThrow(/timeoutMs must be a positive number/);
  });

  it("waitForJob with an aborted signal rejects with a CancelledError before polling", async () => {
    const err = await failure(client.bulkJobs.waitForJob("some-job", { signal: AbortSignal.abort() }));
    expect(err).toBeInstanceOf(CancelledError);
    expect(err.details).toEqual({ jobId: "some-job" });
  });
});

describe.each(STORES)("SDK bulk jobs through a real server on %s", (store) => {
  const suite = suiteServer(store);
  const { clientFor } = suite;

  it("bulkLabelAndUnlabelContacts labels the contacts a filter selects; waitForJob reports progress and the final job", async () => {
    const { contacts, labels, bulkJobs } = clientFor(tenant("label"));
    const { label: vip } = await labels.findOrCreateLabel("VIP");
    const { label: gold } = await labels.findOrCreateLabel("Gold");
    const created = await inParallel(30, 6, async (i) => {
      const { contact } = await contacts.createContact({
        name: { first: `Person${i}`, last: "Bulk" },
        emails: { items: [{ email: `person${i}@example.com` }] },
        ...(i % 3 === 0 ? { labelKeys: { items: [vip.key] } } : {}),
      });
      return contact;
    });
    const vips = created.filter((_, i) => i % 3 === 0);
    expect(vips).toHaveLength(10);

    const { jobId } = await contacts.bulkLabelAndUnlabelContacts({ filter: { "info.labelKeys": { $hasSome: [vip.key] } }, labelKeysToAdd: [gold.key] });
    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    const seen: BulkJob[] = [];
    const job = await bulkJobs.waitForJob(jobId, { onProgress: (j) => seen.push(j), pollIntervalMs: 20, timeoutMs: JOB_TIMEOUT_MS });

    expectPlain(job);
    expect(job).toEqual({
      _id: jobId,
      type: "ADD_LABELS",
      status: "COMPLETED",
      startedDate: expect.any(Date),
      finishedDate: expect.any(Date),
      totalItems: 10,
      successTotal: 10,
      failedTotal: 0,
      skippedTotal: 0,
      errors: [],
    });
    expectFinishedDates(job);
    // onProgress saw every poll, the final one last, and counters that never went back.
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen.at(-1)).toEqual(job);
    for (const [i, j] of seen.entries()) {
      expect(j._id).toBe(jobId);
      expect(["NEW", "LOADING", "RUNNING", "COMPLETED"]).toContain(j.status);
      if (i > 0) expect(j.successTotal).toBeGreaterThanOrEqual((seen[i - 1] as BulkJob).successTotal);
    }
    expect(await bulkJobs.getBulkJob(jobId)).toEqual(job);

    const gilded = await contacts.queryContacts().hasSome("info.labelKeys", [gold.key]).limit(100).find();
    expect(gilded.totalCount).toBe(10);
    expect(ids(gilded.items)).toEqual(ids(vips));
    for (const c of gilded.items) expect(c.info?.labelKeys?.items?.sort()).toEqual([gold.key, vip.key].sort());

    // Removing only: type REMOVE_LABELS; adding and removing: ADD_REMOVE_LABELS.
    const removal = await contacts.bulkLabelAndUnlabelContacts({ filter: { "info.labelKeys": { $hasSome: [gold.key] } }, labelKeysToRemove: [vip.key] });
    const removed = await bulkJobs.waitForJob(removal.jobId, { pollIntervalMs: 20, timeoutMs: JOB_TIMEOUT_MS });
    expect(removed).toMatchObject({ type: "REMOVE_LABELS", status: "COMPLETED", totalItems: 10, successTotal: 10 });
    expect((await contacts.queryContacts().hasSome("info.labelKeys", [vip.key]).find()).totalCount).toBe(0);
    const both = await contacts.bulkLabelAndUnlabelContacts({ search: "Person1", labelKeysToAdd: [vip.key], labelKeysToRemove: [gold.key] });
    expect((await bulkJobs.waitForJob(both.jobId, { pollIntervalMs: 20, timeoutMs: JOB_TIMEOUT_MS })).type).toBe("ADD_REMOVE_LABELS");

    const unknown = await failure(contacts.bulkLabelAndUnlabelContacts({ search: "Person", labelKeysToAdd: ["custom.no-such-label"] }));
    expect(unknown).toBeInstanceOf(NotFoundError);
    expect(unknown.code).toBe("LABEL_NOT_FOUND");
  });

  it("bulkDeleteContacts deletes the contacts a search finds, except members, which are job errors", async () => {
    const { contacts, bulkJobs } = clientFor(tenant("delete"));
    const doomed = await inParallel(6, 3, async (i) => {
      const { contact } = await contacts.createContact({
        name: { first: `Glenn${i}`, last: "Quagmire" },
        emails: { items: [{ email: `gq${i}@example.com` }] },
      });
      return contact;
    });
    const kept = await inParallel(4, 4, async (i) => {
      const { contact } = await contacts.createContact({ name: { first: `Peter${i}`, last: "Griffin" }, emails: { items: [{ email: `pg${i}@example.com` }] } });
      return contact;
    });
    const member = doomed[0] as Contact;
    await contacts.updateMemberInfo(member._id, { memberId: "m-quagmire", role: "MEMBER" });

    const requestId = randomUUID();
    const { jobId } = await contacts.bulkDeleteContacts({ search: "Quagmire", requestId });
    // A repeat of the same request starts nothing new.
    expect((await contacts.bulkDeleteContacts({ search: "Quagmire", requestId })).jobId).toBe(jobId);

    const job = await bulkJobs.waitForJob(jobId, { pollIntervalMs: 20, timeoutMs: JOB_TIMEOUT_MS });
    expect(job).toMatchObject({ _id: jobId, type: "DELETE", status: "COMPLETED", totalItems: 6, successTotal: 5, failedTotal: 1, skippedTotal: 0 });
    expect(job.errors).toEqual([{ contactId: member._id, code: "CANNOT_DELETE_SITE_MEMBERS", message: expect.any(String) }]);
    expectFinishedDates(job);

    const left = await contacts.queryContacts({ search: "Quagmire" }).find();
    expect(ids(left.items)).toEqual([member._id]);
    for (const c of doomed.slice(1)) expect((await failure(contacts.getContact(c._id))).code).toBe("CONTACT_NOT_FOUND");
    const all = await contacts.listContacts();
    expect(ids(all.contacts)).toEqual(ids([member, ...kept]));
  });

  it("bulkUpdateContacts applies info under a field mask; filter fields take the SDK's names and Dates", async () => {
    const { contacts, bulkJobs } = clientFor(tenant("update"));
    const initech = await inParallel(4, 4, async (i) => {
      const { contact } = await contacts.createContact({ name: { first: `Milton${i}` }, company: "Initech", jobTitle: "Engineer" });
      return contact;
    });
    const { contact: other } = await contacts.createContact({ name: { first: "Bill" }, company: "Chotchkie's", jobTitle: "Manager" });

    const { jobId } = await contacts.bulkUpdateContacts({
      // `_createdDate` is the builder's name for the wire's `createdDate`; the SDK renames it.
      filter: { "info.company": "Initech", _createdDate: { $lte: new Date(Date.now() + 60_000) } },
      info: { company: "Initrode", jobTitle: "not applied: outside the mask" },
      fieldMask: ["info.company"],
    });
    const job = await bulkJobs.waitForJob(jobId, { pollIntervalMs: 20, timeoutMs: JOB_TIMEOUT_MS });
    expect(job).toMatchObject({ type: "UPDATE", status: "COMPLETED", totalItems: 4, successTotal: 4, failedTotal: 0, errors: [] });

    const moved = await contacts.queryContacts().eq("info.company", "Initrode").find();
    expect(ids(moved.items)).toEqual(ids(initech));
    for (const c of moved.items) {
      expect(c.info?.jobTitle).toBe("Engineer");
      expect(c.revision).toBe(2);
    }
    expect((await contacts.getContact(other._id)).info).toMatchObject({ company: "Chotchkie's", jobTitle: "Manager" });
  });

  it("a bulk function without a filter or a search fails with NEITHER_FILTER_NOR_SEARCH", async () => {
    const { contacts, labels, bulkJobs } = clientFor(tenant("neither"));
    const { label } = await labels.findOrCreateLabel("Anything");
    for (const call of [
      () => contacts.bulkDeleteContacts(),
      () => contacts.bulkDeleteContacts({ filter: null, search: null }),
      () => contacts.bulkUpdateContacts({ info: { company: "x" } }),
      () => contacts.bulkLabelAndUnlabelContacts({ labelKeysToAdd: [label.key] }),
    ]) {
      const err = await failure(call());
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.code).toBe("NEITHER_FILTER_NOR_SEARCH");
    }
    expect((await bulkJobs.listBulkJobs()).jobs).toEqual([]);
  });

  it("listBulkJobs lists the tenant's jobs newest first, paged, without errors; other tenants see none", async () => {
    const { contacts, labels, bulkJobs } = clientFor(tenant("list"));
    const { label } = await labels.findOrCreateLabel("Listed");
    await contacts.createContact({ name: { first: "Listed", last: "One" } });
    const started: string[] = [];
    for (const start of [
      () => contacts.bulkLabelAndUnlabelContacts({ search: "Listed", labelKeysToAdd: [label.key] }),
      () => contacts.bulkUpdateContacts({ search: "Listed", info: { company: "Listed Inc" }, fieldMask: ["info.company"] }),
      () => contacts.bulkDeleteContacts({ search: "Listed" }),
    ]) {
      const { jobId } = await start();
      await bulkJobs.waitForJob(jobId, { pollIntervalMs: 20, timeoutMs: JOB_TIMEOUT_MS });
      started.push(jobId);
      await sleep(5); // distinct start times, so "newest first" has one answer
    }

    const { jobs, pagingMetadata } = await bulkJobs.listBulkJobs();
    expectPlain(jobs);
    expect(jobs.map((j) => j._id)).toEqual([...started].reverse());
    expect(jobs.map((j) => j.type)).toEqual(["DELETE", "UPDATE", "ADD_LABELS"]);
    for (const j of jobs) {
      expect(j).toMatchObject({ status: "COMPLETED", totalItems: 1, successTotal: 1, errors: [] });
      expectFinishedDates(j);
    }
    expect(pagingMetadata).toMatchObject({ count: 3, offset: 0 });

    const first = await bulkJobs.listBulkJobs({ paging: { limit: 2 } });
    expect(first.jobs.map((j) => j._id)).toEqual([started[2], started[1]]);
    expect(first.pagingMetadata).toMatchObject({ count: 2, offset: 0, hasNext: true });
    const second = await bulkJobs.listBulkJobs({ paging: { limit: 2, offset: 2 } });
    expect(second.jobs.map((j) => j._id)).toEqual([started[0]]);
    expect(second.pagingMetadata).toMatchObject({ count: 1, offset: 2, hasNext: false });

    const stranger = clientFor(tenant("stranger"));
    expect((await stranger.bulkJobs.listBulkJobs()).jobs).toEqual([]);
    const hidden = await failure(stranger.bulkJobs.getBulkJob(started[0] as string));
    expect(hidden).toBeInstanceOf(NotFoundError);
    expect(hidden.code).toBe("BULK_JOB_NOT_FOUND");
  });

  it("cancelBulkJob: a finished job gives BULK_JOB_ALREADY_FINISHED, an unknown one BULK_JOB_NOT_FOUND", async () => {
    const { contacts, bulkJobs } = clientFor(tenant("cancel-finished"));
    await contacts.createContact({ name: { first: "Done" } });
    const { jobId } = await contacts.bulkUpdateContacts({ search: "Done", info: { company: "Done Inc" }, fieldMask: ["info.company"] });
    const finished = await bulkJobs.waitForJob(jobId, { pollIntervalMs: 20, timeoutMs: JOB_TIMEOUT_MS });
    expect(finished.status).toBe("COMPLETED");

    const late = await failure(bulkJobs.cancelBulkJob(jobId));
    expect(late).toBeInstanceOf(FailedPreconditionError);
    expect(late.code).toBe("BULK_JOB_ALREADY_FINISHED");
    expect(await bulkJobs.getBulkJob(jobId)).toEqual(finished);

    for (const call of [() => bulkJobs.cancelBulkJob(randomUUID()), () => bulkJobs.getBulkJob(randomUUID())]) {
      const err = await failure(call());
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err.code).toBe("BULK_JOB_NOT_FOUND");
    }
  });

  it("cancelBulkJob stops a running job: what it did stays, nothing more happens", async () => {
    const { contacts, labels, bulkJobs } = clientFor(tenant("cancel-running"));
    const { label } = await labels.findOrCreateLabel("Stopped");
    await inParallel(600, 8, (i) => contacts.createContact({ name: { first: `Many${i}`, last: "Cancelled" } }));

    const { jobId } = await contacts.bulkLabelAndUnlabelContacts({ search: "Cancelled", labelKeysToAdd: [label.key] });
    const labelled = async () => (await contacts.queryContacts().hasSome("info.labelKeys", [label.key]).limit(1).find()).totalCount;
    // Cancel once the first batch has committed, so that the job has work behind it and ahead of it.
    let before = await bulkJobs.getBulkJob(jobId);
    while (before.successTotal === 0 && before.status !== "COMPLETED") {
      await sleep(2);
      before = await bulkJobs.getBulkJob(jobId);
    }
    let cancelled: BulkJob;
    try {
      cancelled = await bulkJobs.cancelBulkJob(jobId);
    } catch (err) {
      // The job won the race (600 contacts in a few batches can be quick): then it is complete.
      expect((err as ContactsApiError).code).toBe("BULK_JOB_ALREADY_FINISHED");
      expect(await bulkJobs.getBulkJob(jobId)).toMatchObject({ status: "COMPLETED", successTotal: 600 });
      expect(await labelled()).toBe(600);
      return;
    }
    expect(cancelled).toMatchObject({ _id: jobId, type: "ADD_LABELS", status: "CANCELLED" });
    expectFinishedDates(cancelled);
    expect(cancelled.totalItems).toBe(600);
    expect(cancelled.successTotal).toBeGreaterThanOrEqual(before.successTotal);
    expect(cancelled.successTotal + cancelled.failedTotal + cancelled.skippedTotal).toBeLessThan(600);
    expect(await labelled()).toBe(cancelled.successTotal);

    // waitForJob ends at once on a cancelled job; nothing moves after the cancel returned.
    expect(await bulkJobs.waitForJob(jobId)).toEqual(cancelled);
    await sleep(300);
    expect(await bulkJobs.getBulkJob(jobId)).toEqual(cancelled);
    expect(await labelled()).toBe(cancelled.successTotal);
    // A repeated cancel (a retry whose first answer was lost) gets the cancelled job again.
    expect(await bulkJobs.cancelBulkJob(jobId)).toEqual(cancelled);
  });

  it("waitForJob gives up with a DeadlineExceededError at timeoutMs and a CancelledError when its signal aborts", async () => {
    // Every GetBulkJob answer reads RUNNING, so the job never finishes as far as waitForJob knows.
    const stuck: Interceptor = (next) => async (req) => {
      const res = await next(req);
      if (!res.stream && isMessage(res.message, GetBulkJobResponseSchema) && res.message.job) res.message.job.status = BulkJobStatus.RUNNING;
      return res;
    };
    const tenantId = tenant("wait");
    const { contacts } = clientFor(tenantId);
    const { bulkJobs } = clientFor(tenantId, { transport: createGrpcTransport({ baseUrl: suite.server.grpcUrl, interceptors: [stuck] }) });
    await contacts.createContact({ name: { first: "Waited" } });
    const { jobId } = await contacts.bulkUpdateContacts({ search: "Waited", info: { company: "W" }, fieldMask: ["info.company"] });

    let polls = 0;
    const began = Date.now();
    const late = await failure(bulkJobs.waitForJob(jobId, { timeoutMs: 300, pollIntervalMs: 40, onProgress: () => polls++ }));
    const took = Date.now() - began;
    expect(late).toBeInstanceOf(DeadlineExceededError);
    expect(late.details).toEqual({ jobId, status: "RUNNING" });
    expect(late.message).toContain(jobId);
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(5_000);
    expect(polls).toBeGreaterThanOrEqual(3);

    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const stopped = await failure(bulkJobs.waitForJob(jobId, { signal: ac.signal, pollIntervalMs: 40 }));
    expect(stopped).toBeInstanceOf(CancelledError);
    expect(stopped.details).toEqual({ jobId, status: "RUNNING" });

    // An exception of onProgress ends the wait with it.
    const boom = new Error("progress display broke");
    await expect(
      bulkJobs.waitForJob(jobId, {
        onProgress: () => {
          throw boom;
        },
      }),
    ).rejects.toBe(boom);
  });
});
