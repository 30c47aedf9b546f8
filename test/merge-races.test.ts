/**
 * Merges racing other writes on MariaDB (issue 6, item 3): a merge against an update of its
 * target, two merges for one source, a merge against a delete of its source, two merges in
 * opposite directions, and a merge against a label change of its target (where both must win).
 * Each race runs ROUNDS times with random start offsets, so both orders occur; every round checks
 * that exactly the documented outcomes happen and that the final rows show no lost write and no
 * half-merge. At the end the tenant's rows and outbox are checked as a whole.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Contact } from "../gen/contacts/v1/contact_pb.js";
import { GetContactResponseType } from "../gen/contacts/v1/contacts_service_pb.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { startTestServer, type TestServer } from "./support/server.js";

const ROUNDS = 20;
/** Start offsets are drawn from [0, MAX_DELAY_MS): about one write's duration on MariaDB. */
const MAX_DELAY_MS = 12;

type Clients = ReturnType<TestServer["clients"]>;
type Outcome = { ok: true; value: unknown } | { ok: false; code: Code; reason: string | undefined };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `call` after a random delay and records how it ended. */
async function attempt(call: () => Promise<unknown>): Promise<Outcome> {
  await sleep(Math.random() * MAX_DELAY_MS);
  try {
    return { ok: true, value: await call() };
  } catch (err) {
    if (!(err instanceof ConnectError)) throw err;
    return { ok: false, code: err.code, reason: err.findDetails(ErrorInfoSchema)[0]?.reason };
  }
}
const failedWith = (o: Outcome, ...reasons: string[]) => !o.ok && reasons.includes(o.reason ?? "");
const describeOutcome = (o: Outcome) => (o.ok ? "ok" : `${Code[o.code]} ${o.reason}`);

