import { create, type JsonValue, toJson } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type Contact,
  type ContactInfo,
  type ContactInfoJson,
  ContactInfoSchema,
  type ContactJson,
  ContactSchema,
  type MemberInfoJson,
  MemberInfoSchema,
} from "../../../gen/contacts/v1/contact_pb.js";
import {
  ContactFieldSet,
  type ContactsService,
  CreateContactRequestSchema,
  CreateContactResponseSchema,
  DeleteContactRequestSchema,
  DeleteContactResponseSchema,
  GetContactResponseSchema,
  GetContactResponseType,
  LabelContactRequestSchema,
  LabelContactResponseSchema,
  UnlabelContactRequestSchema,
  UnlabelContactResponseSchema,
  UpdateContactRequestSchema,
  UpdateContactResponseSchema,
  UpdateMemberInfoRequestSchema,
  UpdateMemberInfoResponseSchema,
  BulkUpsertContactsRequestSchema,
  BulkUpsertContactsResponseSchema,
  UpsertAction,
  ExportContactsResponseSchema,
  QueryContactsResponseSchema,
  MergeContactsRequestSchema,
  MergeContactsResponseSchema,
  PreviewMergeContactsResponseSchema,
  ListContactsResponseSchema,
  ListFacetsResponseSchema,
  QueryFacetsResponseSchema,
} from "../../../gen/contacts/v1/contacts_service_pb.js";
import { type ContactsFacet, ContactsFacetSchema, FacetType } from "../../../gen/contacts/v1/contact_pb.js";
import { normaliseLabelKeys, parseFieldMask } from "../domain/contact-info.js";
import { invalidField } from "../domain/errors.js";
import { type FieldSet, parseProjection, project } from "../domain/projection.js";
import { CONTACT_QUERY_CODES, type PagingRules, resolvePage } from "../domain/query.js";
import * as contactQuery from "../services/contact-query.js";
import * as contacts from "../services/contacts.js";
import * as merge from "../services/merge.js";
import * as upsert from "../services/upsert.js";
import type { ServiceDeps } from "../services/deps.js";
import { readJson } from "../protobuf/json-reader.js";
import { callerOf, depsFor } from "./context.js";
import { bulkJobHandlers } from "./bulk-jobs.js";
import { mutationMeta, pageSpec, pagingMetadata, sortEntries } from "./common.js";

export const CONTACT_PAGING: PagingRules = { defaultLimit: 50, maxLimit: 1000, overMax: "fail" };
const FACET_PAGING: PagingRules = { defaultLimit: 1000, maxLimit: 1000, overMax: "coerce" };

function facetToProto(f: contactQuery.Facet): ContactsFacet {
  return create(ContactsFacetSchema, { ...f, facetType: FacetType[f.facetType] });
}

/** One page of facets (they are few: one per label plus a handful). */
function facetPage(all: contactQuery.Facet[], paging: { limit?: number; offset?: number } | undefined) {
  const { limit, offset } = resolvePage(paging?.limit, paging?.offset, FACET_PAGING, CONTACT_QUERY_CODES, "paging");
  const items = all.slice(offset, offset + limit);
  return {
    facets: items.map(facetToProto),
    pagingMetadata: pagingMetadata({ count: items.length, offset, total: all.length, hasNext: offset + limit < all.length }),
  };
}

const ID_MAX = 100;

/** Contact ids: required, bounded. Unknown ids are the service's NOT_FOUND. */
function validateId(id: string, field: string): string {
  if (id.length === 0) throw invalidField("INVALID_CONTACT_ID", field, "is required");
  if (id.length > ID_MAX) throw invalidField("INVALID_CONTACT_ID", field, `must be at most ${ID_MAX} characters`);
  return id;
}

export function infoToJson(info: ContactInfo | undefined, field = "info"): ContactInfoJson {
  if (!info) return {};
  try {
    return toJson(ContactInfoSchema, info) as ContactInfoJson;
  } catch (err) {
    // Only values the JSON mapping cannot express get here: a google.protobuf.Value with no kind
    // set, or a NaN/Infinity number, in an extended field.
    throw invalidField("INVALID_EXTENDED_FIELD_VALUE", `${field}.extended_fields`, `has a value that is not JSON: ${(err as Error).message}`);
  }
}

export function contactToProto(contact: ContactJson): Contact {
  return readJson(ContactSchema, contact as JsonValue);
}

