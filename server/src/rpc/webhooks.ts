import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  CreateWebhookResponseSchema,
  DeleteWebhookResponseSchema,
  EnableWebhookResponseSchema,
  GetWebhookResponseSchema,
  ListWebhookAttemptsResponseSchema,
  ListWebhooksResponseSchema,
  RotateWebhookSecretResponseSchema,
  type Webhook,
  WebhookAttemptSchema,
  WebhookSchema,
  WebhookStatus,
  type WebhooksService,
} from "../../../gen/contacts/v1/webhooks_service_pb.js";
import { CONTACT_QUERY_CODES, resolvePage } from "../domain/query.js";
import type { ServiceDeps } from "../services/deps.js";
import { encodeEventCursor } from "../services/events.js";
import * as webhooks from "../services/webhooks.js";
import { pagingMetadata } from "./common.js";
import { callerOf, depsFor } from "./context.js";

const ATTEMPT_PAGING = { defaultLimit: 100, maxLimit: 1000, overMax: "coerce" } as const;

const ms = (v: number | undefined) => (v === undefined ? undefined : timestampFromMs(v));

export function webhookToProto(w: webhooks.Webhook): Webhook {
  return create(WebhookSchema, {
    id: w.id,
    url: w.url,
    eventTypes: w.eventTypes,
    description: w.description,
    status: WebhookStatus[w.status],
    createdDate: timestampFromMs(w.createdDate),
    secret: w.secret ?? "",
    deliveredCursor: encodeEventCursor(w.deliveredSeq),
    lastDeliveredDate: ms(w.lastDeliveredDate),
    consecutiveFailures: w.consecutiveFailures,
    lastError: w.lastError ?? "",
    lastErrorDate: ms(w.lastErrorDate),
    nextAttemptDate: ms(w.nextAttemptDate),
    disabledDate: ms(w.disabledDate),
  });
}

export function webhooksHandlers(deps: ServiceDeps, settings: webhooks.WebhookSettings): ServiceImpl<typeof WebhooksService> {
  return {
    async createWebhook(req, ctx) {
      const hook = await webhooks.createWebhook(depsFor(deps, ctx), callerOf(ctx), settings, {
        url: req.url,
        eventTypes: req.eventTypes,
        description: req.description,
      });
      return create(CreateWebhookResponseSchema, { webhook: webhookToProto(hook) });
    },

    async getWebhook(req, ctx) {
      return create(GetWebhookResponseSchema, { webhook: webhookToProto(await webhooks.getWebhook(depsFor(deps, ctx), callerOf(ctx), req.id)) });
    },

    async listWebhooks(_req, ctx) {
      const all = await webhooks.listWebhooks(depsFor(deps, ctx), callerOf(ctx));
      return create(ListWebhooksResponseSchema, { webhooks: all.map(webhookToProto) });
    },

    async deleteWebhook(req, ctx) {
      await webhooks.deleteWebhook(depsFor(deps, ctx), callerOf(ctx), req.id);
      return create(DeleteWebhookResponseSchema, {});
    },

    async rotateWebhookSecret(req, ctx) {
      const hook = await webhooks.rotateWebhookSecret(depsFor(deps, ctx), callerOf(ctx), settings, req.id);
      return create(RotateWebhookSecretResponseSchema, { webhook: webhookToProto(hook) });
    },

    async enableWebhook(req, ctx) {
      const hook = await webhooks.enableWebhook(depsFor(deps, ctx), callerOf(ctx), req.id, req.skipPending);
      return create(EnableWebhookResponseSchema, { webhook: webhookToProto(hook) });
    },

    async listWebhookAttempts(req, ctx) {
      const { limit, offset } = resolvePage(req.paging?.limit, req.paging?.offset, ATTEMPT_PAGING, CONTACT_QUERY_CODES, "paging");
      const page = await webhooks.listWebhookAttempts(depsFor(deps, ctx), callerOf(ctx), req.id, { limit, offset });
      return create(ListWebhookAttemptsResponseSchema, {
        attempts: page.items.map((a) => create(WebhookAttemptSchema, { ...a, attemptDate: timestampFromMs(a.attemptDate) })),
        pagingMetadata: pagingMetadata(page.page),
      });
    },
  };
}
