/**
 * MergeContacts and PreviewMergeContacts. A merge locks the target and every source (in id
 * order, so racing merges cannot deadlock), checks the target's revision, writes the merged
 * target, deletes the sources, leaves redirects for their ids, and appends the events — all in
 * one transaction: a racing update, delete or second merge either sees it whole or not at all.
 */
import type { Knex } from "knex";
import type { ContactJson } from "../../../gen/contacts/v1/contact_pb.js";
import type { Caller } from "../domain/caller.js";
import { changedPaths } from "../domain/contact-info.js";
import { activity, presentContact, type StoredContact } from "../domain/contacts.js";
import { DomainError } from "../domain/errors.js";
import { ENTITY_FQDN } from "../domain/events.js";
import { assertMergeableSource, mergeInfo, validateMergeRequest } from "../domain/merge.js";
import { strippedKeys } from "../store/cleanup-jobs.js";
import * as store from "../store/contacts.js";
import { appendEvents } from "../store/events.js";
import { contactEvent, contactNotFound } from "./contacts.js";
import type { ServiceDeps } from "./deps.js";
import { type MutationMeta, runMutation } from "./mutation.js";

async function load(
  db: Knex | Knex.Transaction,
  caller: Caller,
  targetId: string,
  sourceIds: readonly string[],
  lock: boolean,
): Promise<{ target: StoredContact; sources: StoredContact[] }> {
  const found = new Map((await store.getContacts(db, caller.tenantId, [targetId, ...sourceIds], lock)).map((c) => [c.id, c]));
  const target = found.get(targetId);
  if (!target) throw contactNotFound(targetId);
  const sources = sourceIds.map((id) => {
    const source = found.get(id);
    if (!source) throw contactNotFound(id);
    assertMergeableSource(source);
    return source;
  });
  return { target, sources };
}

/** The target as the merge stores it. */
function merged(target: StoredContact, sources: readonly StoredContact[], now: number): StoredContact {
  return {
    ...target,
    info: mergeInfo(
      target.info,
      sources.map((s) => s.info),
    ),
    revision: target.revision + 1,
    updatedDate: now,
    lastActivity: activity("CONTACT_ACTIVITY_TYPE_CONTACT_MERGED", now),
  };
}

export async function mergeContacts(
  deps: ServiceDeps,
  caller: Caller,
  req: { targetContactId: string; targetContactRevision: number; sourceContactIds: string[] },
  meta: MutationMeta,
): Promise<ContactJson> {
  validateMergeRequest(req.targetContactId, req.sourceContactIds);
  return runMutation(deps, caller, meta, async (trx) => {
    const { target, sources } = await load(trx, caller, req.targetContactId, req.sourceContactIds, true);
    if (target.revision !== req.targetContactRevision) {
      throw new DomainError("aborted", "CONTACT_ALREADY_CHANGED", "Contact has been updated since the requested revision.", {
        contactId: target.id,
        currentRevision: String(target.revision),
        requestedRevision: String(req.targetContactRevision),
      });
    }
    const after = merged(target, sources, Date.now());
    await store.updateContact(trx, caller.tenantId, target, after);
    for (const source of sources) await store.deleteContact(trx, caller.tenantId, source);
    await store.redirectToTarget(trx, caller.tenantId, req.sourceContactIds, target.id);
    const presented = presentContact(after);
    await appendEvents(trx, caller, [
      contactEvent("contact_updated", after, {
        modifiedFields: [...changedPaths(target.info, after.info), "lastActivity"],
        originatedFrom: "merge",
      }),
      ...sources.map((s) => contactEvent("contact_deleted", s, { originatedFrom: "merge" })),
      {
        eventType: "contact_merged",
        entityFqdn: ENTITY_FQDN.contact,
        slug: "merged",
        entityId: target.id,
        payload: { kind: "contactMerged", targetContactId: target.id, sourceContactIds: [...req.sourceContactIds], targetContact: presented },
      },
    ]);
    return presented;
  });
}

/**
 * What MergeContacts would store, storing nothing. Only the revision differs: nothing was
 * written, so the target keeps its current one.
 */
export async function previewMergeContacts(
  deps: ServiceDeps,
  caller: Caller,
  req: { targetContactId: string; sourceContactIds: string[] },
): Promise<ContactJson> {
  validateMergeRequest(req.targetContactId, req.sourceContactIds);
  await deps.tenants.ensure(caller.tenantId);
  const [{ target, sources }, stripped] = await Promise.all([
    load(deps.db, caller, req.targetContactId, req.sourceContactIds, false),
    strippedKeys(deps.db, caller.tenantId),
  ]);
  return presentContact({ ...merged(target, sources, Date.now()), revision: target.revision }, stripped);
}
