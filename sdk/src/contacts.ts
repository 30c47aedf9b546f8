/**
 * `client.contacts`: the reference SDK's contacts functions, one for one, over
 * contacts.v1.ContactsService; and ours: bulkUpsertContacts, exportContacts and importContacts
 * (whose column handling is import.ts and columns.ts).
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { backoffMs, type CallOptions, runMutation, runRead, sleep } from "./call.js";
import { enumToProto, isPlainObject, request, sdkToJson, toJsonValue, toSdk } from "./codec.js";
import { InvalidSdkArgumentError, toApiError } from "./errors.js";
import { extendedFieldsModule } from "./extended-fields.js";
import { ContactFieldSetSchema, ContactsService } from "./gen/contacts/v1/contacts_service_pb.js";
import { ContactInfoSchema, ContactSchema, ContactsFacetSchema, MemberInfoSchema } from "./gen/contacts/v1/contact_pb.js";
import {
  BulkDeleteContactsRequestSchema,
  BulkLabelAndUnlabelContactsRequestSchema,
  BulkUpdateContactsRequestSchema,
  BulkUpsertContactsRequestSchema,
  BulkUpsertContactsResponseSchema,
  CreateContactRequestSchema,
  DeleteContactRequestSchema,
  type ExportContactsRequest,
  ExportContactsRequestSchema,
  GetContactRequestSchema,
  LabelContactRequestSchema,
  ListContactsRequestSchema,
  ListFacetsRequestSchema,
  MergeContactsRequestSchema,
  PreviewMergeContactsRequestSchema,
  QueryContactsRequestSchema,
  QueryFacetsRequestSchema,
  UnlabelContactRequestSchema,
  UpdateContactRequestSchema,
  UpdateMemberInfoRequestSchema,
} from "./gen/contacts/v1/contacts_service_pb.js";
import { type ImportContactsOptions, type ImportRows, type ImportSummary, importContacts } from "./import.js";
import { labelsModule } from "./labels.js";
import { CONTACT_FIELD_NAMES, type ContactQueryField, contactField, wireName } from "./query-fields.js";
import { QueryBuilder, type QueryResult } from "./query.js";
import { pagingOf, pagingToWire, requireString, requireStrings, type Runtime, sortToWire } from "./runtime.js";
import type {
  Contact,
  ContactFieldSet,
  ContactInfoInput,
  ContactsFacet,
  CursorPaging,
  MemberInfo,
  Paging,
  PagingMetadata,
  Sorting,
  UpsertAction,
} from "./types.js";

/** Options of `createContact`. */
export interface CreateContactOptions extends CallOptions {
  /** Create the contact even when another has the same email (or phone, without email). Default false. */
  allowDuplicates?: boolean;
}

/** Options of `updateContact`. */
export interface UpdateContactOptions extends CallOptions {
  /** Update even when another contact has the same email (or phone). Default false. */
  allowDuplicates?: boolean;
  /**
   * Paths under `info` to change, e.g. `["info.company", "info.name.last"]`; a masked path absent
   * from `info` is cleared. Without a mask each sub-field present in `info` replaces the stored
   * one whole and absent ones stay.
   */
  fieldMask?: string[];
}

/** Projection: which parts of a contact to return (`id` and `revision` always come back). */
export interface ProjectionOptions {
  /** Fields to return, e.g. `["info.name", "info.emails", "_createdDate"]`, at most 100. */
  fields?: string[];
  /** Predefined projections, at most 10; united with `fields`. Default `["FULL"]`. */
  fieldsets?: ContactFieldSet[];
}

/** Options of `getContact`. */
export interface GetContactOptions extends CallOptions, ProjectionOptions {}

/** Options of `mergeContacts`. */
export interface MergeContactsOptions extends CallOptions {
  /**
   * 1–5 distinct contacts to merge into the target and delete; none may be a member. Optional in
   * the type, as in the reference's; without it the server answers INVALID_ARGUMENT.
   */
  sourceContactIds?: string[];
}

/** Options of `previewMergeContacts`. */
export interface PreviewMergeContactsOptions extends CallOptions {
  /** 1–5 distinct contacts that would be merged into the target. Optional in the type, as in `mergeContacts`. */
  sourceContactIds?: string[];
}

/** The contact fields `listContacts` and the builder can sort by. */
export type ContactSortField = ContactQueryField;

/** Options of `listContacts`. */
export interface ListContactsOptions extends CallOptions, ProjectionOptions {
  /** Sort by one field. Default `{ fieldName: "_createdDate", order: "DESC" }`. */
  sort?: Sorting<ContactSortField>;
  /** Offset paging. Default `{ limit: 50, offset: 0 }`; at most 1000 per page. */
  paging?: Paging;
  /** Cursor paging instead of `paging`: stable and as fast at any depth. */
  cursorPaging?: CursorPaging;
}

