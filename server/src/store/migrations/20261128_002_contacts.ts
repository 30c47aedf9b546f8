import type { Knex } from "knex";
import { binaryText as textOf } from "./binary-text.js";

/**
 * Contacts. The contact itself is one row: its stored document plus the columns that filters,
 * sorts and lookups need (see store/contact-index.ts for how each is derived). Repeated parts
 * (emails, phones, addresses, labels, locations, extended field values, search tokens) also live
 * in narrow index tables, so duplicate checks, label and field removal, filters and search are
 * index lookups, never scans.
 *
 * Text columns come in threes where a field is filtered and sorted: the value as sent (exact
 * `$eq`), `_lc` its lower-case form (`$startsWith`, case-insensitive), and `_key` the first 190
 * characters of `_lc`, indexed (InnoDB cannot index 1000-character utf8mb4 columns) and used to
 * sort. Sort keys are never NULL ('' when absent) so keyset cursors compare simply.
 */
export const name = "20261128_002_contacts";

const KEY = 190;

export async function up(knex: Knex): Promise<void> {
  const binaryText = textOf(knex);
  const textTriple = (t: Knex.CreateTableBuilder, name: string, max: number) => {
    t.string(name, max).nullable();
    t.text(`${name}_lc`).nullable();
    t.string(`${name}_key`, KEY).notNullable().defaultTo("");
  };

  await knex.schema.createTable("contacts", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("id", 36).notNullable();
    t.integer("revision").notNullable();
    t.bigInteger("created_at").notNullable();
    t.bigInteger("updated_at").notNullable();
    t.bigInteger("last_activity_at").notNullable();
    t.string("member_id", 100).nullable();
    t.string("member_status", 30).nullable();
    textTriple(t, "first_name", 1000);
    textTriple(t, "last_name", 1000);
    textTriple(t, "company", 1000);
    textTriple(t, "job_title", 1000);
    textTriple(t, "primary_email", 320);
    t.string("birthdate", 10).nullable();
    t.string("locale", 50).nullable();
    t.string("primary_phone", 50).nullable();
    t.string("primary_phone_lc", 50).nullable();
    t.string("primary_phone_e164", 20).nullable();
    t.string("primary_phone_formatted", 60).nullable();
    t.string("primary_phone_formatted_key", 60).notNullable().defaultTo("");
    t.string("primary_phone_country", 2).nullable();
    t.string("primary_phone_country_key", 2).notNullable().defaultTo("");
    t.integer("label_count").notNullable().defaultTo(0);
    // The stored contact (domain/contacts.ts StoredContact) as JSON.
    t.text("doc", "longtext").notNullable();
    t.primary(["tenant_id", "id"], "contacts_pk");
    t.index(["tenant_id", "created_at", "id"], "contacts_created_idx");
    t.index(["tenant_id", "updated_at", "id"], "contacts_updated_idx");
    t.index(["tenant_id", "last_activity_at", "id"], "contacts_activity_idx");
    t.index(["tenant_id", "first_name_key", "id"], "contacts_first_name_idx");
    t.index(["tenant_id", "last_name_key", "id"], "contacts_last_name_idx");
    t.index(["tenant_id", "company_key", "first_name_key", "id"], "contacts_company_idx");
    t.index(["tenant_id", "job_title_key", "id"], "contacts_job_title_idx");
    t.index(["tenant_id", "primary_email_key", "id"], "contacts_primary_email_idx");
    t.index(["tenant_id", "birthdate", "id"], "contacts_birthdate_idx");
    t.index(["tenant_id", "locale"], "contacts_locale_idx");
    t.index(["tenant_id", "primary_phone_lc"], "contacts_primary_phone_idx");
    t.index(["tenant_id", "primary_phone_e164"], "contacts_primary_e164_idx");
    t.index(["tenant_id", "primary_phone_formatted_key", "id"], "contacts_primary_formatted_idx");
    t.index(["tenant_id", "primary_phone_country_key", "id"], "contacts_primary_country_idx");
    t.index(["tenant_id", "label_count", "created_at"], "contacts_label_count_idx");
  });

  await knex.schema.createTable("contact_emails", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("contact_id", 36).notNullable();
    // Trimmed, lower-cased email: duplicate checks, `$eq` and `$startsWith` (emails compare
    // case-insensitively everywhere).
    t.string("email_key", 320).notNullable();
    t.primary(["tenant_id", "contact_id", "email_key"], "contact_emails_pk");
    t.index(["tenant_id", "email_key"], "contact_emails_key_idx");
  });

  await knex.schema.createTable("contact_phones", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("contact_id", 36).notNullable();
    t.integer("position").notNullable();
    t.string("phone", 50).notNullable();
    t.string("phone_lc", 50).notNullable();
    t.string("e164", 20).nullable();
    // E.164 form, else the digits: the duplicate check.
    t.string("phone_key", 50).notNullable();
    t.primary(["tenant_id", "contact_id", "position"], "contact_phones_pk");
    t.index(["tenant_id", "phone_key"], "contact_phones_key_idx");
    t.index(["tenant_id", "phone_lc"], "contact_phones_phone_idx");
    t.index(["tenant_id", "e164"], "contact_phones_e164_idx");
  });

  await knex.schema.createTable("contact_addresses", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("contact_id", 36).notNullable();
    t.integer("position").notNullable();
    t.string("street", 1100).nullable();
    t.text("street_lc").nullable();
    t.string("street_key", KEY).notNullable().defaultTo("");
    t.string("city", 1000).nullable();
    t.text("city_lc").nullable();
    t.string("city_key", KEY).notNullable().defaultTo("");
    t.string("subdivision", 100).nullable();
    t.string("country", 2).nullable();
    t.primary(["tenant_id", "contact_id", "position"], "contact_addresses_pk");
    t.index(["tenant_id", "street_key"], "contact_addresses_street_idx");
    t.index(["tenant_id", "city_key"], "contact_addresses_city_idx");
    t.index(["tenant_id", "subdivision"], "contact_addresses_subdivision_idx");
    t.index(["tenant_id", "country"], "contact_addresses_country_idx");
  });

  await knex.schema.createTable("contact_labels", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("contact_id", 36).notNullable();
    t.string("label_key", 80).notNullable();
    // The contact's creation time (immutable): a label's contacts come newest first from the index.
    t.bigInteger("created_at").notNullable();
    t.primary(["tenant_id", "contact_id", "label_key"], "contact_labels_pk");
    t.index(["tenant_id", "label_key", "created_at", "contact_id"], "contact_labels_key_idx");
  });

  await knex.schema.createTable("contact_locations", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("contact_id", 36).notNullable();
    t.string("location_id", 100).notNullable();
    t.primary(["tenant_id", "contact_id", "location_id"], "contact_locations_pk");
    t.index(["tenant_id", "location_id", "contact_id"], "contact_locations_key_idx");
  });

  await knex.schema.createTable("contact_field_values", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("contact_id", 36).notNullable();
    t.string("field_key", 80).notNullable();
    // TEXT and URL values: as sent, lower-cased, and the indexed lower-case prefix.
    t.string("text_value", 2000).nullable();
    t.text("text_lc").nullable();
    t.string("text_key", KEY).nullable();
    t.double("num_value").nullable();
    t.string("date_value", 10).nullable();
    t.primary(["tenant_id", "contact_id", "field_key"], "contact_field_values_pk");
    t.index(["tenant_id", "field_key", "text_key", "contact_id"], "contact_field_values_text_idx");
    t.index(["tenant_id", "field_key", "num_value", "contact_id"], "contact_field_values_num_idx");
    t.index(["tenant_id", "field_key", "date_value", "contact_id"], "contact_field_values_date_idx");
  });

  // Lower-case words of names, emails and phones: free-text search is a prefix match per word.
  await knex.schema.createTable("contact_search_tokens", (t) => {
    binaryText(t);
    t.string("tenant_id", 64).notNullable();
    t.string("token", 100).notNullable();
    t.string("contact_id", 36).notNullable();
    t.primary(["tenant_id", "token", "contact_id"], "contact_search_tokens_pk");
    t.index(["tenant_id", "contact_id"], "contact_search_tokens_contact_idx");
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

const INDEX_TABLES = [
  "contact_emails",
  "contact_phones",
  "contact_addresses",
  "contact_labels",
  "contact_locations",
  "contact_field_values",
  "contact_search_tokens",
] as const;

export async function down(knex: Knex): Promise<void> {
  for (const table of ["cleanup_jobs", "contact_redirects", "dedupe_locks", ...INDEX_TABLES, "contacts"]) {
    await knex.schema.dropTableIfExists(table);
  }
}
