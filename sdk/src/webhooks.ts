/**
 * `client.webhooks`: the tenant's webhook subscriptions (WebhooksService; scope
 * `webhooks.manage`). Not in the reference's SDK.
 */
import { createClient } from "@connectrpc/connect";
import { type CallOptions, runRead } from "./call.js";
import { request, toSdk } from "./codec.js";
import {
  CreateWebhookRequestSchema,
  DeleteWebhookRequestSchema,
  EnableWebhookRequestSchema,
  GetWebhookRequestSchema,
  ListWebhookAttemptsRequestSchema,
  ListWebhooksRequestSchema,
  RotateWebhookSecretRequestSchema,
  WebhookAttemptSchema,
  WebhookSchema,
  WebhooksService,
} from "./gen/contacts/v1/webhooks_service_pb.js";
import { pagingOf, pagingToWire, requireString, type Runtime } from "./runtime.js";
import type { Paging, PagingMetadata, Webhook, WebhookAttempt } from "./types.js";

/** What `createWebhook` subscribes. */
export interface CreateWebhookOptions extends CallOptions {
  /** Free text, at most 500 characters. */
  description?: string;
}

/** The webhooks module: `client.webhooks`. */
export interface WebhooksModule {
  /**
   * Subscribes an `https://` URL to event types; events committed from now on are delivered.
   * The answer holds the signing secret, shown again only by `rotateWebhookSecret`.
   *
   * @example
   * const hook = await webhooks.createWebhook("https://crm.example.com/hooks", ["contact_created", "contact_updated"]);
   * saveSecret(hook.secret);
   * @throws InvalidArgumentError `INVALID_WEBHOOK_URL`, `WEBHOOK_URL_NOT_ALLOWED`, `INVALID_EVENT_TYPE`; ResourceExhaustedError `WEBHOOKS_QUOTA_REACHED`
   */
  createWebhook(url: string, eventTypes: string[], options?: CreateWebhookOptions): Promise<Webhook>;
  /** Returns a subscription with its delivery state. @throws NotFoundError `WEBHOOK_NOT_FOUND` */
  getWebhook(webhookId: string, options?: CallOptions): Promise<Webhook>;
  /** Lists the tenant's subscriptions, oldest first. */
  listWebhooks(options?: CallOptions): Promise<Webhook[]>;
  /** Removes a subscription. @throws NotFoundError `WEBHOOK_NOT_FOUND` */
  deleteWebhook(webhookId: string, options?: CallOptions): Promise<void>;
  /**
   * Gives the subscription a new secret and returns it (in `secret`); for 24 h requests carry a
   * signature with each of the old and the new secret. @throws NotFoundError `WEBHOOK_NOT_FOUND`
   */
  rotateWebhookSecret(webhookId: string, options?: CallOptions): Promise<Webhook>;
  /**
   * Resumes a `DISABLED` subscription where it stopped, or with `skipPending` from now.
   * @throws NotFoundError `WEBHOOK_NOT_FOUND`; FailedPreconditionError `WEBHOOK_EVENTS_EXPIRED`
   */
  enableWebhook(webhookId: string, options?: CallOptions & { skipPending?: boolean }): Promise<Webhook>;
  /**
   * The delivery log, newest first (kept 7 days).
   *
   * @example
   * const { attempts } = await webhooks.listWebhookAttempts(hook._id, { paging: { limit: 20 } });
   * @throws NotFoundError `WEBHOOK_NOT_FOUND`
   */
  listWebhookAttempts(webhookId: string, options?: CallOptions & { paging?: Paging }): Promise<{ attempts: WebhookAttempt[]; pagingMetadata: PagingMetadata }>;
}

function webhookOf(message: Parameters<typeof toSdk>[1] | undefined): Webhook {
  if (!message) throw new Error("the server answered without a webhook");
  return toSdk<Webhook>(WebhookSchema, message);
}

/** Creates `client.webhooks`. */
export function webhooksModule(rt: Runtime): WebhooksModule {
  const client = createClient(WebhooksService, rt.transport);
  const ctx = rt.ctx;
  const id = (fn: string, webhookId: string) => ({ id: requireString(fn, "webhookId", webhookId) });

  return {
    // No request_id: a retry after a lost answer could subscribe twice, so creation is sent once
    // (retried only on UNAVAILABLE before the server saw it, as every call is).
    async createWebhook(url, eventTypes, options) {
      const req = request(
        CreateWebhookRequestSchema,
        { url: requireString("createWebhook", "url", url), eventTypes, ...(options?.description ? { description: options.description } : {}) },
        "createWebhook",
      );
      return webhookOf((await runRead(ctx, options, req, (r, o) => client.createWebhook(r, o))).webhook);
    },
    async getWebhook(webhookId, options) {
      const req = request(GetWebhookRequestSchema, id("getWebhook", webhookId), "getWebhook");
      return webhookOf((await runRead(ctx, options, req, (r, o) => client.getWebhook(r, o))).webhook);
    },
    async listWebhooks(options) {
      const req = request(ListWebhooksRequestSchema, {}, "listWebhooks");
      return (await runRead(ctx, options, req, (r, o) => client.listWebhooks(r, o))).webhooks.map((w) => webhookOf(w));
    },
    async deleteWebhook(webhookId, options) {
      const req = request(DeleteWebhookRequestSchema, id("deleteWebhook", webhookId), "deleteWebhook");
      await runRead(ctx, options, req, (r, o) => client.deleteWebhook(r, o));
    },
    async rotateWebhookSecret(webhookId, options) {
      const req = request(RotateWebhookSecretRequestSchema, id("rotateWebhookSecret", webhookId), "rotateWebhookSecret");
      return webhookOf((await runRead(ctx, options, req, (r, o) => client.rotateWebhookSecret(r, o))).webhook);
    },
    async enableWebhook(webhookId, options) {
      const req = request(EnableWebhookRequestSchema, { ...id("enableWebhook", webhookId), skipPending: options?.skipPending === true }, "enableWebhook");
      return webhookOf((await runRead(ctx, options, req, (r, o) => client.enableWebhook(r, o))).webhook);
    },
    async listWebhookAttempts(webhookId, options) {
      const req = request(
        ListWebhookAttemptsRequestSchema,
        { ...id("listWebhookAttempts", webhookId), ...(options?.paging ? { paging: pagingToWire(options.paging) } : {}) },
        "listWebhookAttempts",
      );
      const res = await runRead(ctx, options, req, (r, o) => client.listWebhookAttempts(r, o));
      return { attempts: res.attempts.map((a) => toSdk<WebhookAttempt>(WebhookAttemptSchema, a)), pagingMetadata: pagingOf(res.pagingMetadata) };
    },
  };
}
