/**
 * Runs bulk jobs in the background (services/bulk-jobs.ts says what a job covers). Every server
 * process has one runner. It takes unfinished jobs whose lease has run out — started here or on
 * another server, or left by a server that crashed — holds each job's lease while it works on it,
 * and renews it with every step. Each step is one transaction that begins by locking the job's row
 * and checking that this runner still holds the lease, so two servers never work on one job at
 * once, and a crash loses nothing but the step in flight, which rolled back.
 */
import type { Knex } from "knex";
import type { Caller } from "../domain/caller.js";
import { changedPaths } from "../domain/contact-info.js";
import { DEFAULT_CONTACT_SORT } from "../domain/contact-query.js";
import { assertDeletable, type StoredContact } from "../domain/contacts.js";
import { DomainError } from "../domain/errors.js";
import type { NewEvent } from "../domain/events.js";
import type { Scalar } from "../domain/query.js";
import * as jobs from "../store/bulk-jobs.js";
import { queryContactPage, matchingIds } from "../store/contact-queries.js";
import type { ContactChange } from "../store/contacts.js";
import * as contactsStore from "../store/contacts.js";
import { type Db, inTransaction } from "../store/db.js";
import { appendEvents } from "../store/events.js";
import type { BulkJobRow } from "../store/tables.js";
import type { BulkChange, BulkJobError, BulkJobParams } from "./bulk-jobs.js";
import { type Selection, selection } from "./contact-query.js";
import { changedContact, contactEvent, relabelledInfo, updatedInfo } from "./contacts.js";
import type { ServiceDeps } from "./deps.js";

export interface BulkJobRunnerOptions {
  /** This process's name in job leases: unique per process. */
  owner: string;
  /** Contacts per batch (one transaction). `BULK_JOB_BATCH`, default 200. */
  batchSize: number;
  /** Matches stored per loading step. Default 1000 (a query's largest page). */
  loadPage: number;
  /**
   * How long a job stays with this runner without a step: after a crash, another server (or this
   * one restarted) takes the job over once it has run out. `BULK_JOB_LEASE_MS`, default 30 000.
   */
  leaseMs: number;
  /** How often the runner looks for jobs started on other servers or left by a crash. `BULK_JOB_POLL_MS`, default 2000. */
  pollMs: number;
  /** How long a finished job (and its items) is kept, in ms. `BULK_JOB_RETENTION_DAYS`, default 30 days. */
  retentionMs: number;
  /** Jobs this process runs at once. `BULK_JOB_CONCURRENCY`, default 2; 0 (tests) takes none but those stepped by stepJob. */
  concurrency: number;
}

/** A batch's contact writes that wait for the end of the batch. */
interface Writes {
  updated: ContactChange[];
  deleted: StoredContact[];
}

export type StepResult = "more" | "done" | "lost";

const key = (j: { tenant_id: string; id: string }) => `${j.tenant_id}\u0000${j.id}`;

function callerOf(job: BulkJobRow): Caller {
  return { tenantId: job.tenant_id, subject: job.subject, identityType: job.identity_type as Caller["identityType"] };
}

/** A member cannot be deleted; in a bulk delete the reference calls that CANNOT_DELETE_SITE_MEMBERS. */
function assertBulkDeletable(c: StoredContact): void {
  try {
    assertDeletable(c);
  } catch (err) {
    if (err instanceof DomainError && err.reason === "CANNOT_DELETE_MEMBER") {
      throw new DomainError(err.kind, "CANNOT_DELETE_SITE_MEMBERS", err.message, err.metadata);
    }
    throw err;
  }
}

export class BulkJobRunner {
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private pollAgain = false;
  private stopped = false;

  constructor(
    private readonly deps: ServiceDeps,
    private readonly options: BulkJobRunnerOptions,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.schedule(0);
  }

  /** A job was started here: look for work now rather than at the next poll. */
  wake(): void {
    if (!this.stopped) this.schedule(0);
  }

