/** Everything `@contacts-api/sdk` exports but `createClient`, the same in Node and in browsers. */
export type { BulkJobsModule, ListBulkJobsOptions, ListBulkJobsResponse, WaitForJobOptions } from "./bulk-jobs.js";
export type { CreateWebhookOptions, WebhooksModule } from "./webhooks.js";
export type { CallOptions, RetryOptions } from "./call.js";
export type { ClientOptions, ContactsClient } from "./client.js";
export { type ContactRowOptions, contactRowHeaders, contactToRow } from "./columns.js";
export type {
  BulkActionMetadata,
  BulkContactsSelection,
  BulkDeleteContactsOptions,
  BulkLabelAndUnlabelContactsOptions,
  BulkOperationResponse,
  BulkUpdateContactsOptions,
  BulkUpsertContactResult,
  BulkUpsertContactsOptions,
  BulkUpsertContactsResponse,
  BulkUpsertItemError,
  ContactResponse,
  ContactSortField,
  ContactsModule,
  ContactsQueryBuilder,
  ContactsQueryResult,
  CreateContactOptions,
  ExportContactsOptions,
  FacetsResponse,
  GetContactOptions,
  ListContactsOptions,
  ListContactsResponse,
  ListFacetsOptions,
  MergeContactsOptions,
  PreviewMergeContactsOptions,
  ProjectionOptions,
  QueryContactsOptions,
  QueryFacetsOptions,
  UpdateContactOptions,
} from "./contacts.js";
export {
  AbortedError,
  AlreadyExistsError,
  CancelledError,
  ContactsApiError,
  DeadlineExceededError,
  type ErrorDetails,
  FailedPreconditionError,
  type FieldViolation,
  type GrpcStatus,
  INVALID_SDK_ARGUMENT,
  InvalidArgumentError,
  InvalidSdkArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  SdkArgumentRangeError,
  UnauthenticatedError,
  UnavailableError,
} from "./errors.js";
export {
  type ContactMergedData,
  type ContactMergedEvent,
  type ContactsEvent,
  ENTITY_FQDN,
  type EntityEvent,
  type EventFilter,
  type EventHandler,
  type EventMetadata,
  type EventsModule,
  type SubscribeOptions,
  type Subscription,
  type WatchOptions,
} from "./events.js";
export type {
  ImportContactsOptions,
  ImportPolicy,
  ImportProgress,
  ImportReject,
  ImportRow,
  ImportRows,
  ImportSummary,
} from "./import.js";
export type {
  ExtendedFieldsModule,
  ExtendedFieldsQueryBuilder,
  ExtendedFieldsQueryResult,
  FindOrCreateExtendedFieldResponse,
  ListExtendedFieldsOptions,
  ListExtendedFieldsResponse,
} from "./extended-fields.js";
export type {
  FindOrCreateLabelResponse,
  LabelsModule,
  LabelsQueryBuilder,
  LabelsQueryResult,
  LanguageOptions,
  ListLabelsOptions,
  ListLabelsResponse,
} from "./labels.js";
export type { ContactQueryField, ExtendedFieldQueryField, LabelQueryField } from "./query-fields.js";
export { QueryBuilder, type QueryResult, type QueryValue } from "./query.js";
export type * from "./types.js";
