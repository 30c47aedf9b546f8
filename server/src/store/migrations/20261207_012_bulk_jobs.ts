import type { Knex } from "knex";
import { binaryText as textOf } from "./binary-text.js";

/**
 * Bulk jobs (services/bulk-jobs.ts). `bulk_jobs` holds a job's request, status, counters and the
 * lease of the server running it; `bulk_job_items` the contacts it covers, one row each, with what
 * became of it. An item's state changes in the transaction that processes its contact, so a
 * crash between batches loses or repeats nothing: the next run takes the items still pending.
 */
export const name = "20261207_012_bulk_jobs";

export async function up(knex: Knex): Promise<void> {
  const binaryText = textOf(knex);
  await knex.schema.createTable("bulk_jobs", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("id", 36).notNullable();
    t.string("type", 20).notNullable();
    // NEW, LOADING, RUNNING, COMPLETED, CANCELLED, FAILED.
    t.string("status", 12).notNullable();
    // The job's filter, search and change (services/bulk-jobs.ts BulkJobParams) as JSON.
    t.text("params", "longtext").notNullable();
    // Who started it: recorded on the events of the contacts it changes.
    t.string("subject", 200).notNullable();
    t.string("identity_type", 20).notNullable();
    t.bigInteger("created_at").notNullable();
    t.bigInteger("finished_at").nullable();
    t.integer("total_items").notNullable().defaultTo(0);
    t.integer("success_total").notNullable().defaultTo(0);
    t.integer("failed_total").notNullable().defaultTo(0);
    t.integer("skipped_total").notNullable().defaultTo(0);
    // Loading: the cursor after the last page of matches stored as items.
    t.text("load_cursor").nullable();
    t.string("failure_reason", 500).nullable();
    // The server process running the job, until lease_until (epoch ms); another takes it over after.
    t.string("lease_owner", 64).nullable();
    t.bigInteger("lease_until").notNullable().defaultTo(0);
    t.primary(["tenant_id", "id"], "bulk_jobs_pk");
    t.index(["tenant_id", "created_at", "id"], "bulk_jobs_created_idx");
    // The runners' look for unfinished jobs whose lease has run out, across tenants.
    t.index(["status", "lease_until"], "bulk_jobs_status_idx");
    // Finished jobs past retention, across tenants (removed by the runners).
    t.index(["status", "finished_at"], "bulk_jobs_finished_idx");
  });
  await knex.schema.createTable("bulk_job_items", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("job_id", 36).notNullable();
    t.string("contact_id", 36).notNullable();
    // 0 pending, 1 done, 2 failed, 3 skipped (store/bulk-jobs.ts ItemState).
    t.tinyint("state").notNullable().defaultTo(0);
    t.string("error_code", 60).nullable();
    t.string("error_message", 500).nullable();
    t.primary(["tenant_id", "job_id", "contact_id"], "bulk_job_items_pk");
    // A job's pending items in contact order (its next batch), and its errors.
    t.index(["tenant_id", "job_id", "state", "contact_id"], "bulk_job_items_state_idx");
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("bulk_job_items");
  await knex.schema.dropTableIfExists("bulk_jobs");
}