describe("merge races on mysql", () => {
  let t: TestServer;
  let c: Clients;
  const tenantId = "races";
  const counts: Record<string, Record<string, number>> = {};
  beforeAll(async () => {
    t = await startTestServer("mysql");
    c = t.clients(tenantId);
  });
  afterAll(async () => {
    for (const [race, figures] of Object.entries(counts)) {
      console.log(
        `[merge races] ${race}: ${Object.entries(figures)
          .map(([k, v]) => `${k}=${v}`)
          .join(" ")}`,
      );
    }
    await t?.close();
  });

  let serial = 0;
  async function make(tag: string, extra: { company?: string; jobTitle?: string } = {}) {
    serial++;
    const { contact } = await c.contacts.createContact({
      info: { name: { first: `${tag}${serial}` }, emails: { items: [{ email: `${tag}-${serial}@race.io` }] }, ...extra },
    });
    if (!contact) throw new Error("no contact");
    return contact;
  }
  async function get(id: string): Promise<{ contact: Contact | undefined; merged: boolean } | undefined> {
    try {
      const res = await c.contacts.getContact({ id });
      return { contact: res.contact, merged: res.responseType === GetContactResponseType.MERGED };
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.NotFound) return undefined;
      throw err;
    }
  }
  const emails = (x: Contact | undefined) => x?.info?.emails?.items.map((e) => e.email) ?? [];
  /** How many contacts hold `email`, by the duplicate-check index. */
  async function holders(email: string): Promise<string[]> {
    return t.server.db("contact_emails").where({ tenant_id: tenantId, email_key: email }).pluck("contact_id");
  }
  function tally(race: string, key: string) {
    const figures = counts[race] ?? {};
    figures[key] = (figures[key] ?? 0) + 1;
    counts[race] = figures;
  }

  it(`merge vs update of the target (${ROUNDS} rounds): one wins, the other is ABORTED, nothing is lost`, async () => {
    const race = "merge-vs-update";
    counts[race] = { mergeWon: 0, updateWon: 0, bothSucceeded: 0, lost: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      const target = await make("mu-t");
      const source = await make("mu-s", { company: "Source Co" });
      const [merge, update] = await Promise.all([
        attempt(() => c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [source.id] })),
        attempt(() => c.contacts.updateContact({ contactId: target.id, revision: 1, info: { jobTitle: `Updated ${i}` } })),
      ]);
      const after = (await get(target.id))?.contact;
      const sourceNow = await get(source.id);
      const mergeVisible = emails(after).includes(emails(source)[0] ?? "?") && after?.info?.company === "Source Co";
      const updateVisible = after?.info?.jobTitle === `Updated ${i}`;
      if (merge.ok && update.ok) tally(race, "bothSucceeded");
      else if (merge.ok && failedWith(update, "CONTACT_ALREADY_CHANGED")) tally(race, "mergeWon");
      else if (update.ok && failedWith(merge, "CONTACT_ALREADY_CHANGED")) tally(race, "updateWon");
      else throw new Error(`round ${i}: merge ${describeOutcome(merge)}, update ${describeOutcome(update)}`);
      if ((merge.ok && !mergeVisible) || (update.ok && !updateVisible)) tally(race, "lost");
      // No half-merge: the source is gone exactly when the merge is visible.
      expect({ mergeVisible, updateVisible, sourceMerged: sourceNow?.merged ?? false }).toEqual({
        mergeVisible: merge.ok,
        updateVisible: update.ok,
        sourceMerged: merge.ok,
      });
      expect(after?.revision).toBe(2);
      expect(await holders(emails(source)[0] ?? "?")).toEqual([merge.ok ? target.id : source.id]);
    }
    expect(counts[race]).toMatchObject({ bothSucceeded: 0, lost: 0 });
    expect((counts[race]?.mergeWon ?? 0) + (counts[race]?.updateWon ?? 0)).toBe(ROUNDS);
  });

  it(`two merges for the same source (${ROUNDS} rounds): exactly one succeeds, the source's data is in exactly one target`, async () => {
    const race = "merge-vs-merge";
    counts[race] = { firstWon: 0, secondWon: 0, bothSucceeded: 0, neither: 0, halfMerged: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      const t1 = await make("mm-a");
      const t2 = await make("mm-b");
      const source = await make("mm-s");
      // The second merge brings another source along, listed before or after the contested one,
      // so that its lock order varies and a loser's other source must stay untouched.
      const bystander = await make("mm-x");
      const secondSources = i % 2 === 0 ? [bystander.id, source.id] : [source.id, bystander.id];
      const [m1, m2] = await Promise.all([
        attempt(() => c.contacts.mergeContacts({ targetContactId: t1.id, targetContactRevision: 1, sourceContactIds: [source.id] })),
        attempt(() => c.contacts.mergeContacts({ targetContactId: t2.id, targetContactRevision: 1, sourceContactIds: secondSources })),
      ]);
      if (m1.ok && m2.ok) tally(race, "bothSucceeded");
      else if (m1.ok && failedWith(m2, "CONTACT_NOT_FOUND", "CONTACT_ALREADY_CHANGED")) tally(race, "firstWon");
      else if (m2.ok && failedWith(m1, "CONTACT_NOT_FOUND", "CONTACT_ALREADY_CHANGED")) tally(race, "secondWon");
      else {
        tally(race, "neither");
        throw new Error(`round ${i}: first ${describeOutcome(m1)}, second ${describeOutcome(m2)}`);
      }
      const winner = m1.ok ? t1 : t2;
      const loser = m1.ok ? t2 : t1;
      const sourceEmail = emails(source)[0] ?? "?";
      expect(await holders(sourceEmail)).toEqual([winner.id]);
      const [w, l] = [(await get(winner.id))?.contact, (await get(loser.id))?.contact];
      expect(emails(w)).toContain(sourceEmail);
      expect(emails(l)).not.toContain(sourceEmail);
      expect(l?.revision).toBe(1);
      expect((await get(source.id))?.contact?.id).toBe(winner.id);
      // The bystander went with the second merge only if it won.
      const by = await get(bystander.id);
      if (m2.ok) expect(by).toMatchObject({ merged: true, contact: { id: t2.id } });
      else if (by?.merged !== false) tally(race, "halfMerged");
    }
    expect(counts[race]).toMatchObject({ bothSucceeded: 0, neither: 0, halfMerged: 0 });
  });

  it(`merge vs delete of a source (${ROUNDS} rounds): one wins, the other gets CONTACT_NOT_FOUND, no half-merge`, async () => {
    const race = "merge-vs-delete";
    counts[race] = { mergeWon: 0, deleteWon: 0, bothSucceeded: 0, halfMerged: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      const target = await make("md-t");
      const source = await make("md-s", { jobTitle: "Source job" });
      const other = await make("md-o");
      const [merge, del] = await Promise.all([
        attempt(() => c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [other.id, source.id] })),
        attempt(() => c.contacts.deleteContact({ contactId: source.id })),
      ]);
      const after = (await get(target.id))?.contact;
      const src = await get(source.id);
      const oth = await get(other.id);
      if (merge.ok && del.ok) tally(race, "bothSucceeded");
      else if (merge.ok && failedWith(del, "CONTACT_NOT_FOUND")) {
        tally(race, "mergeWon");
        if (!(after?.revision === 2 && after.info?.jobTitle === "Source job" && src?.merged && oth?.merged)) tally(race, "halfMerged");
      } else if (del.ok && failedWith(merge, "CONTACT_NOT_FOUND")) {
        tally(race, "deleteWon");
        // The merge failed whole: the target untouched, the other source still a contact of its own.
        if (!(after?.revision === 1 && src === undefined && oth?.merged === false)) tally(race, "halfMerged");
      } else throw new Error(`round ${i}: merge ${describeOutcome(merge)}, delete ${describeOutcome(del)}`);
    }
    expect(counts[race]).toMatchObject({ bothSucceeded: 0, halfMerged: 0 });
  });

  it(`opposite merges A←B and B←A (${ROUNDS} rounds): exactly one succeeds`, async () => {
    const race = "merge-vs-reverse-merge";
    counts[race] = { oneWon: 0, bothSucceeded: 0, neither: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      const a = await make("rv-a");
      const b = await make("rv-b");
      const [ab, ba] = await Promise.all([
        attempt(() => c.contacts.mergeContacts({ targetContactId: a.id, targetContactRevision: 1, sourceContactIds: [b.id] })),
        attempt(() => c.contacts.mergeContacts({ targetContactId: b.id, targetContactRevision: 1, sourceContactIds: [a.id] })),
      ]);
      if (ab.ok && ba.ok) tally(race, "bothSucceeded");
      else if ((ab.ok && failedWith(ba, "CONTACT_NOT_FOUND")) || (ba.ok && failedWith(ab, "CONTACT_NOT_FOUND"))) tally(race, "oneWon");
      else {
        tally(race, "neither");
        throw new Error(`round ${i}: A←B ${describeOutcome(ab)}, B←A ${describeOutcome(ba)}`);
      }
      const survivor = ab.ok ? a : b;
      const [ga, gb] = [await get(a.id), await get(b.id)];
      expect([ga?.contact?.id, gb?.contact?.id]).toEqual([survivor.id, survivor.id]);
      expect(emails(ga?.contact).sort()).toEqual([...emails(a), ...emails(b)].sort());
    }
    expect(counts[race]).toMatchObject({ bothSucceeded: 0, neither: 0, oneWon: ROUNDS });
  });

  it(`merge vs LabelContact of the target (${ROUNDS} rounds): the label is never lost`, async () => {
    // LabelContact needs no revision but bumps it: labelled first, the merge is ABORTED (its
    // revision is stale); merged first, the label lands on the merged target and both succeed.
    const race = "merge-vs-label";
    counts[race] = { mergeThenLabel: 0, labelThenMergeAborted: 0, lost: 0 };
    const key = (await c.labels.findOrCreateLabel({ displayName: "Race label" })).label?.key ?? "";
    for (let i = 0; i < ROUNDS; i++) {
      const target = await make("ml-t");
      const source = await make("ml-s", { company: "Merged Co" });
      const [merge, lbl] = await Promise.all([
        attempt(() => c.contacts.mergeContacts({ targetContactId: target.id, targetContactRevision: 1, sourceContactIds: [source.id] })),
        attempt(() => c.contacts.labelContact({ contactId: target.id, labelKeys: [key] })),
      ]);
      if (merge.ok && lbl.ok) tally(race, "mergeThenLabel");
      else if (lbl.ok && failedWith(merge, "CONTACT_ALREADY_CHANGED")) tally(race, "labelThenMergeAborted");
      else throw new Error(`round ${i}: merge ${describeOutcome(merge)}, label ${describeOutcome(lbl)}`);
      const after = (await get(target.id))?.contact;
      const labelled = after?.info?.labelKeys?.items.includes(key) ?? false;
      const merged = after?.info?.company === "Merged Co";
      if (!labelled || merged !== merge.ok || after?.revision !== (merge.ok ? 3 : 2)) tally(race, "lost");
    }
    expect(counts[race]).toMatchObject({ lost: 0 });
  });

  it("afterwards: no contact lost or duplicated, and the outbox agrees with the rows", async () => {
    const db = t.server.db;
    const events = await db("events").where({ tenant_id: tenantId, entity_fqdn: "contacts.v1.contact" }).orderBy("seq");
    const byEntity = new Map<string, { type: string; entitySeq: number; originatedFrom: string | null }[]>();
    for (const e of events) {
      const list = byEntity.get(e.entity_id) ?? [];
      list.push({ type: e.event_type, entitySeq: Number(e.entity_seq), originatedFrom: e.originated_from ?? null });
      byEntity.set(e.entity_id, list);
    }
    const rows = new Set<string>(await db("contacts").where({ tenant_id: tenantId }).pluck("id"));
    const redirects = new Map<string, string>(
      (await db("contact_redirects").where({ tenant_id: tenantId }).select("source_id", "target_id")).map((r) => [r.source_id, r.target_id]),
    );
    expect(serial).toBe(byEntity.size);
    let created = 0;
    let deleted = 0;
    for (const [id, list] of byEntity) {
      // Per entity: created first, sequence 1, 2, 3, … with no gap or repeat, nothing after a delete.
      expect(list[0]?.type).toBe("contact_created");
      expect(list.map((e) => e.entitySeq)).toEqual(list.map((_, i) => i + 1));
      const deletes = list.filter((e) => e.type === "contact_deleted");
      expect(deletes.length).toBeLessThanOrEqual(1);
      if (deletes.length === 1) expect(list.at(-1)?.type).toBe("contact_deleted");
      created++;
      if (deletes.length === 1) {
        deleted++;
        expect(rows.has(id)).toBe(false);
        // Deleted by a merge exactly when a redirect was left for it.
        expect(deletes[0]?.originatedFrom === "merge").toBe(redirects.has(id));
      } else {
        expect(rows.has(id)).toBe(true);
      }
    }
    expect(rows.size).toBe(created - deleted);
    // Every contact_merged event names sources that were deleted by a merge and redirect to its target (or beyond).
    const merges = events.filter((e) => e.event_type === "contact_merged");
    const mergeWins = Object.entries(counts).reduce(
      (sum, [race, f]) =>
        sum +
        (race === "merge-vs-update"
          ? (f.mergeWon ?? 0)
          : race === "merge-vs-delete"
            ? (f.mergeWon ?? 0)
            : race === "merge-vs-label"
              ? (f.mergeThenLabel ?? 0)
              : ROUNDS),
      0,
    );
    expect(merges).toHaveLength(mergeWins);
    for (const m of merges) {
      const payload = JSON.parse(String(m.payload)) as { targetContactId: string; sourceContactIds: string[] };
      for (const s of payload.sourceContactIds) expect(redirects.get(s)).toBe(payload.targetContactId);
    }
    // No email in two contacts (every contact here was created without allow_duplicates).
    const dupes = await db("contact_emails").where({ tenant_id: tenantId }).groupBy("email_key").havingRaw("count(*) > 1").select("email_key");
    expect(dupes).toEqual([]);
  });
});
