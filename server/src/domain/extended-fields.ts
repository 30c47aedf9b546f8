export type FieldDataType = "TEXT" | "NUMBER" | "DATE" | "URL";
export type FieldType = "SYSTEM" | "USER_DEFINED";

/** An extended field definition as the domain sees it. System fields have no dates. */
export interface ExtendedField {
  namespace: string;
  key: string;
  displayName: string;
  dataType: FieldDataType;
  fieldType: FieldType;
  createdDate?: Date;
  updatedDate?: Date;
  description?: string;
}

export const FIELD_LIMITS = {
  displayNameMax: 150,
  keyMax: 80,
  namespaceMin: 3,
  namespaceMax: 25,
  /** Custom extended fields per tenant unless configured otherwise (reference: 100). */
  defaultQuota: 100,
} as const;

function system(key: string, displayName: string, description: string): ExtendedField {
  return {
    namespace: key.slice(0, key.indexOf(".")),
    key,
    displayName,
    dataType: "TEXT",
    fieldType: "SYSTEM",
    description,
  };
}

/** Fields every tenant has, computed by the server; read-only to clients. */
export const SYSTEM_FIELDS: readonly ExtendedField[] = [
  system("contacts.displayByFirstName", "Display Name (start with first)", "First name, then last name"),
  system("contacts.displayByLastName", "Display Name (start with last)", "Last name, then first name"),
  system(
    "emailSubscriptions.subscriptionStatus",
    "Effective Subscription Status",
    "Marketing subscription status of the effective email",
  ),
  system(
    "emailSubscriptions.deliverabilityStatus",
    "Effective Deliverability Status",
    "Deliverability status of the effective email",
  ),
  system(
    "emailSubscriptions.effectiveEmail",
    "Effective Email",
    "The email marketing messages go to",
  ),
  system("members.membershipStatus", "Membership Status", "APPROVED, PENDING, DENIED or INACTIVE, from the contact's member info"),
];
