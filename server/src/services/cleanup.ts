/**
 * Removing a deleted label or extended field from every contact that uses it. The delete
 * commits first (with a cleanup job row); then contacts are changed in bounded batches, each its
 * own short transaction with a revision bump and a `contact_updated` event per contact, so a
 * label on 100,000 contacts neither times out nor holds locks for long. A job interrupted by a
 * crash is resumed the next time the tenant is seen.
 */
import type { Knex } from "knex";
import type { Caller } from "../domain/caller.js";
import { changedPaths } from "../domain/contact-info.js";
import { type StoredContact, stripInfo } from "../domain/contacts.js";
import * as contactsStore from "../store/contacts.js";
import { type CleanupKind, pendingCleanupJobs, removeCleanupJob } from "../store/cleanup-jobs.js";
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

/** One batch; returns how many contacts it changed (0 when the job is done). */
async function runBatch(trx: Knex.Transaction, caller: Caller, kind: CleanupKind, key: string): Promise<number> {
  const ids = await contactsStore.contactIdsUsing(trx, caller.tenantId, kind, key, CLEANUP_BATCH);
  if (ids.length === 0) {
    await removeCleanupJob(trx, caller.tenantId, kind, key);
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

/**
 * Runs the job until done, or until `budgetMs` has passed, after which it goes on in the
 * background. Resolves with true when the job finished within the budget.
 */
export async function runCleanup(
  deps: ServiceDeps,
  caller: Caller,
  kind: CleanupKind,
  key: string,
  budgetMs: number,
  onBackgroundError: (err: unknown) => void,
): Promise<boolean> {
  const deadline = Date.now() + budgetMs;
  const step = async (db: Db) => {
    const changed = await inTransaction(db, (trx) => runBatch(trx, caller, kind, key));
    if (changed > 0) deps.eventBus.notify(caller.tenantId);
    return changed;
  };
  while (Date.now() < deadline) {
    if ((await step(deps.db)) === 0) return true;
  }
  // The rest outlives the call: its statements must not be abandoned when the call ends. A batch
  // that fails (a lock wait that ran out, the database away) is tried again, less and less
  // often, until the server drains; a restart resumes what is left.
  const background = unbound(deps.db);
  void (async () => {
    for (let failures = 0; !deps.draining.aborted; ) {
      try {
        if ((await step(background)) === 0) return;
        failures = 0;
      } catch (err) {
        onBackgroundError(err);
        failures++;
        await new Promise((r) => setTimeout(r, Math.min(30_000, 250 * 2 ** failures)).unref());
      }
    }
  })();
  return false;
}

/** The identity recorded on events of cleanups resumed after a restart. */
const SYSTEM_CALLER = { subject: "system:cleanup", identityType: "APP" } as const;

/** Resumes the tenant's unfinished cleanups in the background. */
export async function resumeCleanups(deps: ServiceDeps, tenantId: string, onError: (err: unknown) => void): Promise<void> {
  for (const job of await pendingCleanupJobs(deps.db, tenantId)) {
    void runCleanup(deps, { tenantId, ...SYSTEM_CALLER }, job.kind, job.key, 0, onError).catch(onError);
  }
}
