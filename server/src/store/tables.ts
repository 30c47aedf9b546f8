/** Row types of every table, as the store reads and writes them. Timestamps are epoch ms. */

export interface TenantRow {
  tenant_id: string;
  event_seq: number;
  created_at: number;
}

export interface LabelRow {
  tenant_id: string;
  key: string;
  namespace: string;
  namespace_display_name: string;
  display_name: string;
  name_key: string;
  label_type: string;
  created_at: number;
  updated_at: number;
}

export interface ExtendedFieldRow {
  tenant_id: string;
  key: string;
  namespace: string;
  display_name: string;
  name_key: string;
  data_type: string;
  field_type: string;
  description: string | null;
  created_at: number;
  updated_at: number;
}

export interface EventRow {
  tenant_id: string;
  seq: number;
  id: string;
  event_type: string;
  entity_fqdn: string;
  slug: string;
  entity_id: string;
  entity_seq: number;
  originated_from: string | null;
  identity_type: string;
  subject: string;
  modified_fields: string | null;
  payload: string;
  created_at: number;
}

export interface IdempotencyKeyRow {
  tenant_id: string;
  request_id: string;
  method: string;
  fingerprint: string;
  response: string;
  created_at: number;
}

export interface ContactRow {
  tenant_id: string;
  id: string;
  revision: number;
  created_at: number;
  updated_at: number;
  last_activity_at: number;
  member_id: string | null;
  member_status: string | null;
  /** Filter and sort columns (store/contact-index.ts): `<field>`, `<field>_lc`, `<field>_key`, … */
  [column: string]: string | number | null;
  doc: string;
}

export interface BulkJobRow {
  tenant_id: string;
  id: string;
  type: string;
  status: string;
  params: string;
  subject: string;
  identity_type: string;
  created_at: number;
  finished_at: number | null;
  total_items: number;
  success_total: number;
  failed_total: number;
  skipped_total: number;
  load_cursor: string | null;
  failure_reason: string | null;
  lease_owner: string | null;
  lease_until: number;
}

export interface BulkJobItemRow {
  tenant_id: string;
  job_id: string;
  contact_id: string;
  state: number;
  error_code: string | null;
  error_message: string | null;
}

export interface WebhookRow {
  tenant_id: string;
  id: string;
  url: string;
  description: string;
  event_types: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: number;
  status: string;
  created_at: number;
  cursor_seq: number;
  failures: number;
  failing_since: number | null;
  next_attempt_at: number;
  last_error: string | null;
  last_error_at: number | null;
  last_delivered_at: number | null;
  disabled_at: number | null;
  lease_owner: string | null;
  lease_until: number;
}

export interface WebhookAttemptRow {
  id?: number;
  tenant_id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  entity_id: string;
  event_seq: number;
  attempt: number;
  at: number;
  duration_ms: number;
  status_code: number;
  delivered: boolean | number;
  error: string | null;
}
