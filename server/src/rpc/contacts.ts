import { create, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
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
} from "../../../gen/contacts/v1/contacts_service_pb.js";
import { normaliseLabelKeys, parseFieldMask } from "../domain/contact-info.js";
import { invalidField } from "../domain/errors.js";
import { type FieldSet, parseProjection, project } from "../domain/projection.js";
import * as contacts from "../services/contacts.js";
import type { ServiceDeps } from "../services/deps.js";
import { callerOf } from "./context.js";
import { mutationMeta } from "./common.js";

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
  return fromJson(ContactSchema, contact as JsonValue);
}

export function fieldSetNames(sets: readonly ContactFieldSet[]): FieldSet[] {
  return sets.filter((s) => s !== ContactFieldSet.UNSPECIFIED).map((s) => ContactFieldSet[s] as FieldSet);
}

function labelKeys(keys: readonly string[]): string[] {
  if (keys.length === 0) throw invalidField("INVALID_LABEL_KEY", "label_keys", "at least one label key is required");
  return normaliseLabelKeys(keys, "label_keys", 100);
}

export function contactsHandlers(deps: ServiceDeps): Partial<ServiceImpl<typeof ContactsService>> {
  return {
    async createContact(req, ctx) {
      if (!req.info) throw invalidField("INSUFFICIENT_CONTACT_DATA", "info", "is required");
      const meta = mutationMeta(ctx, CreateContactRequestSchema, req);
      const contact = await contacts.createContact(deps, callerOf(ctx), infoToJson(req.info), req.allowDuplicates, meta);
      return create(CreateContactResponseSchema, { contact: contactToProto(contact) });
    },

    async getContact(req, ctx) {
      validateId(req.id, "id");
      const projection = parseProjection(req.fields, fieldSetNames(req.fieldsets));
      const { contact, merged } = await contacts.getContact(deps, callerOf(ctx), req.id);
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
        deps,
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
      await contacts.deleteContact(deps, callerOf(ctx), req.contactId, mutationMeta(ctx, DeleteContactRequestSchema, req));
      return create(DeleteContactResponseSchema, {});
    },

    async labelContact(req, ctx) {
      validateId(req.contactId, "contact_id");
      const keys = labelKeys(req.labelKeys);
      const meta = mutationMeta(ctx, LabelContactRequestSchema, req);
      const contact = await contacts.changeLabels(deps, callerOf(ctx), req.contactId, keys, "add", meta);
      return create(LabelContactResponseSchema, { contact: contactToProto(contact) });
    },

    async unlabelContact(req, ctx) {
      validateId(req.contactId, "contact_id");
      const keys = labelKeys(req.labelKeys);
      const meta = mutationMeta(ctx, UnlabelContactRequestSchema, req);
      const contact = await contacts.changeLabels(deps, callerOf(ctx), req.contactId, keys, "remove", meta);
      return create(UnlabelContactResponseSchema, { contact: contactToProto(contact) });
    },

    async updateMemberInfo(req, ctx) {
      validateId(req.contactId, "contact_id");
      const member = req.memberInfo ? (toJson(MemberInfoSchema, req.memberInfo) as MemberInfoJson) : undefined;
      const meta = mutationMeta(ctx, UpdateMemberInfoRequestSchema, req);
      const contact = await contacts.updateMemberInfo(deps, callerOf(ctx), req.contactId, member, meta);
      return create(UpdateMemberInfoResponseSchema, { contact: contactToProto(contact) });
    },
  };
}
