import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type ContactLabel,
  ContactLabelSchema,
  DeleteLabelRequestSchema,
  DeleteLabelResponseSchema,
  FindOrCreateLabelRequestSchema,
  FindOrCreateLabelResponseSchema,
  GetLabelResponseSchema,
  LabelType,
  type LabelsService,
  ListLabelsResponseSchema,
  QueryLabelsResponseSchema,
  RenameLabelRequestSchema,
  RenameLabelResponseSchema,
} from "../../../gen/contacts/v1/labels_service_pb.js";
import { invalidField } from "../domain/errors.js";
import { LABEL_LIMITS, type Label, validateDisplayName, validateKey } from "../domain/labels.js";
import { type Filter, type FieldSpec, parseFilter, parseSort, type PagingRules } from "../domain/query.js";
import type { ServiceDeps } from "../services/deps.js";
import * as labels from "../services/labels.js";
import { callerOf, depsFor } from "./context.js";
import { catalogListFilter } from "./catalog-list.js";
import { mutationMeta, pageSpec, pagingMetadata, sortEntries, timestamp } from "./common.js";

export const LABEL_PAGING: PagingRules = { defaultLimit: 1000, maxLimit: 2000, overMax: "coerce" };

export function labelToProto(label: Label): ContactLabel {
  return create(ContactLabelSchema, {
    namespace: label.namespace,
    namespaceDisplayName: label.namespaceDisplayName,
    key: label.key,
    displayName: label.displayName,
    labelType: LabelType[label.labelType],
    createdDate: timestamp(label.createdDate),
    updatedDate: timestamp(label.updatedDate),
  });
}

const labelTypeField = labels.LABEL_FIELDS.find((f) => f.path === "labelType") as FieldSpec;

export function labelsHandlers(deps: ServiceDeps): ServiceImpl<typeof LabelsService> {
  const schema = labels.labelSchema;
  return {
    async findOrCreateLabel(req, ctx) {
      const displayName = validateDisplayName(req.displayName, "display_name", LABEL_LIMITS.displayNameMax);
      const meta = mutationMeta(ctx, FindOrCreateLabelRequestSchema, req);
      const { entity, created } = await labels.findOrCreateLabel(depsFor(deps, ctx), callerOf(ctx), displayName, meta);
      return create(FindOrCreateLabelResponseSchema, { label: labelToProto(entity), newLabel: created });
    },

    async getLabel(req, ctx) {
      validateKey(req.key, "key", LABEL_LIMITS.keyMax);
      const label = await labels.getLabel(depsFor(deps, ctx), callerOf(ctx), req.key);
      return create(GetLabelResponseSchema, { label: labelToProto(label) });
    },

    async listLabels(req, ctx) {
      const filters: Filter[] = catalogListFilter(req, schema, LABEL_LIMITS.displayNameMax);
      if (req.labelType !== undefined && req.labelType !== LabelType.UNSPECIFIED) {
        if (LabelType[req.labelType] === undefined) throw invalidField("INVALID_LABEL_TYPE", "label_type", `unknown label type ${req.labelType}`);
        filters.push({ kind: "compare", field: labelTypeField, op: "$eq", value: LabelType[req.labelType] });
      }
      const sorts = parseSort(req.sort ? sortEntries([req.sort]) : [], schema, "sort");
      const page = pageSpec(req.paging ? { case: "paging", value: req.paging } : { case: undefined }, LABEL_PAGING, schema.codes, "");
      const result = await labels.queryLabels(depsFor(deps, ctx), callerOf(ctx), {
        filter: { kind: "and", filters },
        sorts,
        page,
        cursorField: "",
      });
      return create(ListLabelsResponseSchema, {
        labels: result.items.map(labelToProto),
        metadata: pagingMetadata(result.page),
      });
    },

    async queryLabels(req, ctx) {
      const query = req.query;
      const filter = parseFilter(query?.filter, schema);
      const sorts = parseSort(sortEntries(query?.sort ?? []), schema);
      const page = pageSpec(query?.pagingMethod ?? { case: undefined }, LABEL_PAGING, schema.codes, "query");
      const result = await labels.queryLabels(depsFor(deps, ctx), callerOf(ctx), {
        filter,
        sorts,
        page,
        cursorField: "query.cursor_paging.cursor",
      });
      return create(QueryLabelsResponseSchema, {
        labels: result.items.map(labelToProto),
        pagingMetadata: pagingMetadata(result.page),
      });
    },

    async renameLabel(req, ctx) {
      if (!req.label) throw invalidField("INVALID_LABEL", "label", "is required");
      validateKey(req.label.key, "label.key", LABEL_LIMITS.keyMax);
      const displayName = validateDisplayName(req.label.displayName, "label.display_name", LABEL_LIMITS.displayNameMax);
      const meta = mutationMeta(ctx, RenameLabelRequestSchema, req);
      const label = await labels.renameLabel(depsFor(deps, ctx), callerOf(ctx), req.label.key, displayName, meta);
      return create(RenameLabelResponseSchema, { label: labelToProto(label) });
    },

    async deleteLabel(req, ctx) {
      validateKey(req.key, "key", LABEL_LIMITS.keyMax);
      const meta = mutationMeta(ctx, DeleteLabelRequestSchema, req);
      await labels.deleteLabel(depsFor(deps, ctx), callerOf(ctx), req.key, meta);
      return create(DeleteLabelResponseSchema, {});
    },
  };
}
