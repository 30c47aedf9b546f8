/**
 * `client.bulkJobs`: the jobs that the bulk contacts functions start (reference §1.7, the Bulk
 * Jobs API, which the reference serves over REST only), our `cancelBulkJob`, and `waitForJob`,
 * which polls a job until it is over.
 */
import { Code, createClient } from "@connectrpc/connect";
import { type CallOptions, runRead, sleep } from "./call.js";
import { request, toSdk } from "./codec.js";
import { apiError, ContactsApiError, InvalidSdkArgumentError } from "./errors.js";
import { BulkJobSchema } from "./gen/contacts/v1/bulk_job_pb.js";
import { CancelBulkJobRequestSchema, ContactsService, GetBulkJobRequestSchema, ListBulkJobsRequestSchema } from "./gen/contacts/v1/contacts_service_pb.js";
import { pagingOf, pagingToWire, requireString, type Runtime } from "./runtime.js";
import type { BulkJob, BulkJobStatus, Paging, PagingMetadata } from "./types.js";

/** Options of `listBulkJobs`. */
export interface ListBulkJobsOptions extends CallOptions {
  /** Offset paging. Default and maximum `limit` 100 (more is taken as 100). */
  paging?: Paging;
}

/** The answer of `listBulkJobs`. */
export interface ListBulkJobsResponse {
  /** The jobs of this page, newest first, without their `errors` (`getBulkJob` has them). */
  jobs: BulkJob[];
  /** Paging metadata. */
  pagingMetadata: PagingMetadata;
}

/** Options of `waitForJob`. */
export interface WaitForJobOptions {
  /**
   * Called with the job after every poll, the last (finished) one included, e.g. to show
   * `successTotal` of `totalItems`. An exception it throws rejects `waitForJob` with it.
   */
  onProgress?: (job: BulkJob) => void;
  /** Time between the end of one poll and the start of the next, in ms. Default 500. */
  pollIntervalMs?: number;
  /**
   * How long to wait for the job in all, in ms; then `waitForJob` rejects with a
   * DeadlineExceededError (`details.jobId`, `details.status`) and the job runs on. Default: no
   * limit. Each poll also has the client's per-call deadline.
   */
  timeoutMs?: number;
  /**
   * Stops waiting: `waitForJob` rejects with a CancelledError (`details.jobId`,
   * `details.status`). The job runs on; `cancelBulkJob` stops it.
   */
  signal?: AbortSignal;
}

/** The bulk jobs module: `client.bulkJobs`. */
export interface BulkJobsModule {
  /**
   * Returns a job with its counters and per-contact errors.
   *
   * @example
   * const job = await bulkJobs.getBulkJob(jobId);
   * console.log(job.status, job.successTotal, "of", job.totalItems);
   * @throws NotFoundError `BULK_JOB_NOT_FOUND`
   */
  getBulkJob(jobId: string, options?: CallOptions): Promise<BulkJob>;
  /**
   * Lists the tenant's jobs, newest first, at most 100 per page.
   *
   * @example
   * const { jobs, pagingMetadata } = await bulkJobs.listBulkJobs({ paging: { limit: 20 } });
   */
  listBulkJobs(options?: ListBulkJobsOptions): Promise<ListBulkJobsResponse>;
  /**
   * Stops a job and returns it, status `CANCELLED`, with its final counters: the contacts it
   * processed stay processed, the rest are untouched. Cancelling a cancelled job returns it again.
   * Not in the reference.
   *
   * @example
   * const job = await bulkJobs.cancelBulkJob(jobId);
   * @throws NotFoundError `BULK_JOB_NOT_FOUND`; FailedPreconditionError `BULK_JOB_ALREADY_FINISHED` (completed or failed)
   */
  cancelBulkJob(jobId: string, options?: CallOptions): Promise<BulkJob>;
  /**
   * Polls a job (`getBulkJob`) until it is `COMPLETED`, `CANCELLED` or `FAILED`, and resolves
   * with it then. Not in the reference. A poll that fails (after the client's usual retries of
   * UNAVAILABLE) rejects with its error.
   *
   * @example
   * const { jobId } = await contacts.bulkDeleteContacts({ search: "initech" });
   * const job = await bulkJobs.waitForJob(jobId, {
   *   onProgress: (j) => console.log(`${j.status} ${j.successTotal + j.failedTotal}/${j.totalItems}`),
   *   timeoutMs: 60_000,
   * });
   * @throws DeadlineExceededError when `timeoutMs` passes; CancelledError when `signal` aborts
   */
  waitForJob(jobId: string, options?: WaitForJobOptions): Promise<BulkJob>;
}

