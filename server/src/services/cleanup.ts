/**
 * Removing a deleted label or extended field from every contact that uses it. The delete
 * commits first, with a cleanup job row leased to the server that took the call; then contacts
 * are changed in bounded batches, each its own short transaction with a revision bump and a
 * `contact_updated` event per contact, so a label on 100,000 contacts neither times out nor holds
 * locks for long. Each batch renews the lease; every server looks for jobs whose lease ran out
 * (their server died) and finishes them. Meanwhile the entry is invisible on every contact
 * (domain/contacts.ts Stripped).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Knex } from "knex";
import type { Caller } from "../domain/caller.js";
import { changedPaths } from "../domain/contact-info.js";
import { type StoredContact, stripInfo } from "../domain/contacts.js";
import * as contactsStore from "../store/contacts.js";
import * as jobs from "../store/cleanup-jobs.js";
import type { CleanupKind } from "../store/cleanup-jobs.js";
import { unbound } from "../store/call-scope.js";
import { type Db, inTransaction } from "../store/db.js";
import { appendEvents } from "../store/events.js";
import { contactEvent } from "./contacts.js";
import type { ServiceDeps } from "./deps.js";

export const CLEANUP_BATCH = 200;

function strip(c: StoredContact, kind: CleanupKind, key: string): StoredContact["info"] {
  const none = new Set<string>();
  return stripInfo(c.info, kind === "label" ? { labels: new Set([key]), fields: none } : { labels: none, fields: new Set([key]) });
}

export interface CleanupOptions {
  /** This process's name in leases: unique per process. */
  owner: string;
  /** How long a job stays with a server that stopped working on it. `CLEANUP_LEASE_MS`, default 30 000. */
  leaseMs: number;
  /** How often a server looks for jobs left by a server that died. `CLEANUP_POLL_MS`, default 2000. */
  pollMs: number;
  /** How long the delete call itself works on its job before it goes on in the background. `CLEANUP_BUDGET_MS`, default 2000. */
  budgetMs: number;
}

/** The identity recorded on the events of cleanups taken over from another server. */
const SYSTEM_CALLER = { subject: "system:cleanup", identityType: "APP" } as const;

const jobKey = (tenantId: string, kind: CleanupKind, key: string) => `${tenantId}\u0000${kind}\u0000${key}`;

/** Every server process has one: it runs the cleanups of its deletes, and those left by others. */
export class CleanupRunner {
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly deps: Pick<ServiceDeps, "db" | "eventBus" | "draining">,
    private readonly options: CleanupOptions,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** The lease a new job takes in its delete's transaction. */
  lease(): { owner: string; until: number } {
    return { owner: this.options.owner, until: Date.now() + this.options.leaseMs };
  }

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all(this.running.values());
  }

  /**
   * Runs the job a delete just committed (leased to this server) for up to the budget, then goes
   * on in the background. Resolves with true when it finished within the call.
   */
  async afterDelete(deps: ServiceDeps, caller: Caller, kind: CleanupKind, key: string): Promise<boolean> {
    const deadline = Date.now() + this.options.budgetMs;
    while (Date.now() < deadline) {
      const step = await this.step(deps.db, caller, kind, key);
      if (step !== "more") return step === "done";
    }
    this.background(caller, kind, key);
    return false;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.takeOver()
        .catch(this.onError)
        .finally(() => {
          if (!this.stopped) this.schedule(this.options.pollMs);
        });
    }, ms);
    this.timer.unref();
  }

  /** Takes the jobs whose lease has run out. */
  private async takeOver(): Promise<void> {
    const now = Date.now();
    for (const job of await jobs.expiredCleanupJobs(this.deps.db, now, 10)) {
      if (this.stopped) return;
      if (this.running.has(jobKey(job.tenant_id, job.kind, job.key))) continue;
      if (!(await jobs.claimCleanupJob(this.deps.db, job.tenant_id, job.kind, job.key, this.options.owner, now, this.options.leaseMs))) continue;
      this.background({ tenantId: job.tenant_id, ...SYSTEM_CALLER }, job.kind, job.key);
    }
  }

  /**
   * Runs the job in the background until it is done, another server took it, or this one stops.
   * Its statements must not be abandoned with the call that started it. A batch that fails (a
   * lock wait that ran out, the database away) is tried again, less and less often; meanwhile its
   * lease is not renewed, so another server may take the job over.
   */
  private background(caller: Caller, kind: CleanupKind, key: string): void {
    const id = jobKey(caller.tenantId, kind, key);
    if (this.running.has(id)) return;
    const db = unbound(this.deps.db);
    const run = (async () => {
      for (let failures = 0; !this.stopped && !this.deps.draining.aborted; ) {
        try {
          if ((await this.step(db, caller, kind, key)) !== "more") return;
          failures = 0;
        } catch (err) {
          this.onError(err);
          failures++;
          await sleep(Math.min(30_000, 250 * 2 ** failures), undefined, { ref: false });
        }
      }
    })().finally(() => this.running.delete(id));
    this.running.set(id, run);
  }

  /**
   * One batch: "more" to do, "done", or "lost" (another server holds the job). The lease is
   * renewed by a statement of its own, not in the batch's transaction: that one holds its lock
   * only for an instant, never while waiting for contacts (writers read the job rows with a
   * shared lock while they hold contacts). Two servers working on one job at once (one stalled
   * past its lease) stay correct: a batch leaves alone a contact that no longer has the key.
   */
  private async step(db: Db, caller: Caller, kind: CleanupKind, key: string): Promise<"more" | "done" | "lost"> {
    if (!(await jobs.renewCleanupJob(db, caller.tenantId, kind, key, this.options.owner, Date.now() + this.options.leaseMs))) return "lost";
    const changed = await inTransaction(db, (trx) => runBatch(trx, caller, kind, key));
    if (changed > 0) this.deps.eventBus.notify(caller.tenantId);
    return changed === 0 ? "done" : "more";
  }
}

/** One batch; returns how many contacts it changed (0 when the job is done). */
async function runBatch(trx: Knex.Transaction, caller: Caller, kind: CleanupKind, key: string): Promise<number> {
  const ids = await contactsStore.contactIdsUsing(trx, caller.tenantId, kind, key, CLEANUP_BATCH);
  if (ids.length === 0) {
    await jobs.removeCleanupJob(trx, caller.tenantId, kind, key);
    return 0;
  }
  const contacts = await contactsStore.getContactsForUpdate(trx, caller.tenantId, ids);
  const now = Date.now();
  // A contact written since it was listed may have lost the key already (updateContacts strips
  // every key being stripped): it is left alone.
  const changes = contacts.flatMap((before) => {
    const info = strip(before, kind, key);
    return info === before.info ? [] : [{ before, after: { ...before, info, revision: before.revision + 1, updatedDate: now } satisfies StoredContact }];
  });
  if (changes.length === 0) {
    // Index rows of documents without the key (none are expected): repaired, so the job ends.
    await contactsStore.dropKeyRows(trx, caller.tenantId, kind, key, ids);
    return ids.length;
  }
  await contactsStore.updateContacts(trx, caller.tenantId, changes);
  await appendEvents(
    trx,
    caller,
    changes.map(({ before, after }) => contactEvent("contact_updated", after, { modifiedFields: changedPaths(before.info, after.info) })),
  );
  return contacts.length;
}
