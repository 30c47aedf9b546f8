import type { Knex } from "knex";
import { binaryText as textOf } from "./binary-text.js";

/**
 * Webhook subscriptions (services/webhooks.ts) and their delivery log. A subscription's row holds
 * its position in the tenant's event log (`cursor_seq`: delivered, or not of its types, up to
 * there), the retry state of the event at that position, and the lease of the server delivering
 * it, so that exactly one server sends a subscription's events, in order.
 */
export const name = "20261208_013_webhooks";

export async function up(knex: Knex): Promise<void> {
  const binaryText = textOf(knex);
  await knex.schema.createTable("webhooks", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("id", 36).notNullable();
    t.string("url", 2048).notNullable();
    t.string("description", 500).notNullable().defaultTo("");
    // JSON array of event type names.
    t.string("event_types", 1000).notNullable();
    t.string("secret", 100).notNullable();
    // The secret before the last rotation, still signing until previous_secret_until (epoch ms).
    t.string("previous_secret", 100).nullable();
    t.bigInteger("previous_secret_until").notNullable().defaultTo(0);
    // ACTIVE or DISABLED.
    t.string("status", 10).notNullable();
    t.bigInteger("created_at").notNullable();
    t.bigInteger("cursor_seq").notNullable();
    // Failed attempts at the event after cursor_seq, since when, and when to try again.
    t.integer("failures").notNullable().defaultTo(0);
    t.bigInteger("failing_since").nullable();
    t.bigInteger("next_attempt_at").notNullable().defaultTo(0);
    t.string("last_error", 500).nullable();
    t.bigInteger("last_error_at").nullable();
    t.bigInteger("last_delivered_at").nullable();
    t.bigInteger("disabled_at").nullable();
    t.string("lease_owner", 64).nullable();
    t.bigInteger("lease_until").notNullable().defaultTo(0);
    t.primary(["tenant_id", "id"], "webhooks_pk");
    // The dispatchers' look for active subscriptions that are due, across tenants.
    t.index(["status", "next_attempt_at"], "webhooks_due_idx");
  });
  await knex.schema.createTable("webhook_attempts", (t) => {
    binaryText(t);
    t.bigIncrements("id").primary();
    t.string("tenant_id", 64).notNullable();
    t.string("webhook_id", 36).notNullable();
    t.string("event_id", 36).notNullable();
    t.string("event_type", 40).notNullable();
    t.string("entity_id", 100).notNullable();
    t.bigInteger("event_seq").notNullable();
    t.integer("attempt").notNullable();
    t.bigInteger("at").notNullable();
    t.integer("duration_ms").notNullable();
    t.integer("status_code").notNullable();
    t.boolean("delivered").notNullable();
    t.string("error", 500).nullable();
    // A subscription's log, newest first.
    t.index(["tenant_id", "webhook_id", "id"], "webhook_attempts_log_idx");
    // Attempts past retention, across tenants.
    t.index(["at"], "webhook_attempts_at_idx");
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("webhook_attempts");
  await knex.schema.dropTableIfExists("webhooks");
}
