/**
 * Bulk jobs (reference §1.7, §2.12): BulkDeleteContacts, BulkUpdateContacts and
 * BulkLabelAndUnlabelContacts select contacts by filter and/or search and return a job at once;
 * a runner (services/bulk-job-runner.ts) then does the work in the background.
 *
 * Which contacts a job covers: those that match when it loads them (status LOADING, right after
 * the start: a walk of the matches in creation order, a page at a time, each page stored as the
 * job's items with the walk's cursor in one transaction). Each item is then processed once, in
 * batches of contacts in id order; a batch is one transaction that locks the job row, its
 * contacts, checks them against the filter and search again, changes those that still match,
 * records each item's outcome and appends the events. A contact deleted since loading, or changed
 * so that it no longer matches, is skipped; contacts created after loading are not covered.
 */
import { randomUUID } from "node:crypto";
import type { JsonValue } from "@bufbuild/protobuf";
import type { ContactInfoJson } from "../../../gen/contacts/v1/contact_pb.js";
import type { Caller } from "../domain/caller.js";
import { normaliseInfo } from "../domain/contact-info.js";
import { validateExtendedFieldValues } from "../domain/contacts.js";
import { DomainError, failedPrecondition, invalidField, notFound } from "../domain/errors.js";
import * as jobs from "../store/bulk-jobs.js";
import { extendedFieldsByKey } from "../store/extended-field-defs.js";
import { inTransaction } from "../store/db.js";
import type { BulkJobRow } from "../store/tables.js";
import { selection } from "./contact-query.js";
import { assertLabelsExist } from "./contacts.js";
import type { ServiceDeps } from "./deps.js";
import { type MutationMeta, runMutation } from "./mutation.js";

/** What a job does to each contact. */
export type BulkChange = { kind: "delete" } | { kind: "update"; info: ContactInfoJson; mask?: string[] } | { kind: "labels"; add: string[]; remove: string[] };

/** A job's request, stored with it (bulk_jobs.params). */
export interface BulkJobParams {
  /** The filter as sent (null: none). */
  filter: JsonValue | null;
  /** The search, trimmed ("" for none). */
  search: string;
  change: BulkChange;
}

export type BulkJobType = "DELETE" | "UPDATE" | "ADD_LABELS" | "REMOVE_LABELS" | "ADD_REMOVE_LABELS";
export type BulkJobStatus = "NEW" | "LOADING" | "RUNNING" | "COMPLETED" | "CANCELLED" | "FAILED";

export interface BulkJobError {
  contactId: string;
  code: string;
  message: string;
}

export interface BulkJob {
  id: string;
  type: BulkJobType;
  status: BulkJobStatus;
  /** Epoch ms. */
  startedDate: number;
  finishedDate?: number;
  totalItems: number;
  successTotal: number;
  failedTotal: number;
  skippedTotal: number;
  errors: BulkJobError[];
  failureReason?: string;
}

/** Most errors GetBulkJob returns (failed_total counts them all). */
export const JOB_ERRORS_MAX = 1000;

function typeOf(change: BulkChange): BulkJobType {
  if (change.kind === "delete") return "DELETE";
  if (change.kind === "update") return "UPDATE";
  if (change.add.length > 0 && change.remove.length > 0) return "ADD_REMOVE_LABELS";
  return change.add.length > 0 ? "ADD_LABELS" : "REMOVE_LABELS";
}

/** True when a filter selects something narrower than "everything" (an empty one does not). */
function hasFilter(filter: JsonValue | undefined): boolean {
  return filter !== undefined && filter !== null && !(typeof filter === "object" && !Array.isArray(filter) && Object.keys(filter).length === 0);
}

/** Checks what a job will apply, once, when it starts: the same for every contact. */
async function validateChange(deps: ServiceDeps, caller: Caller, change: BulkChange): Promise<BulkChange> {
  switch (change.kind) {
    case "delete":
      return change;
    case "labels":
      if (change.add.length === 0 && change.remove.length === 0) {
        throw invalidField("INVALID_LABEL_KEY", "label_keys_to_add", "give at least one label key to add or to remove");
      }
      await assertLabelsExist(deps.db, caller, [...new Set([...change.add, ...change.remove])]);
      return change;
    case "update": {
      // The values themselves (emails, phones, dates, …) are checked here for every contact alike;
      // what depends on each contact (duplicates, the result having a name, email or phone) is
      // checked per contact by the job.
      const info = normaliseInfo(change.info);
      if (!change.mask && Object.keys(info).length === 0) {
        throw invalidField("INVALID_CONTACT_INFO", "info", "has nothing to apply");
      }
      const items = info.extendedFields?.items ?? {};
      if (Object.keys(items).length > 0) {
        const defs = await extendedFieldsByKey(deps.db, caller.tenantId, Object.keys(items));
        validateExtendedFieldValues(items as Record<string, JsonValue>, defs, caller);
      }
      await assertLabelsExist(deps.db, caller, info.labelKeys?.items ?? []);
      return change;
    }
  }
}

