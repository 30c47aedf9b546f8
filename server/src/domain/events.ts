import type { Caller } from "./caller.js";
import type { ExtendedField } from "./extended-fields.js";
import type { Label } from "./labels.js";

export const ENTITY_FQDN = {
  contact: "contacts.v1.contact",
  label: "contacts.v1.label",
  extendedField: "contacts.v1.extended_field",
} as const;
export type EntityFqdn = (typeof ENTITY_FQDN)[keyof typeof ENTITY_FQDN];

export type EventType =
  | "contact_created"
  | "contact_updated"
  | "contact_deleted"
  | "contact_merged"
  | "label_created"
  | "label_updated"
  | "label_deleted"
  | "extended_field_created"
  | "extended_field_updated"
  | "extended_field_deleted";

export type Slug = "created" | "updated" | "deleted" | "merged";

/**
 * The entity an event carries: after the change, or before it for deletes. Contacts are typed
 * as `unknown` here until the contacts domain lands; the payload is stored as JSON.
 */
export type EventPayload =
  | { kind: "label"; label: Label }
  | { kind: "extendedField"; field: ExtendedField }
  | { kind: "contact"; contact: unknown }
  | { kind: "contactMerged"; targetContactId: string; sourceContactIds: string[]; targetContact: unknown };

/** An event to append, as a write produces it. */
export interface NewEvent {
  eventType: EventType;
  entityFqdn: EntityFqdn;
  slug: Slug;
  entityId: string;
  originatedFrom?: string;
  modifiedFields?: string[];
  payload: EventPayload;
}

/** An event as stored in the outbox. */
export interface StoredEvent extends NewEvent {
  tenantId: string;
  /** Position in the tenant's log; commit order. */
  seq: number;
  id: string;
  entitySeq: number;
  identityType: Caller["identityType"];
  subject: string;
  eventTime: Date;
}