/** Options of `queryContacts`. */
export interface QueryContactsOptions extends ProjectionOptions {
  /** Free text (≤100 characters) matched against names, emails and phones, ANDed with the filter. */
  search?: string;
}

/** Options of `listFacets`. */
export interface ListFacetsOptions extends CallOptions {
  /** Default `{ limit: 1000, offset: 0 }`. */
  paging?: Paging;
  /** Accepted and ignored. */
  language?: string | null;
}

/** Options of `queryFacets`. */
export interface QueryFacetsOptions extends ListFacetsOptions {
  /**
   * Filter on `info.extendedFields.emailSubscriptions.effectiveEmail` (`$exists`),
   * `…subscriptionStatus` and `…deliverabilityStatus` (`$eq $ne $in $nin`).
   */
  filter?: Record<string, unknown> | null;
}

/**
 * Which contacts a bulk function changes: those matching `filter` and `search` (ANDed). At least
 * one is required, else the call fails with `NEITHER_FILTER_NOR_SEARCH`. To see what a job would
 * cover, run `queryContacts` with the same filter and search first.
 */
export interface BulkContactsSelection {
  /**
   * A filter in the query language of reference §5 (`$eq`, `$in`, `$hasSome`, `$and`, …), with
   * field names as in the query builder (`_id`, `_createdDate`, `info.labelKeys`) and Date values,
   * e.g. `{ "info.labelKeys": { $hasSome: ["custom.vip-customer"] } }`.
   */
  filter?: Record<string, unknown> | null;
  /** Free text (≤100 characters) matched against names, emails and phones, as in `queryContacts`. */
  search?: string | null;
}

/** Options of `bulkDeleteContacts`. */
export interface BulkDeleteContactsOptions extends CallOptions, BulkContactsSelection {}

/** Options of `bulkUpdateContacts`. */
export interface BulkUpdateContactsOptions extends CallOptions, BulkContactsSelection {
  /** The data to apply to each contact, as in `updateContact`. Required by the server. */
  info?: ContactInfoInput;
  /**
   * Paths under `info` to change, as in `updateContact` (internal in the reference SDK). Without
   * a mask each sub-field present in `info` replaces the contact's whole.
   */
  fieldMask?: string[];
}

/** Options of `bulkLabelAndUnlabelContacts`. At least one key to add or remove is required. */
export interface BulkLabelAndUnlabelContactsOptions extends CallOptions, BulkContactsSelection {
  /** Keys of existing labels to add, at most 100. */
  labelKeysToAdd?: string[];
  /** Keys of existing labels to remove, at most 100; a key in both lists is removed. */
  labelKeysToRemove?: string[];
}

/** Options of `bulkUpsertContacts`. */
export interface BulkUpsertContactsOptions extends CallOptions {
  /**
   * Return each created or updated contact in its result's `contact`. Default false: ids only,
   * which keeps the answer small for callers (such as `importContacts`) that need only counts.
   */
  returnEntity?: boolean;
}

/** Why one item of a `bulkUpsertContacts` call failed. */
export interface BulkUpsertItemError {
  /** The reason code, e.g. `INVALID_EMAIL`, `INSUFFICIENT_CONTACT_DATA`, `LABEL_NOT_FOUND`, `DUPLICATE_CONTACT_EXISTS`. */
  code: string;
  /** A human-readable explanation. */
  message: string;
  /** The offending field's path in the request, in proto spelling, e.g. `contacts[3].emails.items[0].email`; absent when no one field is at fault. */
  field?: string;
}

/** What became of one item of a `bulkUpsertContacts` call. */
export interface BulkUpsertContactResult {
  /** The item's index in the `contacts` argument. */
  originalIndex: number;
  /** What was done: `CREATED`, `UPDATED`, `UNCHANGED` or `FAILED`. */
  action: UpsertAction;
  /** The contact created or updated; absent when the item failed. */
  contactId?: string;
  /** The contact after the call, with `returnEntity`. */
  contact?: Contact;
  /** Why the item failed (action `FAILED`). */
  error?: BulkUpsertItemError;
}

/** A batch's counts. */
export interface BulkActionMetadata {
  /** Items created, updated or unchanged. */
  totalSuccesses: number;
  /** Items that failed. */
  totalFailures: number;
}

