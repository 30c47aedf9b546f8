import type { Knex } from "knex";
import { binaryText as textOf } from "./binary-text.js";

/**
 * Tenants, labels, extended fields, the event outbox and idempotency keys. Every table is keyed
 * by tenant first; timestamps are epoch milliseconds (BIGINT) so both stores compare them the
 * same way; text compares byte-wise and without padding (utf8mb4_nopad_bin: "a" and "a " differ)
 * as it does in SQLite.
 */
export const name = "20261128_001_initial";

export async function up(knex: Knex): Promise<void> {
  const binaryText = textOf(knex);
  await knex.schema.createTable("tenants", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    // The last event sequence number handed out; rows are locked to append events in commit order.
    t.bigInteger("event_seq").notNullable().defaultTo(0);
    // Events up to this sequence number were removed by retention; older cursors have expired.
    t.bigInteger("events_pruned_seq").notNullable().defaultTo(0);
    t.bigInteger("created_at").notNullable();
    t.primary(["tenant_id"], "tenants_pk");
  });

  await knex.schema.createTable("labels", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("key", 80).notNullable();
    t.string("namespace", 25).notNullable();
    t.string("namespace_display_name", 180).notNullable();
    t.string("display_name", 180).notNullable();
    // trim + lower-case display name: FindOrCreate matches on it and $startsWith searches it.
    t.string("name_key", 180).notNullable();
    t.string("label_type", 20).notNullable();
    // 0 for system labels, which have no dates.
    t.bigInteger("created_at").notNullable();
    t.bigInteger("updated_at").notNullable();
    t.primary(["tenant_id", "key"], "labels_pk");
    t.unique(["tenant_id", "name_key"], { indexName: "labels_name_key_uq" });
    t.index(["tenant_id", "created_at", "key"], "labels_created_idx");
  });

  await knex.schema.createTable("extended_fields", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("key", 80).notNullable();
    t.string("namespace", 25).notNullable();
    t.string("display_name", 150).notNullable();
    t.string("name_key", 150).notNullable();
    t.string("data_type", 10).notNullable();
    t.string("field_type", 20).notNullable();
    t.string("description", 150).nullable();
    t.bigInteger("created_at").notNullable();
    t.bigInteger("updated_at").notNullable();
    t.primary(["tenant_id", "key"], "extended_fields_pk");
    t.unique(["tenant_id", "name_key"], { indexName: "extended_fields_name_key_uq" });
    t.index(["tenant_id", "created_at", "key"], "extended_fields_created_idx");
  });

  await knex.schema.createTable("events", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    // Per-tenant position, handed out under the tenant row lock, so it is also commit order.
    t.bigInteger("seq").notNullable();
    t.string("id", 36).notNullable();
    t.string("event_type", 40).notNullable();
    t.string("entity_fqdn", 40).notNullable();
    t.string("slug", 10).notNullable();
    t.string("entity_id", 80).notNullable();
    t.bigInteger("entity_seq").notNullable();
    t.string("originated_from", 20).nullable();
    t.string("identity_type", 20).notNullable();
    t.string("subject", 200).notNullable();
    t.text("modified_fields").nullable();
    // The entity after the change (before it, for deletes) as JSON; see store/events.ts.
    t.text("payload", "longtext").notNullable();
    t.bigInteger("created_at").notNullable();
    t.primary(["tenant_id", "seq"], "events_pk");
    t.index(["tenant_id", "entity_fqdn", "entity_id", "entity_seq"], "events_entity_idx");
    t.index(["tenant_id", "created_at"], "events_created_idx");
  });

  await knex.schema.createTable("idempotency_keys", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("request_id", 64).notNullable();
    t.string("method", 100).notNullable();
    // sha256 of the request without its request_id: a reuse with another body is refused.
    t.string("fingerprint", 64).notNullable();
    t.text("response", "longtext").notNullable();
    t.bigInteger("created_at").notNullable();
    t.primary(["tenant_id", "request_id"], "idempotency_keys_pk");
    t.index(["tenant_id", "created_at"], "idempotency_keys_created_idx");
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ["idempotency_keys", "events", "extended_fields", "labels", "tenants"]) {
    await knex.schema.dropTableIfExists(table);
  }
}
