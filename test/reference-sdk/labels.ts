/**
 * A program typed with the reference SDK's own declarations (`@wix/auto_sdk_crm_labels`), calling
 * our labels functions (see contacts.ts). Compiled, never run.
 */
import type * as ref from "@wix/auto_sdk_crm_labels";
import { createClient } from "../../sdk/src/index.js";
import type { ReferenceFunction } from "./reference.js";

const { labels } = createClient({ baseUrl: "http://127.0.0.1:1", tenantId: "reference-types" });

/** Every function of the reference module, with arguments of its input types. */
export const calls = {
  findOrCreateLabel: (displayName: string, options?: ref.FindOrCreateLabelOptions) => labels.findOrCreateLabel(displayName, options),
  getLabel: (key: string, options?: ref.GetLabelOptions) => labels.getLabel(key, options),
  listLabels: (options?: ref.ListLabelsOptions) => labels.listLabels(options),
  queryLabels: (options?: ref.QueryLabelsOptions) => labels.queryLabels(options),
  renameLabel: (key: string, label: ref.RenameLabel & { displayName: string }, options?: ref.RenameLabelOptions) => labels.renameLabel(key, label, options),
  deleteLabel: (key: string) => labels.deleteLabel(key),
} satisfies Record<ReferenceFunction<typeof ref>, unknown>;

/** Literals with `null` standing for "not set". */
export const literalCalls = [
  labels.findOrCreateLabel("VIP", { language: null } satisfies ref.FindOrCreateLabelOptions),
  labels.listLabels({ namespace: null, startsWith: null, language: null, paging: { limit: null } } satisfies ref.ListLabelsOptions),
];
