/**
 * A program typed with the reference SDK's own declarations (`@wix/auto_sdk_crm_contacts`),
 * calling our contacts functions. Every argument has the reference's declared input type, so
 * this stops compiling when the SDK refuses a value the reference accepts (a `null` for an
 * optional value, an option it makes optional). It is compiled, never run.
 */
import type * as ref from "@wix/auto_sdk_crm_contacts";
import { createClient } from "../../sdk/src/index.js";
import type { ReferenceFunction } from "./reference.js";

const { contacts } = createClient({ baseUrl: "http://127.0.0.1:1", tenantId: "reference-types" });

/** Every function of the reference module, with arguments of its input types. */
export const calls = {
  createContact: (info: ref.ContactInfo, options?: ref.CreateContactOptions) => contacts.createContact(info, options),
  getContact: (_id: string, options?: ref.GetContactOptions) => contacts.getContact(_id, options),
  updateContact: (contactId: string, info: ref.ContactInfo, revision: number, options?: ref.UpdateContactOptions) =>
    contacts.updateContact(contactId, info, revision, options),
  deleteContact: (contactId: string) => contacts.deleteContact(contactId),
  labelContact: (contactId: string, labelKeys: string[]) => contacts.labelContact(contactId, labelKeys),
  unlabelContact: (contactId: string, labelKeys: string[]) => contacts.unlabelContact(contactId, labelKeys),
  mergeContacts: (targetContactId: string, targetContactRevision: number, options?: ref.MergeContactsOptions) =>
    contacts.mergeContacts(targetContactId, targetContactRevision, options),
  previewMergeContacts: (targetContactId: string, options?: ref.PreviewMergeContactsOptions) => contacts.previewMergeContacts(targetContactId, options),
  listContacts: (options?: ref.ListContactsOptions) => contacts.listContacts(options),
  listFacets: (options?: ref.ListFacetsOptions) => contacts.listFacets(options),
  queryFacets: (options?: ref.QueryFacetsOptions) => contacts.queryFacets(options),
  bulkDeleteContacts: (options?: ref.BulkDeleteContactsOptions) => contacts.bulkDeleteContacts(options),
  bulkUpdateContacts: (options?: ref.BulkUpdateContactsOptions) => contacts.bulkUpdateContacts(options),
  bulkLabelAndUnlabelContacts: (options?: ref.BulkLabelAndUnlabelContactsOptions) => contacts.bulkLabelAndUnlabelContacts(options),
  queryContacts: (options?: ref.QueryContactsOptions) => contacts.queryContacts(options),
} satisfies Record<ReferenceFunction<typeof ref>, unknown>;

/** Literals as the reference's documentation writes them, `null` standing for "not set". */
export const literals = {
  info: {
    name: { first: "Ada", last: null },
    company: null,
    jobTitle: null,
    birthdate: null,
    locale: null,
    emails: { items: [{ email: "ada@example.com", tag: "WORK", primary: null, _id: null }] },
    phones: { items: [{ phone: "+1 555 0100", countryCode: null, e164Phone: null }] },
    addresses: { items: [{ tag: "HOME", address: { city: "London", country: null, addressLine2: null, subdivision: null, postalCode: null } }] },
  } satisfies ref.ContactInfo,
  listFacets: { language: null } satisfies ref.ListFacetsOptions,
  bulkDelete: { filter: null, search: "ada" } satisfies ref.BulkDeleteContactsOptions,
  paging: { paging: { limit: 10, offset: null } } satisfies ref.ListContactsOptions,
};

export const literalCalls = [
  contacts.createContact(literals.info),
  contacts.updateContact("id", literals.info, 1),
  contacts.listFacets(literals.listFacets),
  contacts.bulkDeleteContacts(literals.bulkDelete),
  contacts.listContacts(literals.paging),
  contacts.mergeContacts("id", 1),
  contacts.previewMergeContacts("id"),
];