/** The answer of `bulkUpsertContacts`. */
export interface BulkUpsertContactsResponse {
  /** One per item, in the order of the `contacts` argument. */
  results: BulkUpsertContactResult[];
  /** How many items succeeded and failed. */
  bulkActionMetadata: BulkActionMetadata;
}

/** Options of `exportContacts`. */
export interface ExportContactsOptions extends ProjectionOptions {
  /**
   * Only contacts matching this filter, in the query language of `bulkDeleteContacts` (builder
   * field names, Date values). Default: every contact.
   */
  filter?: Record<string, unknown> | null;
  /** Free text (≤100 characters) matched against names, emails and phones, ANDed with the filter. Default: none. */
  search?: string | null;
  /**
   * Stops the export: the loop throws a CancelledError. There is no `timeoutMs`: an export runs
   * as long as the contacts take; bound it with `AbortSignal.timeout(ms)` when it must end.
   */
  signal?: AbortSignal;
}

/** `{ jobId }`: the answer of bulkDeleteContacts, bulkUpdateContacts and bulkLabelAndUnlabelContacts. */
export interface BulkOperationResponse {
  /** The job started; follow it with `bulkJobs.getBulkJob` or `bulkJobs.waitForJob`. */
  jobId: string;
}

/** `{ contact }`: the answer of createContact, updateContact, labelContact, unlabelContact, mergeContacts, previewMergeContacts, updateMemberInfo. */
export interface ContactResponse {
  /** The contact after the call. */
  contact: Contact;
}

/** The answer of `listContacts`. */
export interface ListContactsResponse {
  /** The contacts of this page. */
  contacts: Contact[];
  /** Paging metadata. */
  pagingMetadata: PagingMetadata;
}

/** The answer of `listFacets` and `queryFacets`. */
export interface FacetsResponse {
  /** The facets of this page. */
  facets: ContactsFacet[];
  /** Paging metadata. */
  pagingMetadata: PagingMetadata;
}

/** A contacts query builder (see QueryBuilder for every method). */
export type ContactsQueryBuilder = QueryBuilder<Contact, ContactQueryField>;
/** A page of contacts. */
export type ContactsQueryResult = QueryResult<Contact, ContactsQueryBuilder>;

