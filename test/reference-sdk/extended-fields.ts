/**
 * A program typed with the reference SDK's own declarations (`@wix/auto_sdk_crm_extended-fields`),
 * calling our extended-field functions (see contacts.ts). Compiled, never run.
 */
import type * as ref from "@wix/auto_sdk_crm_extended-fields";
import { createClient } from "../../sdk/src/index.js";
import type { ReferenceFunction } from "./reference.js";

const { extendedFields } = createClient({ baseUrl: "http://127.0.0.1:1", tenantId: "reference-types" });

/** Every function of the reference module, with arguments of its input types. */
export const calls = {
  findOrCreateExtendedField: (displayName: string, dataType: ref.FieldDataTypeWithLiterals) => extendedFields.findOrCreateExtendedField(displayName, dataType),
  getExtendedField: (key: string) => extendedFields.getExtendedField(key),
  listExtendedFields: (options?: ref.ListExtendedFieldsOptions) => extendedFields.listExtendedFields(options),
  queryExtendedFields: () => extendedFields.queryExtendedFields(),
  renameExtendedField: (key: string, field: ref.RenameExtendedField & { displayName: string }) => extendedFields.renameExtendedField(key, field),
  deleteExtendedField: (key: string) => extendedFields.deleteExtendedField(key),
} satisfies Record<ReferenceFunction<typeof ref>, unknown>;

/** Literals with `null` standing for "not set". */
export const literalCalls = [
  extendedFields.listExtendedFields({ namespace: null, startsWith: null, paging: { offset: null } } satisfies ref.ListExtendedFieldsOptions),
];