export function fieldSetNames(sets: readonly ContactFieldSet[]): FieldSet[] {
  return sets.filter((s) => s !== ContactFieldSet.UNSPECIFIED).map((s) => ContactFieldSet[s] as FieldSet);
}

function labelKeys(keys: readonly string[]): string[] {
  if (keys.length === 0) throw invalidField("INVALID_LABEL_KEY", "label_keys", "at least one label key is required");
  return normaliseLabelKeys(keys, "label_keys", 100);
}

export function contactsHandlers(deps: ServiceDeps): ServiceImpl<typeof ContactsService> {
  return {
    ...bulkJobHandlers(deps),

    async createContact(req, ctx) {
      if (!req.info) throw invalidField("INSUFFICIENT_CONTACT_DATA", "info", "is required");
      const meta = mutationMeta(ctx, CreateContactRequestSchema, req);
      const contact = await contacts.createContact(depsFor(deps, ctx), callerOf(ctx), infoToJson(req.info), req.allowDuplicates, meta);
      return create(CreateContactResponseSchema, { contact: contactToProto(contact) });
    },

    async getContact(req, ctx) {
      validateId(req.id, "id");
      const projection = parseProjection(req.fields, fieldSetNames(req.fieldsets));
      const { contact, merged } = await contacts.getContact(depsFor(deps, ctx), callerOf(ctx), req.id);
      return create(GetContactResponseSchema, {
        contact: contactToProto(project(contact, projection)),
        responseType: merged ? GetContactResponseType.MERGED : GetContactResponseType.REGULAR,
      });
    },

    async updateContact(req, ctx) {
      validateId(req.contactId, "contact_id");
      if (!req.info) throw invalidField("INVALID_CONTACT_INFO", "info", "is required");
      const mask = req.fieldMask ? parseFieldMask(req.fieldMask.paths) : undefined;
      const meta = mutationMeta(ctx, UpdateContactRequestSchema, req);
      const contact = await contacts.updateContact(
        depsFor(deps, ctx),
        callerOf(ctx),
        {
          contactId: req.contactId,
          revision: req.revision,
          info: infoToJson(req.info),
          mask: mask && mask.length > 0 ? mask : undefined,
          allowDuplicates: req.allowDuplicates,
        },
        meta,
      );
      return create(UpdateContactResponseSchema, { contact: contactToProto(contact) });
    },

    async deleteContact(req, ctx) {
      validateId(req.contactId, "contact_id");
      await contacts.deleteContact(depsFor(deps, ctx), callerOf(ctx), req.contactId, mutationMeta(ctx, DeleteContactRequestSchema, req));
      return create(DeleteContactResponseSchema, {});
    },

    async labelContact(req, ctx) {
      validateId(req.contactId, "contact_id");
      const keys = labelKeys(req.labelKeys);
      const meta = mutationMeta(ctx, LabelContactRequestSchema, req);
      const contact = await contacts.changeLabels(depsFor(deps, ctx), callerOf(ctx), req.contactId, keys, "add", meta);
      return create(LabelContactResponseSchema, { contact: contactToProto(contact) });
    },

    async unlabelContact(req, ctx) {
      validateId(req.contactId, "contact_id");
      const keys = labelKeys(req.labelKeys);
      const meta = mutationMeta(ctx, UnlabelContactRequestSchema, req);
      const contact = await contacts.changeLabels(depsFor(deps, ctx), callerOf(ctx), req.contactId, keys, "remove", meta);
      return create(UnlabelContactResponseSchema, { contact: contactToProto(contact) });
    },

    async queryContacts(req, ctx) {
      const q = req.query;
      const page = await contactQuery.queryContacts(depsFor(deps, ctx), callerOf(ctx), {
        filter: q?.filter,
        sort: sortEntries(q?.sort ?? []),
        search: req.search,
        page: pageSpec(q?.pagingMethod ?? { case: undefined }, CONTACT_PAGING, CONTACT_QUERY_CODES, "query"),
        projection: parseProjection(q?.fields ?? [], fieldSetNames(q?.fieldsets ?? []), "query"),
        where: { filter: "query.filter", sort: "query.sort", cursor: "query.cursor_paging.cursor", search: "search" },
      });
      return create(QueryContactsResponseSchema, {
        contacts: page.items.map(contactToProto),
        pagingMetadata: pagingMetadata(page.page),
      });
    },

    async listContacts(req, ctx) {
      if (req.paging && req.cursorPaging) {
        throw invalidField("INVALID_PAGING", "cursor_paging", "send paging or cursor_paging, not both");
      }
      const paging = req.cursorPaging
        ? ({ case: "cursorPaging", value: req.cursorPaging } as const)
        : req.paging
          ? ({ case: "paging", value: req.paging } as const)
          : ({ case: undefined } as const);
      const page = await contactQuery.queryContacts(depsFor(deps, ctx), callerOf(ctx), {
        filter: undefined,
        sort: req.sort ? sortEntries([req.sort]) : [],
        page: pageSpec(paging, CONTACT_PAGING, CONTACT_QUERY_CODES, ""),
        projection: parseProjection(req.fields, fieldSetNames(req.fieldsets)),
        where: { filter: "", sort: "sort", cursor: "cursor_paging.cursor", search: "" },
      });
      return create(ListContactsResponseSchema, {
        contacts: page.items.map(contactToProto),
        pagingMetadata: pagingMetadata(page.page),
      });
    },

    async listFacets(req, ctx) {
      return create(ListFacetsResponseSchema, facetPage(await contactQuery.facets(depsFor(deps, ctx), callerOf(ctx), undefined, "filter"), req.paging));
    },

    async queryFacets(req, ctx) {
      return create(QueryFacetsResponseSchema, facetPage(await contactQuery.facets(depsFor(deps, ctx), callerOf(ctx), req.filter, "filter"), req.paging));
    },

    async mergeContacts(req, ctx) {
      validateId(req.targetContactId, "target_contact_id");
      for (const [i, id] of req.sourceContactIds.entries()) validateId(id, `source_contact_ids[${i}]`);
      const meta = mutationMeta(ctx, MergeContactsRequestSchema, req);
      const contact = await merge.mergeContacts(depsFor(deps, ctx), callerOf(ctx), req, meta);
      return create(MergeContactsResponseSchema, { contact: contactToProto(contact) });
    },

    async previewMergeContacts(req, ctx) {
      validateId(req.targetContactId, "target_contact_id");
      for (const [i, id] of req.sourceContactIds.entries()) validateId(id, `source_contact_ids[${i}]`);
      const contact = await merge.previewMergeContacts(depsFor(deps, ctx), callerOf(ctx), req);
      return create(PreviewMergeContactsResponseSchema, { contact: contactToProto(contact) });
    },

    async bulkUpsertContacts(req, ctx) {
      const meta = mutationMeta(ctx, BulkUpsertContactsRequestSchema, req);
      const items = req.contacts.map((info, i) => infoToJson(info, `contacts[${i}]`));
      const results = await upsert.bulkUpsertContacts(depsFor(deps, ctx), callerOf(ctx), items, req.returnEntity, meta);
      const failures = results.filter((r) => r.action === "FAILED").length;
      return create(BulkUpsertContactsResponseSchema, {
        results: results.map((r) => ({
          originalIndex: r.originalIndex,
          action: UpsertAction[r.action],
          contactId: r.contactId ?? "",
          ...(r.contact ? { contact: contactToProto(r.contact) } : {}),
          ...(r.error ? { error: { code: r.error.code, message: r.error.message, field: r.error.field ?? "" } } : {}),
        })),
        bulkActionMetadata: { totalSuccesses: results.length - failures, totalFailures: failures },
      });
    },

    async *exportContacts(req, ctx) {
      const projection = parseProjection(req.fields, fieldSetNames(req.fieldsets));
      const pages = contactQuery.exportContacts(depsFor(deps, ctx), callerOf(ctx), { filter: req.filter, search: req.search, projection });
      for await (const contacts of pages) yield create(ExportContactsResponseSchema, { contacts: contacts.map(contactToProto) });
    },

    async updateMemberInfo(req, ctx) {
      validateId(req.contactId, "contact_id");
      // signup_date is the server's to set (services/contacts.ts ignores it): not converted, so an invalid Timestamp cannot fail toJson.
      const member = req.memberInfo ? (toJson(MemberInfoSchema, { ...req.memberInfo, signupDate: undefined }) as MemberInfoJson) : undefined;
      const meta = mutationMeta(ctx, UpdateMemberInfoRequestSchema, req);
      const contact = await contacts.updateMemberInfo(depsFor(deps, ctx), callerOf(ctx), req.contactId, member, meta);
      return create(UpdateMemberInfoResponseSchema, { contact: contactToProto(contact) });
    },
  };
}