/** The contacts module: `client.contacts`. */
export interface ContactsModule {
  /**
   * Creates a contact. `info` needs a name, an email or a phone.
   *
   * @example
   * const { contact } = await contacts.createContact(
   *   { name: { first: "Ada", last: "Lovelace" }, emails: { items: [{ email: "ada@example.com", tag: "WORK" }] } },
   *   { allowDuplicates: false },
   * );
   * @throws AlreadyExistsError `DUPLICATE_CONTACT_EXISTS` (`details.duplicateContactId`), InvalidArgumentError `INSUFFICIENT_CONTACT_DATA`, …
   */
  createContact(info: ContactInfoInput, options?: CreateContactOptions): Promise<ContactResponse>;
  /**
   * Returns a contact. A merged-away ID returns the contact it was merged into.
   *
   * @example
   * const contact = await contacts.getContact(contactId, { fieldsets: ["BASIC"] });
   * @throws NotFoundError `CONTACT_NOT_FOUND`
   */
  getContact(_id: string, options?: GetContactOptions): Promise<Contact>;
  /**
   * Changes a contact at a known revision.
   *
   * @example
   * const { contact } = await contacts.updateContact(c._id, { company: "Analytical Engines" }, c.revision);
   * @throws AbortedError `CONTACT_ALREADY_CHANGED` when `revision` is stale
   */
  updateContact(contactId: string, info: ContactInfoInput, revision: number, options?: UpdateContactOptions): Promise<ContactResponse>;
  /**
   * Deletes a contact permanently.
   *
   * @example
   * await contacts.deleteContact(contactId);
   * @throws FailedPreconditionError `CANNOT_DELETE_MEMBER` for a member
   */
  deleteContact(contactId: string, options?: CallOptions): Promise<void>;
  /**
   * Adds labels to a contact (no revision needed; labels already there are kept).
   *
   * @example
   * const { contact } = await contacts.labelContact(contactId, ["custom.vip-customer"]);
   * @throws NotFoundError `LABEL_NOT_FOUND` for an unknown key
   */
  labelContact(contactId: string, labelKeys: string[], options?: CallOptions): Promise<ContactResponse>;
  /**
   * Removes labels from a contact.
   *
   * @example
   * const { contact } = await contacts.unlabelContact(contactId, ["custom.vip-customer"]);
   */
  unlabelContact(contactId: string, labelKeys: string[], options?: CallOptions): Promise<ContactResponse>;
  /**
   * Merges 1–5 source contacts into a target and deletes the sources. Irreversible.
   *
   * @example
   * const { contact } = await contacts.mergeContacts(target._id, target.revision, { sourceContactIds: [dup._id] });
   * @throws AbortedError `CONTACT_ALREADY_CHANGED`, FailedPreconditionError `ILLEGAL_MERGE`
   */
  mergeContacts(targetContactId: string, targetContactRevision: number, options?: MergeContactsOptions): Promise<ContactResponse>;
  /**
   * Shows what `mergeContacts` would make of the target, storing nothing.
   *
   * @example
   * const { contact } = await contacts.previewMergeContacts(target._id, { sourceContactIds: [dup._id] });
   */
  previewMergeContacts(targetContactId: string, options?: PreviewMergeContactsOptions): Promise<ContactResponse>;
  /**
   * Lists contacts, sorted and paged.
   *
   * @example
   * const { contacts: page, pagingMetadata } = await contacts.listContacts({
   *   sort: { fieldName: "info.name.last", order: "ASC" },
   *   paging: { limit: 20 },
   * });
   */
  listContacts(options?: ListContactsOptions): Promise<ListContactsResponse>;
  /**
   * Starts a contacts query. Defaults: `skip(0)`, `limit(50)`, `descending("_createdDate")`.
   *
   * @example
   * const { items, totalCount } = await contacts
   *   .queryContacts()
   *   .startsWith("info.name.last", "Love")
   *   .hasSome("info.labelKeys", ["custom.vip-customer"])
   *   .descending("_createdDate")
   *   .limit(10)
   *   .find();
   */
  queryContacts(options?: QueryContactsOptions): ContactsQueryBuilder;
  /**
   * Counts contacts per label, without labels and in total.
   *
   * @example
   * const { facets } = await contacts.listFacets();
   */
  listFacets(options?: ListFacetsOptions): Promise<FacetsResponse>;
  /**
   * Like `listFacets`, restricted by an email-subscription filter.
   *
   * @example
   * const { facets } = await contacts.queryFacets({
   *   filter: { "info.extendedFields.emailSubscriptions.subscriptionStatus": { $eq: "NOT_SET" } },
   * });
   */
  queryFacets(options?: QueryFacetsOptions): Promise<FacetsResponse>;
  /**
   * Records a contact's site membership, or clears it (`null`). Not in the reference SDK, whose
   * membership comes from the Members API.
   *
   * @example
   * const { contact } = await contacts.updateMemberInfo(contactId, { memberId: "m-1", role: "MEMBER" });
   */
  updateMemberInfo(contactId: string, memberInfo: MemberInfo | null, options?: CallOptions): Promise<ContactResponse>;
  /**
   * Starts a job that deletes every contact matching `filter` and/or `search`, and returns its ID
   * at once. Members are not deleted: each is an entry in the job's `errors`
   * (`CANNOT_DELETE_SITE_MEMBERS`) and the job goes on.
   *
   * @example
   * const { jobId } = await contacts.bulkDeleteContacts({ filter: { "info.company": "Initech" } });
   * const job = await bulkJobs.waitForJob(jobId);
   * @throws InvalidArgumentError `NEITHER_FILTER_NOR_SEARCH`, or a query error (`MALFORMED_FILTER`, …)
   */
  bulkDeleteContacts(options?: BulkDeleteContactsOptions): Promise<BulkOperationResponse>;
  /**
   * Starts a job that applies `options.info` (with `options.fieldMask`, as `updateContact` does)
   * to every contact matching `filter` and/or `search`, and returns its ID at once. A contact the
   * change cannot apply to is an entry in the job's `errors`.
   *
   * @example
   * const { jobId } = await contacts.bulkUpdateContacts({
   *   filter: { "info.company": "Initech" },
   *   info: { company: "Initrode" },
   *   fieldMask: ["info.company"],
   * });
   * @throws InvalidArgumentError `NEITHER_FILTER_NOR_SEARCH`, `INVALID_CONTACT_INFO`, or a query error
   */
  bulkUpdateContacts(options?: BulkUpdateContactsOptions): Promise<BulkOperationResponse>;
  /**
   * Starts a job that adds and removes labels on every contact matching `filter` and/or `search`,
   * and returns its ID at once.
   *
   * @example
   * const { jobId } = await contacts.bulkLabelAndUnlabelContacts({
   *   search: "lovelace",
   *   labelKeysToAdd: ["custom.vip-customer"],
   *   labelKeysToRemove: ["custom.prospect"],
   * });
   * @throws InvalidArgumentError `NEITHER_FILTER_NOR_SEARCH`, `INVALID_LABEL_KEY`; NotFoundError `LABEL_NOT_FOUND`
   */
  bulkLabelAndUnlabelContacts(options?: BulkLabelAndUnlabelContactsOptions): Promise<BulkOperationResponse>;
  /**
   * Creates or updates 1–100 contacts in one call. Each item is matched to a contact as the
   * duplicate check does (by one of its emails, or by one of its phones when it has no email): a
   * match gets the item's names and other single values, and the item's emails, phones, addresses
   * and labels added to its own; otherwise a contact is created. Each item has its own result; a
   * bad item fails alone, with its code and the path of its bad field. Not public in the
   * reference SDK (its internal BulkUpsertContacts).
   *
   * @example
   * const { results, bulkActionMetadata } = await contacts.bulkUpsertContacts(
   *   [{ name: { first: "Ada" }, emails: { items: [{ email: "ada@example.com" }] } }, { emails: { items: [{ email: "nope" }] } }],
   *   { requestId: "crm-sync-2024-06-01-batch-7" },
   * );
   * // results[0].action === "CREATED"; results[1].error.code === "INVALID_EMAIL"
   * @throws InvalidArgumentError `TOO_MANY_ITEMS` for more than 100 contacts
   */
  bulkUpsertContacts(contacts: ContactInfoInput[], options?: BulkUpsertContactsOptions): Promise<BulkUpsertContactsResponse>;
  /**
   * Every contact matching `filter` and `search` (all of them without either), newest first, as
   * an async iterable read from one server stream. The stream is read as the loop asks for
   * contacts (the server sends up to 500 at a time), so a slow consumer holds little memory on
   * either side; breaking out of the loop ends the stream. A connection that fails before the
   * first contact is retried like a read; one that fails later throws (a restart would repeat
   * what was delivered). Not in the reference SDK.
   *
   * @example
   * for await (const contact of contacts.exportContacts({ filter: { "info.labelKeys": { $hasSome: ["custom.vip"] } } })) {
   *   console.log(contact._id, contact.primaryInfo?.email);
   * }
   * @throws InvalidArgumentError for a bad filter (`MALFORMED_FILTER`, …), from the loop's first step
   */
  exportContacts(options?: ExportContactsOptions): AsyncIterable<Contact>;
  /**
   * Imports rows of a CSV export of a CRM (HubSpot, Salesforce, Google Contacts, Outlook,
   * Mailchimp) through `bulkUpsertContacts`, in batches of up to 100 rows: columns are recognised
   * by their headers (or `options.mapping`), labels and extended fields are resolved by name,
   * and each row that cannot be imported is reported through `options.onReject` with its column
   * and reason. Batches carry request ids derived from `options.importId`, so re-running the same
   * rows (whole, or from `startAtRow`) creates no duplicates. Not in the reference SDK.
   *
   * @example
   * import { parse } from "csv-parse";
   * const summary = await contacts.importContacts(createReadStream("hubspot.csv").pipe(parse({ columns: true, bom: true })), {
   *   importId: fileSha256,
   *   onReject: (r) => console.warn(`row ${r.row} ${r.column}: ${r.reason}`),
   * });
   * console.log(summary.created, summary.updated, summary.rejected);
   */
  importContacts(rows: ImportRows, options?: ImportContactsOptions): Promise<ImportSummary>;
}

