/**
 * grpc.health.v1.Health follows the database: SERVING while it answers, NOT_SERVING while it
 * does not, and API calls during an outage fail fast with UNAVAILABLE (never INTERNAL). The
 * outage is real: the server reaches MariaDB through a TCP proxy that the test cuts.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health_pb.js";
import { expectError } from "./support/errors.js";
import { startTestServer, type TestServer } from "./support/server.js";
import { suiteBehindProxy } from "./support/tcp-proxy.js";

/** DatabaseHealth pings every 2 s with a 1 s timeout: a change shows within ~3 s; allow 6 s. */
const STATE_CHANGE_MS = 6_000;
/** An API call during the outage must fail within this (no hanging until the deadline). */
const FAIL_FAST_MS = 6_000;

async function waitFor<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean, withinMs: number): Promise<T> {
  const deadline = Date.now() + withinMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (done(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${withinMs} ms (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("health", () => {
  describe("on a healthy server", () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await startTestServer("sqlite");
    });
    afterAll(async () => {
      await t?.close();
    });

    it("Check reports SERVING for the server and each served service", async () => {
      const health = t.client(Health);
      expect((await health.check({})).status).toBe(Status.SERVING);
      for (const service of ["contacts.v1.LabelsService", "contacts.v1.ExtendedFieldsService", "contacts.v1.ContactsService"]) {
        expect((await health.check({ service })).status, service).toBe(Status.SERVING);
      }
    });

    it("Check of an unknown service is NOT_FOUND, and Watch of it says SERVICE_UNKNOWN", async () => {
      const health = t.client(Health);
      let caught: unknown;
      try {
        await health.check({ service: "nope.v1.Nothing" });
      } catch (err) {
        caught = err;
      }
      expect(ConnectError.from(caught).code).toBe(Code.NotFound);
      const abort = new AbortController();
      for await (const res of health.watch({ service: "nope.v1.Nothing" }, { signal: abort.signal })) {
        expect(res.status).toBe(Status.SERVICE_UNKNOWN);
        abort.abort();
        break;
      }
    });

    it("Watch sends the current status at once", async () => {
      const abort = new AbortController();
      const first = await (async () => {
        for await (const res of t.client(Health).watch({}, { signal: abort.signal })) return res.status;
        return undefined;
      })();
      abort.abort();
      expect(first).toBe(Status.SERVING);
    });
  });

  describe("while the database is unreachable (MySQL behind a TCP proxy)", () => {
    const suite = suiteBehindProxy("health");

    const status = async () => (await suite.t().client(Health).check({})).status;

    it("goes NOT_SERVING, fails calls fast with UNAVAILABLE, and recovers", { timeout: 60_000 }, async () => {
      const t = suite.t();
      const proxy = suite.proxy();
      const health = t.client(Health);
      const { labels, fields } = t.clients("outage");
      expect(await status()).toBe(Status.SERVING);
      const made = await labels.findOrCreateLabel({ displayName: "Before" });
      expect(made.newLabel).toBe(true);
      await fields.findOrCreateExtendedField({ displayName: "Before", dataType: FieldDataType.TEXT });

      // Watch the whole transition on one stream.
      const watched: Status[] = [];
      const watchAbort = new AbortController();
      const watching = (async () => {
        try {
          for await (const res of health.watch({ service: "contacts.v1.LabelsService" }, { signal: watchAbort.signal })) {
            watched.push(res.status);
          }
        } catch (err) {
          if (!watchAbort.signal.aborted) throw err;
        }
      })();
      await waitFor(
        "Watch's first status",
        async () => watched.length,
        (n) => n >= 1,
        2_000,
      );

      proxy.pause();

      // Calls fail fast with UNAVAILABLE / DATABASE_UNAVAILABLE, for a known and a new tenant.
      const unavailable = { code: Code.Unavailable, reason: "DATABASE_UNAVAILABLE" };
      const calls: [string, () => Promise<unknown>][] = [
        ["GetLabel", () => labels.getLabel({ key: made.label?.key ?? "" })],
        ["FindOrCreateLabel", () => labels.findOrCreateLabel({ displayName: "During" })],
        ["ListLabels", () => labels.listLabels({})],
        ["QueryExtendedFields", () => fields.queryExtendedFields({ query: {} })],
        ["RenameExtendedField", () => fields.renameExtendedField({ field: { key: "custom.before", displayName: "After" } })],
        ["GetLabel (new tenant)", () => t.clients("outage-new").labels.getLabel({ key: "contacts.customers" })],
      ];
      const timings: Record<string, number> = {};
      for (const [name, call] of calls) {
        const started = Date.now();
        await expectError(call(), unavailable);
        timings[name] = Date.now() - started;
      }
      for (const [name, ms] of Object.entries(timings)) expect(ms, `${name} took ${ms} ms`).toBeLessThan(FAIL_FAST_MS);

      await waitFor("NOT_SERVING", status, (s) => s === Status.NOT_SERVING, STATE_CHANGE_MS);
      expect((await health.check({ service: "contacts.v1.ExtendedFieldsService" })).status).toBe(Status.NOT_SERVING);
      // Still failing the same way once the health check has noticed.
      await expectError(labels.getLabel({ key: "contacts.customers" }), unavailable);

      proxy.resume();

      await waitFor("SERVING again", status, (s) => s === Status.SERVING, STATE_CHANGE_MS);
      const got = await labels.getLabel({ key: made.label?.key ?? "" });
      expect(got.label?.displayName).toBe("Before");
      // Nothing from the outage was half-written; writes work again.
      const during = await labels.findOrCreateLabel({ displayName: "During" });
      expect(during.newLabel).toBe(true);
      expect((await fields.getExtendedField({ key: "custom.before" })).field?.displayName).toBe("Before");
      expect((await t.clients("outage-new").labels.getLabel({ key: "contacts.customers" })).label?.displayName).toBe("Customers");

      await waitFor(
        "Watch saw recovery",
        async () => watched.length,
        (n) => n >= 3,
        2_000,
      );
      watchAbort.abort();
      await watching;
      expect(watched).toEqual([Status.SERVING, Status.NOT_SERVING, Status.SERVING]);
    });
  });
});