/** Starts a job and returns its id at once (the runner picks it up). */
export async function startBulkJob(
  deps: ServiceDeps,
  caller: Caller,
  filter: JsonValue | undefined,
  search: string | undefined,
  change: BulkChange,
  meta: MutationMeta,
): Promise<{ jobId: string }> {
  const given = hasFilter(filter) ? (filter as JsonValue) : undefined;
  if (given === undefined && !search?.trim()) {
    throw new DomainError("invalid_argument", "NEITHER_FILTER_NOR_SEARCH", "a bulk job needs a filter or a search", {}, [
      { field: "filter", description: "give a filter, a search, or both" },
    ]);
  }
  await deps.tenants.ensure(caller.tenantId);
  // Refuses a bad filter or search now, rather than as a failed job.
  const selected = await selection(deps, caller, given, search, { filter: "filter", search: "search" });
  const checked = await validateChange(deps, caller, change);
  const params: BulkJobParams = { filter: given ?? null, search: selected.search, change: checked };
  const result = await runMutation(deps, caller, meta, async (trx) => {
    const id = randomUUID();
    await jobs.insertJob(trx, {
      tenant_id: caller.tenantId,
      id,
      type: typeOf(checked),
      status: "NEW",
      params: JSON.stringify(params),
      subject: caller.subject,
      identity_type: caller.identityType,
      created_at: Date.now(),
      finished_at: null,
      total_items: 0,
      success_total: 0,
      failed_total: 0,
      skipped_total: 0,
      load_cursor: null,
      failure_reason: null,
      lease_owner: null,
      lease_until: 0,
    });
    return { jobId: id };
  });
  deps.bulkJobs?.wake();
  return result;
}

function jobFromRow(row: BulkJobRow, errors: BulkJobError[] = []): BulkJob {
  return {
    id: row.id,
    type: row.type as BulkJobType,
    status: row.status as BulkJobStatus,
    startedDate: Number(row.created_at),
    ...(row.finished_at === null ? {} : { finishedDate: Number(row.finished_at) }),
    totalItems: Number(row.total_items),
    successTotal: Number(row.success_total),
    failedTotal: Number(row.failed_total),
    skippedTotal: Number(row.skipped_total),
    errors,
    ...(row.failure_reason ? { failureReason: row.failure_reason } : {}),
  };
}

export function bulkJobNotFound(id: string): DomainError {
  return notFound("BULK_JOB_NOT_FOUND", `bulk job "${id}" not found`, { jobId: id });
}

async function withErrors(deps: ServiceDeps, row: BulkJobRow): Promise<BulkJob> {
  const failed = Number(row.failed_total) > 0 ? await jobs.failedItems(deps.db, row.tenant_id, row.id, JOB_ERRORS_MAX) : [];
  return jobFromRow(
    row,
    failed.map((f) => ({ contactId: f.contact_id, code: f.error_code ?? "", message: f.error_message ?? "" })),
  );
}

export async function getBulkJob(deps: ServiceDeps, caller: Caller, id: string): Promise<BulkJob> {
  const row = await jobs.getJob(deps.db, caller.tenantId, id);
  if (!row) throw bulkJobNotFound(id);
  return withErrors(deps, row);
}

/** A page of the tenant's jobs, newest first, without their errors. */
export async function listBulkJobs(deps: ServiceDeps, caller: Caller, offset: number, limit: number): Promise<{ jobs: BulkJob[]; total: number }> {
  const [rows, total] = await Promise.all([jobs.listJobs(deps.db, caller.tenantId, offset, limit), jobs.countJobs(deps.db, caller.tenantId)]);
  return { jobs: rows.map((r) => jobFromRow(r)), total };
}

/**
 * Cancels a job; cancelling a cancelled job again returns it. It takes the job's row lock, which a running batch holds until it commits: when
 * this returns, no batch of the job is in flight and none will start.
 */
export async function cancelBulkJob(deps: ServiceDeps, caller: Caller, id: string): Promise<BulkJob> {
  const row = await inTransaction(deps.db, async (trx) => {
    const job = await jobs.lockJob(trx, caller.tenantId, id);
    if (!job) throw bulkJobNotFound(id);
    // A repeat (a retry whose first answer was lost) gets the cancelled job again.
    if (job.status === "CANCELLED") return job;
    if (!(jobs.UNFINISHED as readonly string[]).includes(job.status)) {
      throw failedPrecondition("BULK_JOB_ALREADY_FINISHED", `bulk job "${id}" is already ${job.status.toLowerCase()}`, {
        jobId: id,
        status: job.status,
      });
    }
    const change = { status: "CANCELLED", finished_at: Date.now(), lease_owner: null, lease_until: 0 };
    await jobs.updateJob(trx, caller.tenantId, id, change);
    return { ...job, ...change };
  });
  return withErrors(deps, row);
}
