import type { Knex } from "knex";
import * as initial from "./20261128_001_initial.js";
import * as contacts from "./20261128_002_contacts.js";
import * as widen from "./20261202_003_widen_lowercase.js";
import * as nameCreated from "./20261202_004_name_created_idx.js";
import * as fieldValuesCreated from "./20261202_005_field_values_created.js";
import * as searchTokensCreated from "./20261202_006_search_tokens_created.js";
import * as companyExact from "./20261202_007_company_exact.js";
import * as emailTokensMarked from "./20261202_008_email_tokens_marked.js";
import * as searchTokenWords from "./20261202_009_search_token_words.js";
import * as searchPrefixes from "./20261202_010_search_prefixes.js";
import * as namePrefixes from "./20261202_011_name_prefixes.js";
import * as bulkJobs from "./20261207_012_bulk_jobs.js";
import * as webhooks from "./20261208_013_webhooks.js";
import * as cleanups from "./20261208_014_cleanups.js";

interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** Every migration, in order. Imported statically so that tsx and the compiled build agree. */
const migrations: readonly Migration[] = [
  initial,
  contacts,
  widen,
  nameCreated,
  fieldValuesCreated,
  searchTokensCreated,
  companyExact,
  emailTokensMarked,
  searchTokenWords,
  searchPrefixes,
  namePrefixes,
  bulkJobs,
  webhooks,
  cleanups,
];

export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => [...migrations],
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m,
};
