/**
 * Which scope each RPC needs (API.md "Tenancy, identity and scopes"). Every method of every
 * tenant-scoped service is listed; a method missing here is refused, so a new RPC cannot ship
 * unprotected by accident (a test checks the table covers the whole contract).
 */
export type Scope = "contacts.read" | "contacts.manage" | "labels.manage" | "extended-fields.manage" | "members.manage" | "webhooks.manage" | "contacts.admin";

export const SCOPES: readonly Scope[] = [
  "contacts.read",
  "contacts.manage",
  "labels.manage",
  "extended-fields.manage",
  "members.manage",
  "webhooks.manage",
  "contacts.admin",
];

const READ: Scope = "contacts.read";
// Reference §7: "Labels (all methods): Manage Contact Labels", the same for extended fields; and
// API.md: `contacts.read` reads labels and fields too.
const LABEL_READ: readonly Scope[] = [READ, "labels.manage"];
const FIELD_READ: readonly Scope[] = [READ, "extended-fields.manage"];

/**
 * Fully-qualified method (`contacts.v1.LabelsService/GetLabel`) → the scopes that let a caller
 * call it (any one of them; the first is the one named in MISSING_SCOPE).
 */
export const METHOD_SCOPES: Readonly<Record<string, readonly Scope[]>> = {
  "contacts.v1.ContactsService/CreateContact": ["contacts.manage"],
  "contacts.v1.ContactsService/GetContact": [READ],
  "contacts.v1.ContactsService/UpdateContact": ["contacts.manage"],
  "contacts.v1.ContactsService/DeleteContact": ["contacts.manage"],
  "contacts.v1.ContactsService/LabelContact": ["contacts.manage"],
  "contacts.v1.ContactsService/UnlabelContact": ["contacts.manage"],
  "contacts.v1.ContactsService/MergeContacts": ["contacts.manage"],
  "contacts.v1.ContactsService/PreviewMergeContacts": ["contacts.manage"],
  "contacts.v1.ContactsService/QueryContacts": [READ],
  "contacts.v1.ContactsService/ListContacts": [READ],
  "contacts.v1.ContactsService/ListFacets": [READ],
  "contacts.v1.ContactsService/QueryFacets": [READ],
  "contacts.v1.ContactsService/UpdateMemberInfo": ["members.manage"],
  // Reading bulk jobs too needs Manage Contacts (reference §7: "Get Bulk Job: Manage Contacts").
  "contacts.v1.ContactsService/BulkDeleteContacts": ["contacts.manage"],
  "contacts.v1.ContactsService/BulkUpdateContacts": ["contacts.manage"],
  "contacts.v1.ContactsService/BulkLabelAndUnlabelContacts": ["contacts.manage"],
  "contacts.v1.ContactsService/GetBulkJob": ["contacts.manage"],
  "contacts.v1.ContactsService/ListBulkJobs": ["contacts.manage"],
  "contacts.v1.ContactsService/CancelBulkJob": ["contacts.manage"],
  "contacts.v1.ContactsService/BulkUpsertContacts": ["contacts.manage"],
  "contacts.v1.ContactsService/ExportContacts": [READ],
  "contacts.v1.LabelsService/FindOrCreateLabel": ["labels.manage"],
  "contacts.v1.LabelsService/GetLabel": LABEL_READ,
  "contacts.v1.LabelsService/ListLabels": LABEL_READ,
  "contacts.v1.LabelsService/QueryLabels": LABEL_READ,
  "contacts.v1.LabelsService/RenameLabel": ["labels.manage"],
  "contacts.v1.LabelsService/DeleteLabel": ["labels.manage"],
  "contacts.v1.ExtendedFieldsService/FindOrCreateExtendedField": ["extended-fields.manage"],
  "contacts.v1.ExtendedFieldsService/GetExtendedField": FIELD_READ,
  "contacts.v1.ExtendedFieldsService/ListExtendedFields": FIELD_READ,
  "contacts.v1.ExtendedFieldsService/QueryExtendedFields": FIELD_READ,
  "contacts.v1.ExtendedFieldsService/RenameExtendedField": ["extended-fields.manage"],
  "contacts.v1.ExtendedFieldsService/DeleteExtendedField": ["extended-fields.manage"],
  // Contact, label and field events alike are reads (API.md); the stream filters by entity type.
  "contacts.v1.EventsService/WatchEvents": [READ],
  // A subscription receives every event of its types, contacts, labels and fields alike.
  "contacts.v1.WebhooksService/CreateWebhook": ["webhooks.manage"],
  "contacts.v1.WebhooksService/GetWebhook": ["webhooks.manage"],
  "contacts.v1.WebhooksService/ListWebhooks": ["webhooks.manage"],
  "contacts.v1.WebhooksService/DeleteWebhook": ["webhooks.manage"],
  "contacts.v1.WebhooksService/RotateWebhookSecret": ["webhooks.manage"],
  "contacts.v1.WebhooksService/EnableWebhook": ["webhooks.manage"],
  "contacts.v1.WebhooksService/ListWebhookAttempts": ["webhooks.manage"],
};

/** Scopes that grant others: admin grants everything, manage grants read. */
const IMPLIED: Readonly<Record<Scope, readonly Scope[]>> = {
  "contacts.admin": SCOPES,
  "contacts.manage": ["contacts.manage", "contacts.read"],
  "contacts.read": ["contacts.read"],
  "labels.manage": ["labels.manage"],
  "extended-fields.manage": ["extended-fields.manage"],
  "members.manage": ["members.manage"],
  "webhooks.manage": ["webhooks.manage"],
};

/** Every scope a set of granted scopes amounts to. Unknown scope names grant nothing. */
export function effectiveScopes(granted: readonly string[]): Set<Scope> {
  const out = new Set<Scope>();
  for (const g of granted) for (const s of Object.hasOwn(IMPLIED, g) ? IMPLIED[g as Scope] : []) out.add(s);
  return out;
}