const QUERY_LIMITS = { maxSort: 1, maxLimit: 1000 };

function contactOf(message: Parameters<typeof toSdk>[1] | undefined): Contact {
  if (!message) throw new Error("the server answered without a contact");
  return toSdk<Contact>(ContactSchema, message);
}

function projection(fn: string, options: ProjectionOptions | undefined): JsonObject {
  const out: JsonObject = {};
  if (options?.fields !== undefined) out.fields = requireStrings(fn, "options.fields", options.fields).map(wireName);
  if (options?.fieldsets !== undefined) {
    if (!Array.isArray(options.fieldsets)) throw new InvalidSdkArgumentError(`${fn}(): options.fieldsets must be an array`);
    out.fieldsets = options.fieldsets.map((s, i) => enumToProto(ContactFieldSetSchema, s, `${fn}(): options.fieldsets[${i}]`));
  }
  return out;
}

/** Creates `client.contacts`. */
export function contactsModule(rt: Runtime): ContactsModule {
  const client = createClient(ContactsService, rt.transport);
  const ctx = rt.ctx;

  const queryContacts = (options?: QueryContactsOptions): ContactsQueryBuilder => {
    const extra: JsonObject = projection("queryContacts", options);
    if (options?.search !== undefined && typeof options.search !== "string") {
      throw new InvalidSdkArgumentError("queryContacts(): options.search must be a string");
    }
    return new QueryBuilder<Contact, ContactQueryField>({
      name: "queryContacts()",
      field: contactField,
      fieldNames: CONTACT_FIELD_NAMES,
      ...QUERY_LIMITS,
      async run(q, callOptions) {
        const req = request(
          QueryContactsRequestSchema,
          {
            query: { ...(q.filter ? { filter: q.filter } : {}), sort: q.sort, paging: q.paging, ...extra },
            ...(options?.search ? { search: options.search } : {}),
          },
          "queryContacts",
        );
        const res = await runRead(ctx, callOptions, req, (r, o) => client.queryContacts(r, o));
        return { items: res.contacts.map((c) => contactOf(c)), pagingMetadata: pagingOf(res.pagingMetadata) };
      },
    });
  };

  const bulkUpsertContacts: ContactsModule["bulkUpsertContacts"] = async (contacts, options) => {
    if (!Array.isArray(contacts) || contacts.length === 0)
      throw new InvalidSdkArgumentError("bulkUpsertContacts(): contacts must be a non-empty array of ContactInfo");
    const items = contacts.map((info, i) => sdkToJson(ContactInfoSchema, info, `bulkUpsertContacts(): contacts[${i}]`));
    const res = await runMutation(
      ctx,
      options,
      (requestId) =>
        request(BulkUpsertContactsRequestSchema, { contacts: items, returnEntity: options?.returnEntity === true, requestId }, "bulkUpsertContacts"),
      (r, o) => client.bulkUpsertContacts(r, o),
    );
    const out = toSdk<BulkUpsertContactsResponse>(BulkUpsertContactsResponseSchema, res);
    return { results: out.results, bulkActionMetadata: out.bulkActionMetadata ?? { totalSuccesses: 0, totalFailures: 0 } };
  };

  /** One export: the stream, retried while it has delivered nothing, ended when the consumer stops. */
  async function* exportStream(req: ExportContactsRequest, signal: AbortSignal | undefined): AsyncGenerator<Contact> {
    let delivered = false;
    for (let attempt = 1; ; attempt++) {
      const stream = new AbortController();
      const stop = () => stream.abort();
      signal?.addEventListener("abort", stop, { once: true });
      try {
        if (signal?.aborted) throw signal.reason;
        for await (const message of client.exportContacts(req, { signal: stream.signal, headers: ctx.headers })) {
          for (const contact of message.contacts) {
            delivered = true;
            yield contactOf(contact);
          }
        }
        return;
      } catch (err) {
        const error = toApiError(err, undefined, signal?.aborted === true);
        if (delivered || error.grpcCode !== Code.Unavailable || attempt >= ctx.retry.maxAttempts) throw error;
      } finally {
        signal?.removeEventListener("abort", stop);
        stream.abort();
      }
      try {
        await sleep(backoffMs(ctx.retry, attempt), signal);
      } catch (reason) {
        throw toApiError(reason, undefined, true);
      }
    }
  }

  return {
    async createContact(info, options) {
      const infoJson = sdkToJson(ContactInfoSchema, info, "createContact(): info");
      const res = await runMutation(
        ctx,
        options,
        (requestId) => request(CreateContactRequestSchema, { info: infoJson, allowDuplicates: options?.allowDuplicates === true, requestId }, "createContact"),
        (r, o) => client.createContact(r, o),
      );
      return { contact: contactOf(res.contact) };
    },

    async getContact(_id, options) {
      const req = request(GetContactRequestSchema, { id: requireString("getContact", "_id", _id), ...projection("getContact", options) }, "getContact");
      const res = await runRead(ctx, options, req, (r, o) => client.getContact(r, o));
      return contactOf(res.contact);
    },

    async updateContact(contactId, info, revision, options) {
      requireString("updateContact", "contactId", contactId);
      if (!Number.isInteger(revision) || revision < 1)
        throw new InvalidSdkArgumentError(`updateContact(): revision must be a positive integer; got ${revision}`);
      const json: JsonObject = {
        contactId,
        revision,
        info: sdkToJson(ContactInfoSchema, info, "updateContact(): info"),
        allowDuplicates: options?.allowDuplicates === true,
      };
      if (options?.fieldMask !== undefined) json.fieldMask = requireStrings("updateContact", "options.fieldMask", options.fieldMask).join(",");
      const res = await runMutation(
        ctx,
        options,
        (requestId) => request(UpdateContactRequestSchema, { ...json, requestId }, "updateContact"),
        (r, o) => client.updateContact(r, o),
      );
      return { contact: contactOf(res.contact) };
    },

    async deleteContact(contactId, options) {
      requireString("deleteContact", "contactId", contactId);
      await runMutation(
        ctx,
        options,
        (requestId) => request(DeleteContactRequestSchema, { contactId, requestId }, "deleteContact"),
        (r, o) => client.deleteContact(r, o),
      );
    },

    async labelContact(contactId, labelKeys, options) {
      requireString("labelContact", "contactId", contactId);
      requireStrings("labelContact", "labelKeys", labelKeys);
      const res = await runMutation(
        ctx,
        options,
        (requestId) => request(LabelContactRequestSchema, { contactId, labelKeys, requestId }, "labelContact"),
        (r, o) => client.labelContact(r, o),
      );
      return { contact: contactOf(res.contact) };
    },

    async unlabelContact(contactId, labelKeys, options) {
      requireString("unlabelContact", "contactId", contactId);
      requireStrings("unlabelContact", "labelKeys", labelKeys);
      const res = await runMutation(
        ctx,
        options,
        (requestId) => request(UnlabelContactRequestSchema, { contactId, labelKeys, requestId }, "unlabelContact"),
        (r, o) => client.unlabelContact(r, o),
      );
      return { contact: contactOf(res.contact) };
    },

    async mergeContacts(targetContactId, targetContactRevision, options) {
      requireString("mergeContacts", "targetContactId", targetContactId);
      if (!Number.isInteger(targetContactRevision) || targetContactRevision < 1) {
        throw new InvalidSdkArgumentError(`mergeContacts(): targetContactRevision must be a positive integer; got ${targetContactRevision}`);
      }
      const sourceContactIds = sourceIds("mergeContacts", options);
      const res = await runMutation(
        ctx,
        options,
        (requestId) => request(MergeContactsRequestSchema, { targetContactId, targetContactRevision, sourceContactIds, requestId }, "mergeContacts"),
        (r, o) => client.mergeContacts(r, o),
      );
      return { contact: contactOf(res.contact) };
    },

    async previewMergeContacts(targetContactId, options) {
      requireString("previewMergeContacts", "targetContactId", targetContactId);
      const sourceContactIds = sourceIds("previewMergeContacts", options);
      const req = request(PreviewMergeContactsRequestSchema, { targetContactId, sourceContactIds }, "previewMergeContacts");
      const res = await runRead(ctx, options, req, (r, o) => client.previewMergeContacts(r, o));
      return { contact: contactOf(res.contact) };
    },

    async listContacts(options) {
      const json: JsonObject = { ...projection("listContacts", options) };
      const sort = sortToWire("listContacts", options?.sort, contactField);
      if (sort) json.sort = sort;
      if (options?.paging) json.paging = pagingToWire(options.paging);
      if (options?.cursorPaging) json.cursorPaging = pagingToWire(options.cursorPaging);
      const req = request(ListContactsRequestSchema, json, "listContacts");
      const res = await runRead(ctx, options, req, (r, o) => client.listContacts(r, o));
      return { contacts: res.contacts.map((c) => contactOf(c)), pagingMetadata: pagingOf(res.pagingMetadata) };
    },

    queryContacts,

    async listFacets(options) {
      const req = request(ListFacetsRequestSchema, { ...(options?.paging ? { paging: pagingToWire(options.paging) } : {}) }, "listFacets");
      const res = await runRead(ctx, options, req, (r, o) => client.listFacets(r, o));
      return { facets: res.facets.map((f) => toSdk<ContactsFacet>(ContactsFacetSchema, f)), pagingMetadata: pagingOf(res.pagingMetadata) };
    },

    async queryFacets(options) {
      const json: JsonObject = {};
      if (options?.filter !== undefined && options.filter !== null) json.filter = filterToWire("queryFacets", options.filter);
      if (options?.paging) json.paging = pagingToWire(options.paging);
      const req = request(QueryFacetsRequestSchema, json, "queryFacets");
      const res = await runRead(ctx, options, req, (r, o) => client.queryFacets(r, o));
      return { facets: res.facets.map((f) => toSdk<ContactsFacet>(ContactsFacetSchema, f)), pagingMetadata: pagingOf(res.pagingMetadata) };
    },

    async updateMemberInfo(contactId, memberInfo, options) {
      requireString("updateMemberInfo", "contactId", contactId);
      const json: JsonObject = { contactId };
      if (memberInfo !== null && memberInfo !== undefined) json.memberInfo = sdkToJson(MemberInfoSchema, memberInfo, "updateMemberInfo(): memberInfo");
      const res = await runMutation(
        ctx,
        options,
        (requestId) => request(UpdateMemberInfoRequestSchema, { ...json, requestId }, "updateMemberInfo"),
        (r, o) => client.updateMemberInfo(r, o),
      );
      return { contact: contactOf(res.contact) };
    },

    async bulkDeleteContacts(options) {
      const json = selection("bulkDeleteContacts", options);
      const res = await runMutation(
        ctx,
        options,
        (requestId) => request(BulkDeleteContactsRequestSchema, { ...json, requestId }, "bulkDeleteContacts"),
        (r, o) => client.bulkDeleteContacts(r, o),
      );
      return { jobId: res.jobId };
    },

    async bulkUpdateContacts(options) {
      const json = selection("bulkUpdateContacts", options);
      if (options?.info !== undefined) json.info = sdkToJson(ContactInfoSchema, options.info, "bulkUpdateContacts(): options.info");
      if (options?.fieldMask !== undefined) json.fieldMask = requireStrings("bulkUpdateContacts", "options.fieldMask", options.fieldMask).join(",");
      const res = await runMutation(
        ctx,
        options,
        (requestId) => request(BulkUpdateContactsRequestSchema, { ...json, requestId }, "bulkUpdateContacts"),
        (r, o) => client.bulkUpdateContacts(r, o),
      );
      return { jobId: res.jobId };
    },

    bulkUpsertContacts,

    exportContacts(options) {
      // Checked and built now, so misuse throws here rather than at the loop's first step.
      const json: JsonObject = { ...projection("exportContacts", options), ...selection("exportContacts", options) };
      const req = request(ExportContactsRequestSchema, json, "exportContacts");
      const signal = options?.signal;
      return { [Symbol.asyncIterator]: () => exportStream(req, signal) };
    },

    importContacts(rows, options) {
      return importContacts({ bulkUpsertContacts, labels: labelsModule(rt), extendedFields: extendedFieldsModule(rt) }, rows, options);
    },

    async bulkLabelAndUnlabelContacts(options) {
      const json = selection("bulkLabelAndUnlabelContacts", options);
      if (options?.labelKeysToAdd !== undefined) json.labelKeysToAdd = labelKeyList("options.labelKeysToAdd", options.labelKeysToAdd);
      if (options?.labelKeysToRemove !== undefined) json.labelKeysToRemove = labelKeyList("options.labelKeysToRemove", options.labelKeysToRemove);
      const res = await runMutation(
        ctx,
        options,
        (requestId) => request(BulkLabelAndUnlabelContactsRequestSchema, { ...json, requestId }, "bulkLabelAndUnlabelContacts"),
        (r, o) => client.bulkLabelAndUnlabelContacts(r, o),
      );
      return { jobId: res.jobId };
    },
  };
}