  /** Stops taking jobs, lets the steps in flight commit, and gives the leases up for others to take. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
    await Promise.all(this.running.values());
  }

  /**
   * Takes the job (if its lease is free) and runs one step of it: "more" when it has more to do,
   * "done", or "lost" when another runner holds it. For tests and tools that drive a job step by
   * step, on a server whose runner takes no jobs by itself (concurrency 0).
   */
  async stepJob(tenantId: string, id: string): Promise<StepResult> {
    if (!(await jobs.claimJob(this.deps.db, tenantId, id, this.options.owner, Date.now(), this.options.leaseMs))) return "lost";
    const job = await jobs.getJob(this.deps.db, tenantId, id);
    return job ? this.step(job) : "done";
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.poll(), ms);
    this.timer.unref();
  }

  private poll(): void {
    if (this.stopped) return;
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.polling = this.takeJobs()
      .catch(this.onError)
      .finally(() => {
        this.polling = undefined;
        const again = this.pollAgain;
        this.pollAgain = false;
        if (!this.stopped) this.schedule(again ? 0 : this.options.pollMs);
      });
  }

  private async takeJobs(): Promise<void> {
    const db = this.deps.db;
    // A few finished jobs past retention go with each look for work.
    for (const job of await jobs.expiredJobs(db, Date.now() - this.options.retentionMs, 5)) {
      if (this.stopped) return;
      await jobs.deleteJob(db, job.tenant_id, job.id);
    }
    const free = this.options.concurrency - this.running.size;
    if (free <= 0) return;
    const now = Date.now();
    for (const job of await jobs.claimableJobs(db, now, free + this.running.size)) {
      if (this.stopped || this.running.size >= this.options.concurrency) return;
      if (this.running.has(key(job))) continue;
      if (!(await jobs.claimJob(db, job.tenant_id, job.id, this.options.owner, now, this.options.leaseMs))) continue;
      const run = this.run(job.tenant_id, job.id).then(
        () => {
          this.running.delete(key(job));
          this.wake();
        },
        (err: unknown) => {
          // The job keeps its lease until it runs out: it is tried again then (here or on
          // another server), not at once in a loop while, say, the database is away.
          this.running.delete(key(job));
          this.onError(err);
        },
      );
      this.running.set(key(job), run);
    }
  }

  /**
   * Steps through a job until it is done, this runner stops, or another took it over; then gives
   * the lease up. A step that fails leaves the lease to run out.
   */
  private async run(tenantId: string, id: string): Promise<void> {
    const db = this.deps.db;
    for (;;) {
      if (this.stopped) break;
      const job = await jobs.getJob(db, tenantId, id);
      if (!job || job.lease_owner !== this.options.owner) return;
      if ((await this.step(job)) !== "more") break;
    }
    await jobs.releaseJob(db, tenantId, id, this.options.owner);
  }

  private async step(job: BulkJobRow): Promise<StepResult> {
    const params = JSON.parse(job.params) as BulkJobParams;
    const caller = callerOf(job);
    let selected: Selection;
    try {
      selected = await selection(this.deps, caller, params.filter ?? undefined, params.search, { filter: "filter", search: "search" });
    } catch (err) {
      // The filter was valid when the job started; it names a field deleted since.
      if (!(err instanceof DomainError)) throw err;
      return this.finish(job, { status: "FAILED", failure_reason: `the job's filter no longer applies: ${err.message}` });
    }
    switch (job.status) {
      case "NEW":
        return this.locked(job, async (trx) => {
          await jobs.updateJob(trx, job.tenant_id, job.id, { status: "LOADING", ...this.lease() });
          return "more";
        });
      case "LOADING":
        return this.load(job, selected);
      case "RUNNING":
        return this.batch(job, caller, selected, params.change);
      default:
        return "done";
    }
  }

  private lease(): Pick<BulkJobRow, "lease_until"> {
    return { lease_until: Date.now() + this.options.leaseMs };
  }

  /**
   * Runs `work` in a transaction holding the job's row lock, if this runner still holds its lease
   * and the job is where `seen` says it was (status, loading cursor); else changes nothing.
   */
  private locked(seen: BulkJobRow, work: (trx: Knex.Transaction, job: BulkJobRow) => Promise<StepResult>): Promise<StepResult> {
    return inTransaction(this.deps.db as Db, async (trx) => {
      const job = await jobs.lockJob(trx, seen.tenant_id, seen.id);
      if (!job || job.lease_owner !== this.options.owner) return "lost";
      if (job.status !== seen.status || job.load_cursor !== seen.load_cursor) return "more";
      return work(trx, job);
    });
  }

  private finish(job: BulkJobRow, change: Partial<BulkJobRow>): Promise<StepResult> {
    return this.locked(job, async (trx) => {
      await jobs.updateJob(trx, job.tenant_id, job.id, { ...change, finished_at: Date.now(), lease_owner: null, lease_until: 0 });
      return "done";
    });
  }

  /** One page of the job's matches, in creation order, stored as pending items with the walk's cursor. */
  private async load(job: BulkJobRow, selected: Selection): Promise<StepResult> {
    const after = job.load_cursor ? (JSON.parse(job.load_cursor) as [Scalar, string]) : undefined;
    const page = await queryContactPage(selected.cx, {
      filter: selected.filter,
      sort: DEFAULT_CONTACT_SORT,
      ...(selected.search ? { search: selected.search } : {}),
      limit: this.options.loadPage,
      ...(after ? { after } : {}),
    });
    const last = page.keys.at(-1);
    return this.locked(job, async (trx) => {
      await jobs.insertItems(
        trx,
        job.tenant_id,
        job.id,
        page.contacts.map((c) => c.id),
      );
      await jobs.updateJob(trx, job.tenant_id, job.id, {
        total_items: Number(job.total_items) + page.contacts.length,
        load_cursor: last ? JSON.stringify(last) : job.load_cursor,
        status: page.hasNext ? "LOADING" : "RUNNING",
        ...this.lease(),
      });
      return "more";
    });
  }

  /** One batch of pending items: each contact processed, its item's outcome and its event written together. */
  private batch(job: BulkJobRow, caller: Caller, selected: Selection, change: BulkChange): Promise<StepResult> {
    return this.locked(job, async (trx) => {
      const tenantId = job.tenant_id;
      const ids = await jobs.pendingItems(trx, tenantId, job.id, this.options.batchSize);
      if (ids.length === 0) {
        await jobs.updateJob(trx, tenantId, job.id, { status: "COMPLETED", finished_at: Date.now(), lease_owner: null, lease_until: 0 });
        return "done";
      }
      const contacts = new Map((await contactsStore.getContacts(trx, tenantId, ids, true)).map((c) => [c.id, c]));
      const matched = await matchingIds({ ...selected.cx, db: trx }, selected.filter, selected.search || undefined, [...contacts.keys()]);
      const missingLabels = change.kind === "labels" ? await this.missingLabels(trx, tenantId, change.add) : [];
      const done: string[] = [];
      const skipped: string[] = [];
      const failed: BulkJobError[] = [];
      const events: NewEvent[] = [];
      const writes: Writes = { updated: [], deleted: [] };
      const now = Date.now();
      for (const id of ids) {
        const before = contacts.get(id);
        if (!before || !matched.has(id)) {
          skipped.push(id);
          continue;
        }
        try {
          const event = await this.apply(trx, caller, before, change, missingLabels, now, writes);
          if (event) events.push(event);
          done.push(id);
        } catch (err) {
          // Each change refuses before it writes (services/contacts.ts updatedInfo): the batch goes on.
          if (!(err instanceof DomainError)) throw err;
          failed.push({ contactId: id, code: err.reason, message: err.message });
        }
      }
      await contactsStore.deleteContacts(trx, tenantId, writes.deleted);
      await contactsStore.updateContacts(trx, tenantId, writes.updated);
      await jobs.finishItems(trx, tenantId, job.id, done, skipped, failed);
      await jobs.updateJob(trx, tenantId, job.id, {
        success_total: Number(job.success_total) + done.length,
        failed_total: Number(job.failed_total) + failed.length,
        skipped_total: Number(job.skipped_total) + skipped.length,
        ...this.lease(),
      });
      await appendEvents(trx, caller, events);
      return "more";
    }).then((result) => {
      if (result === "more") this.deps.eventBus.notify(job.tenant_id);
      return result;
    });
  }

  /** Labels to add that were deleted since the job started. */
  private async missingLabels(trx: Knex.Transaction, tenantId: string, add: readonly string[]): Promise<string[]> {
    const existing = await contactsStore.existingLabelKeys(trx, tenantId, add);
    return add.filter((k) => !existing.has(k));
  }

  /**
   * Applies the job's change to one locked contact; its event, or none when nothing changed.
   * Deletes and label changes, which depend on no other contact, are collected in `writes` and
   * written for the whole batch at once; an update is written at once, because the next
   * contact's duplicate check must see it (a bulk update giving every contact one email).
   */
  private async apply(
    trx: Knex.Transaction,
    caller: Caller,
    before: StoredContact,
    change: BulkChange,
    missingLabels: readonly string[],
    now: number,
    writes: Writes,
  ): Promise<NewEvent | undefined> {
    if (change.kind === "delete") {
      assertBulkDeletable(before);
      writes.deleted.push(before);
      return contactEvent("contact_deleted", before);
    }
    let info: StoredContact["info"];
    if (change.kind === "labels") {
      const [missing] = missingLabels;
      if (missing !== undefined) throw new DomainError("not_found", "LABEL_NOT_FOUND", `label "${missing}" not found`, { labelKey: missing });
      info = relabelledInfo(before, change.add, change.remove);
    } else {
      info = await updatedInfo(trx, caller, before, { info: change.info, mask: change.mask, allowDuplicates: false });
    }
    const modifiedFields = changedPaths(before.info, info);
    if (modifiedFields.length === 0) return undefined;
    const after = changedContact(before, { info }, now);
    if (change.kind === "update") await contactsStore.updateContact(trx, caller.tenantId, before, after);
    else writes.updated.push({ before, after });
    return contactEvent("contact_updated", after, { modifiedFields });
  }
}