/** Default time between two polls of `waitForJob`: twice a second is enough for a progress display and light on the server. */
const DEFAULT_POLL_INTERVAL_MS = 500;
/** The statuses a job never leaves. */
const FINAL_STATUSES: ReadonlySet<BulkJobStatus> = new Set(["COMPLETED", "CANCELLED", "FAILED"]);

function jobOf(message: Parameters<typeof toSdk>[1] | undefined): BulkJob {
  if (!message) throw new Error("the server answered without a job");
  return toSdk<BulkJob>(BulkJobSchema, message);
}

function positive(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidSdkArgumentError(`waitForJob(): ${name} must be a positive number; got ${value}`);
  }
  return value;
}

/** Creates `client.bulkJobs`. */
export function bulkJobsModule(rt: Runtime): BulkJobsModule {
  const client = createClient(ContactsService, rt.transport);
  const ctx = rt.ctx;

  const getBulkJob = async (jobId: string, options?: CallOptions): Promise<BulkJob> => {
    const req = request(GetBulkJobRequestSchema, { id: requireString("getBulkJob", "jobId", jobId) }, "getBulkJob");
    const res = await runRead(ctx, options, req, (r, o) => client.getBulkJob(r, o));
    return jobOf(res.job);
  };

  return {
    getBulkJob,

    async listBulkJobs(options) {
      const req = request(ListBulkJobsRequestSchema, options?.paging ? { paging: pagingToWire(options.paging) } : {}, "listBulkJobs");
      const res = await runRead(ctx, options, req, (r, o) => client.listBulkJobs(r, o));
      return { jobs: res.jobs.map((j) => jobOf(j)), pagingMetadata: pagingOf(res.pagingMetadata) };
    },

    // CancelBulkJobRequest has no request_id, so this runs as a read: a retry after a lost answer
    // gets the cancelled job again.
    async cancelBulkJob(jobId, options) {
      const req = request(CancelBulkJobRequestSchema, { id: requireString("cancelBulkJob", "jobId", jobId) }, "cancelBulkJob");
      const res = await runRead(ctx, options, req, (r, o) => client.cancelBulkJob(r, o));
      return jobOf(res.job);
    },

    async waitForJob(jobId, options = {}) {
      requireString("waitForJob", "jobId", jobId);
      const { onProgress, signal } = options;
      if (onProgress !== undefined && typeof onProgress !== "function")
        throw new InvalidSdkArgumentError("waitForJob(): options.onProgress must be a function");
      const pollIntervalMs = positive("options.pollIntervalMs", options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS);
      const timeoutMs = options.timeoutMs === undefined ? undefined : positive("options.timeoutMs", options.timeoutMs);
      const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;

      let job: BulkJob | undefined;
      const stopped = (grpcCode: Code, why: string, cause?: unknown): ContactsApiError =>
        apiError({
          grpcCode,
          message: `waitForJob(): ${why}; job ${jobId} was ${job?.status ?? "not read yet"}`,
          details: { jobId, ...(job ? { status: job.status } : {}) },
          cause,
        });
      const timedOut = () => stopped(Code.DeadlineExceeded, `the job did not finish within ${timeoutMs} ms`);
      const aborted = () => stopped(Code.Canceled, "stopped waiting: the signal was aborted", signal?.reason);

      for (;;) {
        if (signal?.aborted) throw aborted();
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw timedOut();
        try {
          // A poll never outlasts the wait: its deadline is the client's, or what is left of timeoutMs.
          job = await getBulkJob(jobId, { timeoutMs: Math.min(ctx.timeoutMs, remaining), ...(signal ? { signal } : {}) });
        } catch (err) {
          if (signal?.aborted) throw aborted();
          if (err instanceof ContactsApiError && err.grpcCode === Code.DeadlineExceeded && Date.now() >= deadline) throw timedOut();
          throw err;
        }
        onProgress?.(job);
        if (FINAL_STATUSES.has(job.status)) return job;
        try {
          await sleep(Math.min(pollIntervalMs, Math.max(0, deadline - Date.now())), signal);
        } catch {
          throw aborted();
        }
      }
    },
  };
}