/**
 * A filter as the wire spells it: field names as the query builder spells them become the
 * server's (`_createdDate` → `createdDate`, as the reference SDK renames them), inside `$and`,
 * `$or` and `$not` too; Dates become ISO strings.
 */
function filterToWire(fn: string, filter: unknown, path = "options.filter"): JsonObject {
  if (!isPlainObject(filter)) throw new InvalidSdkArgumentError(`${fn}(): ${path} must be an object`);
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    const at = `${path}.${key}`;
    if ((key === "$and" || key === "$or") && Array.isArray(value)) {
      out[key] = value.map((part, i) => filterToWire(fn, part, `${at}[${i}]`));
    } else if (key === "$not") {
      out[key] = filterToWire(fn, value, at);
    } else {
      out[key.startsWith("$") ? key : wireName(key)] = toJsonValue(value, `${fn}(): ${at}`);
    }
  }
  return out;
}

/** The `filter` and `search` of a bulk function's options as proto JSON; null is absent, as in the reference. */
function selection(fn: string, options: BulkContactsSelection | undefined): JsonObject {
  const json: JsonObject = {};
  if (options?.filter !== undefined && options.filter !== null) json.filter = filterToWire(fn, options.filter);
  if (options?.search !== undefined && options.search !== null) {
    if (typeof options.search !== "string") throw new InvalidSdkArgumentError(`${fn}(): options.search must be a string`);
    json.search = options.search;
  }
  return json;
}

/** The sources of a merge; none when absent, so the server's INVALID_ARGUMENT says what is missing. */
function sourceIds(fn: string, options: MergeContactsOptions | undefined): string[] {
  const ids = options?.sourceContactIds;
  return ids === undefined || ids === null ? [] : requireStrings(fn, "options.sourceContactIds", ids);
}

function labelKeyList(name: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new InvalidSdkArgumentError(`bulkLabelAndUnlabelContacts(): ${name} must be an array of strings`);
  }
  return value;
}
