/**
 * RELIABILITY scenario 8 (tenant isolation) on MariaDB, with authentication on, so the tenant
 * comes from the token alone. Every implemented RPC is called by an attacker tenant with its own
 * resource, with the victim tenant's existing resource, and with a missing one: no call may reach
 * the victim's data, and the answer about the victim's resource must be the answer about a
 * missing one (same code, reason, message modulo the id or key, same metadata keys). The own
 * calls are the control: they show each probe does reach a resource when the tenant matches.
 * Afterwards the victim's data is byte-for-byte what it was.
 */
import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContactsService } from "../gen/contacts/v1/contacts_service_pb.js";
import { ExtendedFieldsService, FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { LabelsService } from "../gen/contacts/v1/labels_service_pb.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { TENANT_TABLES } from "./support/tenant-audit.js";
import { startTestServer, type TestServer } from "./support/server.js";

const SECRET = "isolation-test-secret: at least thirty-two bytes long";
const VICTIM = "iso-victim";
const ATTACKER = "iso-attacker";
const MISSING_ID = "00000000-0000-4000-8000-0000000b0b0b";

type Ref = "own" | "other" | "missing";
const REFS: readonly Ref[] = ["own", "other", "missing"];

type Answer = { ok: true; summary: unknown } | { ok: false; code: string; reason: string; message: string; metadata: Record<string, string> };

async function attempt<T>(call: Promise<T>, summarize: (res: T) => unknown = () => null): Promise<Answer> {
  try {
    return { ok: true, summary: summarize(await call) };
  } catch (err) {
    const e = ConnectError.from(err);
    const info = e.findDetails(ErrorInfoSchema)[0];
    return { ok: false, code: Code[e.code], reason: info?.reason ?? "", message: e.rawMessage, metadata: { ...(info?.metadata ?? {}) } };
  }
}

/** The answer with the referenced id/key/name blanked, and metadata reduced to keys + blanked values. */
function normalise(answer: Answer, subject: string): string {
  const blank = (s: string) => (subject ? s.split(subject).join("<ref>") : s);
  if (answer.ok) return blank(JSON.stringify(answer));
  const metadata = Object.fromEntries(
    Object.keys(answer.metadata)
      .sort()
      .map((k) => [k, blank(answer.metadata[k] ?? "")]),
  );
  return JSON.stringify({ code: answer.code, reason: answer.reason, message: blank(answer.message), metadata });
}

const show = (a: Answer) => (a.ok ? `OK ${JSON.stringify(a.summary)}` : `${a.code}/${a.reason} "${a.message}" ${JSON.stringify(a.metadata)}`);

interface Case {
  rpc: string;
  /** What varies between own, other and missing. */
  what: string;
  /** The control: what the attacker's call with its own resource answers. */
  own: "OK" | keyof typeof Code;
  run: (ref: Ref) => Promise<{ subject: string; answer: Answer }>;
  /** Whether the answer to the victim's resource reached or revealed it. Default: it succeeded. */
  crossTenant?: (answer: Answer) => boolean;
}

describe("scenario 8: tenant isolation (mysql, tokens)", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer("mysql", { auth: { secret: SECRET, clockToleranceS: 30, jwksAlgorithms: ["RS256", "ES256"] } });
  });
  afterAll(async () => {
    await t?.close();
  });

  async function clientsFor(tenant: string, headerTenant?: string) {
    const token = await new SignJWT({ tenant, scope: "contacts.admin", identity_type: "user" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(`${tenant}-user`)
      .setExpirationTime("10m")
      .sign(new TextEncoder().encode(SECRET));
    const auth: Interceptor = (next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      // The attacker also claims the victim's tenant in the dev-mode header: it must not matter.
      if (headerTenant) req.header.set("x-tenant-id", headerTenant);
      return next(req);
    };
    const transport = createGrpcTransport({ baseUrl: t.grpcUrl, interceptors: [auth] });
    return {
      labels: createClient(LabelsService, transport),
      fields: createClient(ExtendedFieldsService, transport),
      contacts: createClient(ContactsService, transport),
    };
  }

  /** Every row the victim has, per tenant table, as canonical JSON: the "unchanged" proof. */
  async function victimRows(): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const table of TENANT_TABLES) {
      const rows = await t.server.db(table).where({ tenant_id: VICTIM });
      out[table] = rows.map((r) => JSON.stringify(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)))).sort();
    }
    return out;
  }

  it("no RPC reaches another tenant's data, and its answers are those for a missing resource", async () => {
    const v = await clientsFor(VICTIM);
    const a = await clientsFor(ATTACKER, VICTIM);
    const text = (s: string) => fromJson(ValueSchema, s as JsonValue);

    // The victim's data.
    for (const name of ["Victim Label", "Victim Find", "Zebra Secret", "Shared"]) await v.labels.findOrCreateLabel({ displayName: name });
    for (const name of ["Victim Field", "Victim Find Field", "Zebra Field", "Shared Field"]) {
      await v.fields.findOrCreateExtendedField({ displayName: name, dataType: FieldDataType.TEXT });
    }
    const victimInfo = {
      name: { first: "Victim", last: "Person" },
      emails: { items: [{ email: "victim@iso.test" }, { email: "victim-alt@iso.test" }] },
      phones: { items: [{ phone: "+12015550100" }] },
      labelKeys: { items: ["custom.victim-label", "custom.shared"] },
      extendedFields: { items: { "custom.victim-field": text("secret"), "custom.shared-field": text("v") } },
    };
    const victim = (await v.contacts.createContact({ info: victimInfo, requestId: "victim-create" })).contact;
    const victimId = victim?.id ?? "";
    const ridInfo = { name: { first: "Rid" } };
    const victimRid = (await v.contacts.createContact({ info: ridInfo, requestId: "victim-rid" })).contact?.id ?? "";
    const victimBefore = await v.contacts.getContact({ id: victimId });
    const rowsBefore = await victimRows();

    // The attacker's own data.
    for (const name of ["Own Label", "Shared"]) await a.labels.findOrCreateLabel({ displayName: name });
    for (const name of ["Own Field", "Shared Field"]) await a.fields.findOrCreateExtendedField({ displayName: name, dataType: FieldDataType.TEXT });
    let n = 0;
    const freshContact = async (extra: object = {}) => {
      n++;
      const { contact } = await a.contacts.createContact({ info: { name: { first: `Own ${n}` }, ...extra } });
      return contact?.id ?? "";
    };
    const freshLabel = async () => (await a.labels.findOrCreateLabel({ displayName: `Own Label ${++n}` })).label?.key ?? "";
    const freshField = async () =>
      (await a.fields.findOrCreateExtendedField({ displayName: `Own Field ${++n}`, dataType: FieldDataType.TEXT })).field?.key ?? "";
    const ownEmailContact = await freshContact({ emails: { items: [{ email: "own@iso.test" }] } });
    const ownRid = (await a.contacts.createContact({ info: ridInfo, requestId: "own-rid" })).contact?.id ?? "";
    expect(ownEmailContact).not.toBe("");

    const pick = <T>(ref: Ref, own: T, other: T, missing: T) => (ref === "own" ? own : ref === "other" ? other : missing);
    const contactId = async (ref: Ref) => pick(ref, await freshContact({ labelKeys: { items: ["custom.shared"] } }), victimId, MISSING_ID);
    const byId = (call: (id: string) => Promise<unknown>) => async (ref: Ref) => {
      const subject = await contactId(ref);
      return { subject, answer: await attempt(call(subject)) };
    };
    const labelKey = (ref: Ref) => pick(ref, "custom.own-label", "custom.victim-label", "custom.never-label");
    const fieldKey = (ref: Ref) => pick(ref, "custom.own-field", "custom.victim-field", "custom.never-field");
    const notOk = (x: Answer) => !x.ok;

    const cases: Case[] = [
      // ContactsService
      {
        rpc: "CreateContact",
        what: "request_id (idempotent replay)",
        own: "OK",
        run: async (ref) => {
          const subject = pick(ref, "own-rid", "victim-rid", "never-rid");
          const answer = await attempt(a.contacts.createContact({ info: ridInfo, requestId: subject }), (r) => ({
            victims: r.contact?.id === victimRid,
            replay: r.contact?.id === ownRid,
          }));
          return { subject, answer };
        },
        crossTenant: (x) => x.ok && (x.summary as { victims: boolean }).victims,
      },
      {
        rpc: "CreateContact",
        what: "duplicate email",
        own: "AlreadyExists",
        run: async (ref) => {
          const subject = pick(ref, "own@iso.test", "victim@iso.test", "never@iso.test");
          return { subject, answer: await attempt(a.contacts.createContact({ info: { emails: { items: [{ email: subject }] } } }), () => "created") };
        },
        crossTenant: notOk,
      },
      {
        rpc: "CreateContact",
        what: "label key",
        own: "OK",
        run: async (ref) => {
          const subject = labelKey(ref);
          return { subject, answer: await attempt(a.contacts.createContact({ info: { name: { first: "L" }, labelKeys: { items: [subject] } } })) };
        },
      },
      {
        rpc: "CreateContact",
        what: "extended field key",
        own: "OK",
        run: async (ref) => {
          const subject = fieldKey(ref);
          const info = { name: { first: "F" }, extendedFields: { items: { [subject]: text("x") } } };
          return { subject, answer: await attempt(a.contacts.createContact({ info })) };
        },
      },
      { rpc: "GetContact", what: "contact id", own: "OK", run: byId((id) => a.contacts.getContact({ id })) },
      {
        rpc: "UpdateContact",
        what: "contact id",
        own: "OK",
        run: byId((id) => a.contacts.updateContact({ contactId: id, revision: 1, info: { company: "Pwned", name: { first: "Pwned" } } })),
      },
      {
        rpc: "UpdateContact",
        what: "extended field key",
        own: "OK",
        run: async (ref) => {
          const id = await freshContact();
          const subject = fieldKey(ref);
          const info = { extendedFields: { items: { [subject]: text("x") } } };
          return {
            subject,
            answer: await attempt(a.contacts.updateContact({ contactId: id, revision: 1, info, fieldMask: { paths: ["info.extendedFields"] } })),
          };
        },
      },
      {
        rpc: "UpdateContact",
        what: "duplicate email",
        own: "AlreadyExists",
        run: async (ref) => {
          const id = await freshContact();
          // Not the address the CreateContact case above already gave an attacker contact.
          const subject = pick(ref, "own@iso.test", "victim-alt@iso.test", "never-2@iso.test");
          return {
            subject,
            answer: await attempt(a.contacts.updateContact({ contactId: id, revision: 1, info: { emails: { items: [{ email: subject }] } } }), () => "updated"),
          };
        },
        crossTenant: notOk,
      },
      { rpc: "DeleteContact", what: "contact id", own: "OK", run: byId((id) => a.contacts.deleteContact({ contactId: id })) },
      {
        rpc: "LabelContact",
        what: "contact id",
        own: "OK",
        run: byId((id) => a.contacts.labelContact({ contactId: id, labelKeys: ["custom.own-label"] })),
      },
      {
        rpc: "LabelContact",
        what: "label key",
        own: "OK",
        run: async (ref) => {
          const id = await freshContact();
          const subject = labelKey(ref);
          return { subject, answer: await attempt(a.contacts.labelContact({ contactId: id, labelKeys: [subject] })) };
        },
      },
      {
        rpc: "UnlabelContact",
        what: "contact id",
        own: "OK",
        run: byId((id) => a.contacts.unlabelContact({ contactId: id, labelKeys: ["custom.shared"] })),
      },
      {
        rpc: "UnlabelContact",
        what: "label key",
        own: "OK",
        run: async (ref) => {
          const id = await freshContact({ labelKeys: { items: ["custom.own-label"] } });
          const subject = labelKey(ref);
          return { subject, answer: await attempt(a.contacts.unlabelContact({ contactId: id, labelKeys: [subject] })) };
        },
      },
      {
        rpc: "UpdateMemberInfo",
        what: "contact id",
        own: "OK",
        run: byId((id) => a.contacts.updateMemberInfo({ contactId: id, memberInfo: { memberId: `m-${id}` } })),
      },

      // LabelsService
      {
        rpc: "FindOrCreateLabel",
        what: "display name",
        own: "OK",
        run: async (ref) => {
          const subject = pick(ref, "Own Label", "Victim Find", "Never Found");
          return { subject, answer: await attempt(a.labels.findOrCreateLabel({ displayName: subject }), (r) => ({ newLabel: r.newLabel })) };
        },
        crossTenant: (x) => x.ok && !(x.summary as { newLabel: boolean }).newLabel,
      },
      {
        rpc: "GetLabel",
        what: "key",
        own: "OK",
        run: async (ref) => {
          const subject = labelKey(ref);
          return { subject, answer: await attempt(a.labels.getLabel({ key: subject })) };
        },
      },
      {
        rpc: "ListLabels",
        what: "starts_with",
        own: "OK",
        run: async (ref) => {
          const subject = pick(ref, "Own", "Zebra", "Qqq");
          return { subject, answer: await attempt(a.labels.listLabels({ startsWith: subject }), (r) => ({ n: r.labels.length })) };
        },
        crossTenant: (x) => x.ok && (x.summary as { n: number }).n > 0,
      },
      {
        rpc: "QueryLabels",
        what: "filter key",
        own: "OK",
        run: async (ref) => {
          const subject = labelKey(ref);
          return { subject, answer: await attempt(a.labels.queryLabels({ query: { filter: { key: subject } } }), (r) => ({ n: r.labels.length })) };
        },
        crossTenant: (x) => x.ok && (x.summary as { n: number }).n > 0,
      },
      {
        rpc: "RenameLabel",
        what: "key",
        own: "OK",
        run: async (ref) => {
          const subject = pick(ref, await freshLabel(), "custom.victim-label", "custom.never-label");
          return { subject, answer: await attempt(a.labels.renameLabel({ label: { key: subject, displayName: `Pwned ${++n}` } }), () => "renamed") };
        },
      },
      {
        rpc: "RenameLabel",
        what: "new display name (taken?)",
        own: "AlreadyExists",
        run: async (ref) => {
          const key = await freshLabel();
          const subject = pick(ref, "Own Label", "Victim Label", "Never Named");
          return { subject, answer: await attempt(a.labels.renameLabel({ label: { key, displayName: subject } }), () => "renamed") };
        },
        crossTenant: notOk,
      },
      {
        rpc: "DeleteLabel",
        what: "key",
        own: "OK",
        run: async (ref) => {
          const subject = pick(ref, await freshLabel(), "custom.victim-label", "custom.never-label");
          return { subject, answer: await attempt(a.labels.deleteLabel({ key: subject })) };
        },
      },

      // ExtendedFieldsService
      {
        rpc: "FindOrCreateExtendedField",
        what: "display name",
        own: "OK",
        run: async (ref) => {
          const subject = pick(ref, "Own Field", "Victim Find Field", "Never Found Field");
          const call = a.fields.findOrCreateExtendedField({ displayName: subject, dataType: FieldDataType.TEXT });
          return { subject, answer: await attempt(call, (r) => ({ newField: r.newField })) };
        },
        crossTenant: (x) => x.ok && !(x.summary as { newField: boolean }).newField,
      },
      {
        rpc: "GetExtendedField",
        what: "key",
        own: "OK",
        run: async (ref) => {
          const subject = fieldKey(ref);
          return { subject, answer: await attempt(a.fields.getExtendedField({ key: subject })) };
        },
      },
      {
        rpc: "ListExtendedFields",
        what: "starts_with",
        own: "OK",
        run: async (ref) => {
          const subject = pick(ref, "Own", "Zebra", "Qqq");
          return { subject, answer: await attempt(a.fields.listExtendedFields({ startsWith: subject }), (r) => ({ n: r.fields.length })) };
        },
        crossTenant: (x) => x.ok && (x.summary as { n: number }).n > 0,
      },
      {
        rpc: "QueryExtendedFields",
        what: "filter key",
        own: "OK",
        run: async (ref) => {
          const subject = fieldKey(ref);
          return { subject, answer: await attempt(a.fields.queryExtendedFields({ query: { filter: { key: subject } } }), (r) => ({ n: r.fields.length })) };
        },
        crossTenant: (x) => x.ok && (x.summary as { n: number }).n > 0,
      },
      {
        rpc: "RenameExtendedField",
        what: "key",
        own: "OK",
        run: async (ref) => {
          const subject = pick(ref, await freshField(), "custom.victim-field", "custom.never-field");
          return { subject, answer: await attempt(a.fields.renameExtendedField({ field: { key: subject, displayName: `Pwned ${++n}` } }), () => "renamed") };
        },
      },
      {
        rpc: "RenameExtendedField",
        what: "new display name (taken?)",
        own: "AlreadyExists",
        run: async (ref) => {
          const key = await freshField();
          const subject = pick(ref, "Own Field", "Victim Field", "Never Named Field");
          return { subject, answer: await attempt(a.fields.renameExtendedField({ field: { key, displayName: subject } }), () => "renamed") };
        },
        crossTenant: notOk,
      },
      {
        rpc: "DeleteExtendedField",
        what: "key",
        own: "OK",
        run: async (ref) => {
          const subject = pick(ref, await freshField(), "custom.victim-field", "custom.never-field");
          return { subject, answer: await attempt(a.fields.deleteExtendedField({ key: subject })) };
        },
      },
    ];

    let calls = 0;
    let crossTenantSuccesses = 0;
    const mismatches: string[] = [];
    const leaks: string[] = [];
    const controls: string[] = [];
    for (const c of cases) {
      const got = {} as Record<Ref, { subject: string; answer: Answer }>;
      for (const ref of REFS) {
        got[ref] = await c.run(ref);
        calls++;
      }
      const label = `${c.rpc} (${c.what})`;
      const ownCode = got.own.answer.ok ? "OK" : got.own.answer.code;
      if (ownCode !== c.own) controls.push(`${label}: own answered ${show(got.own.answer)}, expected ${c.own}`);
      if ((c.crossTenant ?? ((x: Answer) => x.ok))(got.other.answer)) {
        crossTenantSuccesses++;
        leaks.push(`${label}: CROSS-TENANT ${show(got.other.answer)}`);
      }
      const other = normalise(got.other.answer, got.other.subject);
      const missing = normalise(got.missing.answer, got.missing.subject);
      // Negative control: a resource the caller can see answers differently from a missing one,
      // so the comparison below would notice a victim's resource that leaked through.
      if (normalise(got.own.answer, got.own.subject) === missing) controls.push(`${label}: own and missing answers are indistinguishable`);
      if (other !== missing) mismatches.push(`${label}: other tenant's → ${other}\n    missing → ${missing}`);
    }

    // The attacker deletes its own label and field that share keys with the victim's: the
    // cleanup that follows must stay in the attacker's tenant.
    await freshContact({ labelKeys: { items: ["custom.shared"] }, extendedFields: { items: { "custom.shared-field": text("mine") } } });
    await a.labels.deleteLabel({ key: "custom.shared" });
    await a.fields.deleteExtendedField({ key: "custom.shared-field" });

    const rpcs = [...new Set(cases.map((c) => c.rpc))].sort();
    console.log(
      `[scenario 8] calls=${calls} (${rpcs.length} RPCs, ${cases.length} cases × own/other/missing) ` +
        `crossTenantSuccesses=${crossTenantSuccesses} mismatches=${mismatches.length}`,
    );
    for (const m of [...leaks, ...mismatches]) console.log(`[scenario 8]   ${m}`);
    for (const m of controls) console.log(`[scenario 8]   control failed: ${m}`);

    expect(rpcs).toEqual(
      [
        "CreateContact",
        "GetContact",
        "UpdateContact",
        "DeleteContact",
        "LabelContact",
        "UnlabelContact",
        "UpdateMemberInfo",
        "FindOrCreateLabel",
        "GetLabel",
        "ListLabels",
        "QueryLabels",
        "RenameLabel",
        "DeleteLabel",
        "FindOrCreateExtendedField",
        "GetExtendedField",
        "ListExtendedFields",
        "QueryExtendedFields",
        "RenameExtendedField",
        "DeleteExtendedField",
      ].sort(),
    );
    expect(controls).toEqual([]);
    expect(leaks).toEqual([]);
    expect(mismatches).toEqual([]);

    // The victim's data is unchanged: the contact (revision, names, labels, fields), and every row.
    const after = await v.contacts.getContact({ id: victimId });
    expect(after.contact?.revision).toBe(1);
    expect(after.contact?.info?.name).toMatchObject({ first: "Victim", last: "Person" });
    expect(after.contact?.info?.labelKeys?.items).toEqual(["custom.victim-label", "custom.shared"]);
    expect(Object.fromEntries(Object.entries(after.contact?.info?.extendedFields?.items ?? {}).map(([k, x]) => [k, toJson(ValueSchema, x)]))).toMatchObject({
      "custom.victim-field": "secret",
      "custom.shared-field": "v",
    });
    expect(after.contact?.memberInfo).toBeUndefined();
    expect(after).toEqual(victimBefore);
    expect((await v.labels.getLabel({ key: "custom.victim-label" })).label?.displayName).toBe("Victim Label");
    expect((await v.labels.getLabel({ key: "custom.shared" })).label?.displayName).toBe("Shared");
    expect((await v.fields.getExtendedField({ key: "custom.victim-field" })).field?.displayName).toBe("Victim Field");
    expect((await v.fields.getExtendedField({ key: "custom.shared-field" })).field?.displayName).toBe("Shared Field");
    expect(await victimRows()).toEqual(rowsBefore);
  });
});
