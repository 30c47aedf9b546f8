import type { Knex } from "knex";

/**
 * Contacts. The contact itself is one row (its stored document plus the columns lookups need);
 * emails, phones, labels and extended field keys are also kept in narrow index tables so that
 * duplicate checks, label and field deletion and filters are index lookups, never scans.
 */
export const name = "20261128_002_contacts";

export async function up(knex: Knex): Promise<void> {
  const mysql = knex.client.config.client === "mysql2";
  const binaryText = (t: Knex.CreateTableBuilder) => {
    if (!mysql) return;
    t.charset("utf8mb4");
    t.collate("utf8mb4_bin");
  };

  await knex.schema.createTable("contacts", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("id", 36).notNullable();
    t.integer("revision").notNullable();
    t.bigInteger("created_at").notNullable();
    t.bigInteger("updated_at").notNullable();
    t.string("member_id", 100).nullable();
    // The stored contact (domain/contacts.ts StoredContact) as JSON.
    t.text("doc", "longtext").notNullable();
    t.primary(["tenant_id", "id"], "contacts_pk");
    t.index(["tenant_id", "created_at", "id"], "contacts_created_idx");
  });

  await knex.schema.createTable("contact_emails", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("contact_id", 36).notNullable();
    // Trimmed, lower-cased email.
    t.string("email_key", 320).notNullable();
    t.primary(["tenant_id", "contact_id", "email_key"], "contact_emails_pk");
    t.index(["tenant_id", "email_key"], "contact_emails_key_idx");
  });

  await knex.schema.createTable("contact_phones", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("contact_id", 36).notNullable();
    // E.164 form, else the digits.
    t.string("phone_key", 50).notNullable();
    t.primary(["tenant_id", "contact_id", "phone_key"], "contact_phones_pk");
    t.index(["tenant_id", "phone_key"], "contact_phones_key_idx");
  });

  await knex.schema.createTable("contact_labels", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("contact_id", 36).notNullable();
    t.string("label_key", 80).notNullable();
    t.primary(["tenant_id", "contact_id", "label_key"], "contact_labels_pk");
    t.index(["tenant_id", "label_key", "contact_id"], "contact_labels_key_idx");
  });

  await knex.schema.createTable("contact_field_values", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("contact_id", 36).notNullable();
    t.string("field_key", 80).notNullable();
    t.primary(["tenant_id", "contact_id", "field_key"], "contact_field_values_pk");
    t.index(["tenant_id", "field_key", "contact_id"], "contact_field_values_key_idx");
  });

  // One row per duplicate-check key ever used; writers lock the rows of their keys so that two
  // creates of the same email serialise instead of both seeing "no duplicate".
  await knex.schema.createTable("dedupe_locks", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("lock_key", 400).notNullable();
    t.primary(["tenant_id", "lock_key"], "dedupe_locks_pk");
  });

  // Merged-away contact ids and the contact they now resolve to (always the final target).
  await knex.schema.createTable("contact_redirects", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("source_id", 36).notNullable();
    t.string("target_id", 36).notNullable();
    t.bigInteger("created_at").notNullable();
    t.primary(["tenant_id", "source_id"], "contact_redirects_pk");
    t.index(["tenant_id", "target_id"], "contact_redirects_target_idx");
  });

  // Deleted labels and fields still to be removed from contacts, batch by batch.
  await knex.schema.createTable("cleanup_jobs", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("kind", 20).notNullable();
    t.string("key", 80).notNullable();
    t.bigInteger("created_at").notNullable();
    t.primary(["tenant_id", "kind", "key"], "cleanup_jobs_pk");
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    "cleanup_jobs",
    "contact_redirects",
    "dedupe_locks",
    "contact_field_values",
    "contact_labels",
    "contact_phones",
    "contact_emails",
    "contacts",
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
