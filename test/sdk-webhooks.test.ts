/**
 * `client.webhooks` through a real server (SQLite; the server side is tested on both stores in
 * test/webhooks.test.ts): subscribe, receive a signed delivery and verify it with the
 * `standardwebhooks` package as a receiver would, read the state and the delivery log, rotate,
 * disable-free enable, delete, and the typed errors.
 */
import { Webhook as Verifier } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError, NotFoundError } from "../sdk/src/index.js";
import { DEFAULTS } from "../server/src/config.js";
import { expectPlain, failure, suiteServer, tenant } from "./support/sdk.js";
import { WebhookReceiver } from "./support/webhook-receiver.js";

describe("SDK webhooks on sqlite", () => {
  const suite = suiteServer("sqlite", { webhooks: { ...DEFAULTS.webhooks, allowLoopback: true, pollMs: 50 } });
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
  });
  afterAll(async () => {
    await receiver.down();
  });

  it("subscribes, delivers a request the receiver verifies, and shows the state, the log and the errors", async () => {
    const { webhooks, contacts } = suite.clientFor(tenant("sdkhook"));
    const hook = await webhooks.createWebhook(receiver.url, ["contact_created"], { description: "CRM" });
    expectPlain(hook);
    expect(hook).toMatchObject({ url: receiver.url, eventTypes: ["contact_created"], status: "ACTIVE", description: "CRM" });
    expect(hook._createdDate).toBeInstanceOf(Date);
    expect(hook.secret).toMatch(/^whsec_/);

    const { contact } = await contacts.createContact({ name: { first: "Hooked" } });
    for (let i = 0; receiver.delivered.length === 0; i++) {
      if (i > 400) throw new Error("no delivery");
      await new Promise((r) => setTimeout(r, 25));
    }
    const [req] = receiver.delivered;
    const payload = new Verifier(hook.secret ?? "").verify(req?.body ?? "", req?.headers as Record<string, string>) as {
      type: string;
      data: { entityId: string };
    };
    expect(payload).toMatchObject({ type: "contact_created", data: { entityId: contact._id } });

    // The position moves, and the attempt is logged, once the receiver's answer is in.
    let state = await webhooks.getWebhook(hook._id);
    for (let i = 0; !state.lastDeliveredDate && i < 400; i++) {
      await new Promise((r) => setTimeout(r, 25));
      state = await webhooks.getWebhook(hook._id);
    }
    expect(state.secret).toBeUndefined();
    expect(state.lastDeliveredDate).toBeInstanceOf(Date);
    expect((await webhooks.listWebhooks()).map((w) => w._id)).toEqual([hook._id]);
    const { attempts, pagingMetadata } = await webhooks.listWebhookAttempts(hook._id, { paging: { limit: 10 } });
    expectPlain(attempts);
    expect(attempts).toMatchObject([{ eventType: "contact_created", entityId: contact._id, attempt: 1, delivered: true, statusCode: 204 }]);
    expect(pagingMetadata.total).toBe(1);
    const rotated = await webhooks.rotateWebhookSecret(hook._id);
    expect(rotated.secret).not.toBe(hook.secret);
    expect((await webhooks.enableWebhook(hook._id)).status).toBe("ACTIVE");

    const bad = await failure(webhooks.createWebhook("http://hooks.example.com/", ["contact_created"]));
    expect(bad).toBeInstanceOf(InvalidArgumentError);
    expect(bad.code).toBe("WEBHOOK_URL_NOT_ALLOWED");
    await webhooks.deleteWebhook(hook._id);
    const gone = await failure(webhooks.getWebhook(hook._id));
    expect(gone).toBeInstanceOf(NotFoundError);
    expect(gone.code).toBe("WEBHOOK_NOT_FOUND");
  });
});
