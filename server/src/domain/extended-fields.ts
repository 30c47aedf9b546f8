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

function system(key: string, displayName: string, description: string, dataType: FieldDataType = "TEXT"): ExtendedField {
  return {
    namespace: key.slice(0, key.indexOf(".")),
    key,
    displayName,
    dataType,
    fieldType: "SYSTEM",
    description,
  };
}

/** Fields every tenant has, computed by the server; read-only to clients. */
export const SYSTEM_FIELDS: readonly ExtendedField[] = [
  system("contacts.displayByFirstName", "Display Name (start with first)", "First name, then last name"),
  system("contacts.displayByLastName", "Display Name (start with last)", "Last name, then first name"),
  system("emailSubscriptions.subscriptionStatus", "Effective Subscription Status", "Marketing subscription status of the effective email"),
  system("emailSubscriptions.deliverabilityStatus", "Effective Deliverability Status", "Deliverability status of the effective email"),
  system("emailSubscriptions.effectiveEmail", "Effective Email", "The email marketing messages go to"),
  system("members.membershipStatus", "Membership Status", "APPROVED, PENDING, DENIED or INACTIVE, from the contact's member info"),
  system("members.mobile", "Mobile flag", '"true" when the member uses the mobile app, else "false"'),
  system("invoices.vatId", "VAT ID", "Government VAT ID, for invoices"),
  system("ecom.numOfPurchases", "# of Purchases", "Purchases made, written by the store (contacts.admin)", "NUMBER"),
  system("ecom.totalSpentAmount", "Total Spent Amount", "Amount spent, in ecom.totalSpentCurrency, written by the store (contacts.admin)", "NUMBER"),
  system("ecom.totalSpentCurrency", "Total Spent Currency", "ISO-4217 code of ecom.totalSpentAmount, written by the store (contacts.admin)"),
  system("ecom.lastPurchaseDate", "Last Purchase Date", "Day of the last purchase, YYYY-MM-DD, written by the store (contacts.admin)", "DATE"),
];

/**
 * System fields whose values are stored with the contact, as custom values are, rather than
 * computed from it; and who may write them (reference §1.4: `members.mobile` and `invoices.vatId`
 * are writable; the `ecom.*` values are the store's, so here only callers with `contacts.admin`,
 * the commerce system's service account, write them). Every other system field is read-only.
 */
export interface StoredSystemField {
  /** Who may write it: callers of the contact methods (`contacts.manage`), or only `contacts.admin`. */
  writer: "manage" | "admin";
  /** What a value of the field's data type must also be, if anything: the problem, or undefined. */
  check?: (value: string | number) => string | undefined;
}

export const STORED_SYSTEM_FIELDS: ReadonlyMap<string, StoredSystemField> = new Map<string, StoredSystemField>([
  ["members.mobile", { writer: "manage", check: (v) => (v === "true" || v === "false" ? undefined : 'must be "true" or "false"') }],
  ["invoices.vatId", { writer: "manage" }],
  ["ecom.numOfPurchases", { writer: "admin", check: (v) => (Number.isSafeInteger(v) && Number(v) >= 0 ? undefined : "must be a whole number, 0 or more") }],
  ["ecom.totalSpentAmount", { writer: "admin", check: (v) => (Number(v) >= 0 ? undefined : "must be 0 or more") }],
  [
    "ecom.totalSpentCurrency",
    { writer: "admin", check: (v) => (/^[A-Z]{3}$/.test(String(v)) ? undefined : "must be an ISO-4217 code of three capital letters") },
  ],
  ["ecom.lastPurchaseDate", { writer: "admin" }],
]);
