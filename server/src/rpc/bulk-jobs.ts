import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { type BulkJob, BulkJobSchema, BulkJobStatus, BulkJobType } from "../../../gen/contacts/v1/bulk_job_pb.js";
import {
  BulkDeleteContactsRequestSchema,
  BulkDeleteContactsResponseSchema,
  BulkLabelAndUnlabelContactsRequestSchema,
  BulkLabelAndUnlabelContactsResponseSchema,
  BulkUpdateContactsRequestSchema,
  BulkUpdateContactsResponseSchema,
  CancelBulkJobResponseSchema,
  type ContactsService,
  GetBulkJobResponseSchema,
  ListBulkJobsResponseSchema,
} from "../../../gen/contacts/v1/contacts_service_pb.js";
import { normaliseLabelKeys, parseFieldMask } from "../domain/contact-info.js";
import { invalidField } from "../domain/errors.js";
import { CONTACT_QUERY_CODES, resolvePage } from "../domain/query.js";
import * as bulk from "../services/bulk-jobs.js";
import type { ServiceDeps } from "../services/deps.js";
import type { MutationMeta } from "../services/mutation.js";
import { mutationMeta, pagingMetadata } from "./common.js";
import { callerOf, depsFor } from "./context.js";
import { infoToJson } from "./contacts.js";

type BulkMethods = "bulkDeleteContacts" | "bulkUpdateContacts" | "bulkLabelAndUnlabelContacts" | "getBulkJob" | "listBulkJobs" | "cancelBulkJob";

const JOB_ID_MAX = 100;
const LABEL_KEYS_MAX = 100;
const JOB_PAGING = { defaultLimit: 100, maxLimit: 100, overMax: "coerce" } as const;

function validateJobId(id: string): string {
  if (id.length === 0) throw invalidField("INVALID_BULK_JOB_ID", "id", "is required");
  if (id.length > JOB_ID_MAX) throw invalidField("INVALID_BULK_JOB_ID", "id", `must be at most ${JOB_ID_MAX} characters`);
  return id;
}

export function bulkJobToProto(job: bulk.BulkJob): BulkJob {
  return create(BulkJobSchema, {
    id: job.id,
    type: BulkJobType[job.type],
    status: BulkJobStatus[job.status],
    startedDate: timestampFromMs(job.startedDate),
    ...(job.finishedDate === undefined ? {} : { finishedDate: timestampFromMs(job.finishedDate) }),
    totalItems: job.totalItems,
    successTotal: job.successTotal,
    failedTotal: job.failedTotal,
    skippedTotal: job.skippedTotal,
    errors: job.errors,
    failureReason: job.failureReason ?? "",
  });
}

function start(deps: ServiceDeps, ctx: HandlerContext, filter: JsonObject | undefined, search: string, change: bulk.BulkChange, meta: MutationMeta) {
  return bulk.startBulkJob(depsFor(deps, ctx), callerOf(ctx), filter, search, change, meta);
}

/** The bulk methods of ContactsService (reference §2.12) and the bulk jobs they start. */
export function bulkJobHandlers(deps: ServiceDeps): Pick<ServiceImpl<typeof ContactsService>, BulkMethods> {
  return {
    async bulkDeleteContacts(req, ctx) {
      const meta = mutationMeta(ctx, BulkDeleteContactsRequestSchema, req);
      const { jobId } = await start(deps, ctx, req.filter, req.search, { kind: "delete" }, meta);
      return create(BulkDeleteContactsResponseSchema, { jobId });
    },

    async bulkUpdateContacts(req, ctx) {
      if (!req.info) throw invalidField("INVALID_CONTACT_INFO", "info", "is required");
      const mask = req.fieldMask ? parseFieldMask(req.fieldMask.paths) : undefined;
      const change: bulk.BulkChange = { kind: "update", info: infoToJson(req.info), ...(mask && mask.length > 0 ? { mask } : {}) };
      const meta = mutationMeta(ctx, BulkUpdateContactsRequestSchema, req);
      const { jobId } = await start(deps, ctx, req.filter, req.search, change, meta);
      return create(BulkUpdateContactsResponseSchema, { jobId });
    },

    async bulkLabelAndUnlabelContacts(req, ctx) {
      const add = normaliseLabelKeys(req.labelKeysToAdd, "label_keys_to_add", LABEL_KEYS_MAX);
      const remove = normaliseLabelKeys(req.labelKeysToRemove, "label_keys_to_remove", LABEL_KEYS_MAX);
      const meta = mutationMeta(ctx, BulkLabelAndUnlabelContactsRequestSchema, req);
      const { jobId } = await start(deps, ctx, req.filter, req.search, { kind: "labels", add, remove }, meta);
      return create(BulkLabelAndUnlabelContactsResponseSchema, { jobId });
    },

    async getBulkJob(req, ctx) {
      const job = await bulk.getBulkJob(depsFor(deps, ctx), callerOf(ctx), validateJobId(req.id));
      return create(GetBulkJobResponseSchema, { job: bulkJobToProto(job) });
    },

    async listBulkJobs(req, ctx) {
      const { limit, offset } = resolvePage(req.paging?.limit, req.paging?.offset, JOB_PAGING, CONTACT_QUERY_CODES, "paging");
      const page = await bulk.listBulkJobs(depsFor(deps, ctx), callerOf(ctx), offset, limit);
      return create(ListBulkJobsResponseSchema, {
        jobs: page.jobs.map(bulkJobToProto),
        pagingMetadata: pagingMetadata({ count: page.jobs.length, offset, total: page.total, hasNext: offset + page.jobs.length < page.total }),
      });
    },

    async cancelBulkJob(req, ctx) {
      const job = await bulk.cancelBulkJob(depsFor(deps, ctx), callerOf(ctx), validateJobId(req.id));
      return create(CancelBulkJobResponseSchema, { job: bulkJobToProto(job) });
    },
  };
}
