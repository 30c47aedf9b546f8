import { invalidField } from "./errors.js";

export type LabelType = "SYSTEM" | "USER_DEFINED" | "WIX_APP_DEFINED";

/** A contact label as the domain sees it. System labels have no dates. */
export interface Label {
  namespace: string;
  namespaceDisplayName: string;
  key: string;
  displayName: string;
  labelType: LabelType;
  createdDate?: Date;
  updatedDate?: Date;
}

export const LABEL_LIMITS = {
  displayNameMax: 180,
  keyMax: 80,
  namespaceMin: 3,
  namespaceMax: 25,
  /** Custom labels per tenant unless configured otherwise (API.md). */
  defaultQuota: 1000,
} as const;

export const CUSTOM_NAMESPACE = { namespace: "custom", displayName: "Custom" } as const;

/** Labels every tenant has; they cannot be renamed or deleted. */
export const SYSTEM_LABELS: readonly Label[] = [
  {
    namespace: "contacts",
    namespaceDisplayName: "Contacts",
    key: "contacts.customers",
    displayName: "Customers",
    labelType: "SYSTEM",
  },
  {
    namespace: "contacts",
    namespaceDisplayName: "Contacts",
    key: "contacts.contacted-me",
    displayName: "Contacted Me",
    labelType: "SYSTEM",
  },
];

/** Checks a display name for FindOrCreate or rename; returns it trimmed. */
export function validateDisplayName(value: string, field: string, max: number): string {
  const trimmed = value.trim();
  if (trimmed.length === 0) {
    throw invalidField("INVALID_DISPLAY_NAME", field, "must not be empty");
  }
  if ([...trimmed].length > max) {
    throw invalidField("INVALID_DISPLAY_NAME", field, `must be at most ${max} characters`);
  }
  return trimmed;
}

/** Checks a key argument (Get, Rename, Delete). */
export function validateKey(value: string, field: string, max: number): void {
  if (value.length === 0) throw invalidField("INVALID_KEY", field, "is required");
  if (value.length > max) throw invalidField("INVALID_KEY", field, `must be at most ${max} characters`);
}
