/**
 * RELIABILITY scenario 13 (fuzz): fast-check over every RPC of the contract.
 *
 * For each method: requests generated from its message schema (an arbitrary built by walking
 * `DescMessage.fields`: strings empty, huge, at every documented limit ± 1, Unicode, control
 * characters; ints negative and at their extremes; doubles without NaN; enums including unknown
 * numbers; repeated fields and maps; nested messages to a depth limit; `google.protobuf.Struct`
 * filters as random JSON with the query operators; `google.protobuf.Value` including one with no
 * kind set), plus mutations of valid requests (fields taken from a valid request, from a random
 * one, or cleared, recursively), plus raw bytes as the request body on the gRPC port (random,
 * and valid encodings with bytes flipped, cut or appended). The server runs in this process.
 *
 * Nothing a client sends may give INTERNAL or UNKNOWN, crash the process or leave an unhandled
 * rejection; every INVALID_ARGUMENT of a decoded request carries an ErrorInfo; every unary call
 * gets its answer (none waits on anything here, so DEADLINE_EXCEEDED means the answer was lost);
 * error message plus details stay under 8 KiB (what gRPC C-core and Java clients accept). Every
 * run is classified, and each RPC's test reports each kind of failure with its smallest input.
 * Requests stay under 1 MiB: bodies over the read limit are scenario 11 (test/limits.test.ts).
 *
 *   FUZZ_RUNS   runs per RPC and per kind (structured / raw); default 150 (CI, well under a
 *               minute). The long run: `FUZZ_RUNS=10000 npx vitest run test/fuzz.test.ts`.
 *   FUZZ_SEED   the fast-check seed (printed; random by default) to replay a run.
 *   FUZZ_STORE  `sqlite` (default) or `mysql`.
 *
 * Prints `[scenario 13] seed=… runs/RPC=… total=… internal=0 unknown=0 crashes=0 unhandledRejections=0`.
 */
import { create, type DescMessage, type DescMethod, type DescService, fromBinary, fromJson, type JsonValue, type Message, toBinary } from "@bufbuild/protobuf";
import { type CallOptions, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmailTag } from "../gen/contacts/v1/contact_pb.js";
import { ContactsService } from "../gen/contacts/v1/contacts_service_pb.js";
import { EventsService } from "../gen/contacts/v1/events_service_pb.js";
import { ExtendedFieldsService, FieldDataType } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { LabelsService } from "../gen/contacts/v1/labels_service_pb.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { type Dictionary, FIELD_PATHS, FILTER_OPERATORS, Generator } from "./support/message-arbitrary.js";
import { startTestServer, type StoreName, type TestServer } from "./support/server.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const STORE: StoreName = process.env.FUZZ_STORE === "mysql" ? "mysql" : "sqlite";
/** Server-streaming calls run until their deadline: fewer runs, short deadlines. */
const STREAM_RUNS = Math.max(10, Math.ceil(RUNS / 5));
const STREAM_DEADLINE_MS = 40;
/** No fuzzed unary call waits on anything: one that has no answer after this is hung. */
const UNARY_DEADLINE_MS = 3_000;
const MAX_REQUEST_BYTES = 1024 * 1024;
const SERVICES: readonly DescService[] = [ContactsService, LabelsService, ExtendedFieldsService, EventsService];
const METHODS: readonly DescMethod[] = SERVICES.flatMap((s) => s.methods);

// Generous per-test timeout (a loaded 2-core machine): the long run is FUZZ_RUNS=10000.
const TEST_TIMEOUT_MS = Math.max(120_000, RUNS * 300);

// ---------------------------------------------------------------------------------------------
// Tallies

const tally = {
  total: 0,
  internal: 0,
  unknown: 0,
  invalidWithoutErrorInfo: 0,
  hung: 0,
  oversizedErrors: 0,
  codes: new Map<string, number>(),
};
const crashes = { uncaughtExceptions: 0, unhandledRejections: 0 };
const onUncaught = () => crashes.uncaughtExceptions++;
const onUnhandled = () => crashes.unhandledRejections++;

function count(code: string): void {
  tally.total++;
  tally.codes.set(code, (tally.codes.get(code) ?? 0) + 1);
  if (code === "Internal") tally.internal++;
  if (code === "Unknown") tally.unknown++;
}

/**
 * What a response breaks, if anything. Every run is classified and the failures collected, so a
 * run reports every kind of failure with its smallest example, not only the first.
 */
type FailureKind = "INTERNAL" | "UNKNOWN" | "INVALID_ARGUMENT without ErrorInfo" | "hung (no answer before the deadline)" | "error trailer over 8 KiB";

interface Failure {
  kind: FailureKind;
  detail: string;
  /** The request, printable, and its size: the smallest example of a kind is reported. */
  input: string;
  size: number;
}

/** gRPC C-core (Python, Ruby, …) and grpc-java refuse response metadata over 8 KiB by default. */
const MAX_ERROR_BYTES = 8 * 1024;

function printable(req: Message | Buffer): { input: string; size: number } {
  if (Buffer.isBuffer(req)) return { input: `bytes ${req.toString("hex").slice(0, 400)}`, size: req.length };
  const json = JSON.stringify(req, (_k, v: unknown) =>
    typeof v === "bigint" ? `${v}n` : typeof v === "string" && v.length > 80 ? `${JSON.stringify(v.slice(0, 16)).slice(1, -1)}…(${v.length} chars)` : v,
  );
  return { input: json.length > 2000 ? `${json.slice(0, 2000)}…` : json, size: json.length };
}

/**
 * Runs `call` on `runs` inputs of `arb` (the run's seed) and collects what each broke; a hung
 * call resets the connection. Every run is classified, so the failures of all kinds come back.
 */
async function fuzzCalls<T extends Message | Buffer>(
  conn: { reset(): void },
  arb: fc.Arbitrary<T>,
  runs: number,
  call: (input: T) => Promise<{ kind: FailureKind; detail: string }[]>,
): Promise<Failure[]> {
  const failures: Failure[] = [];
  try {
    await fc.assert(
      fc.asyncProperty(arb, async (input) => {
        const found = await call(input);
        for (const f of found) failures.push({ ...f, ...printable(input) });
        if (found.some((f) => f.kind.startsWith("hung"))) conn.reset();
      }),
      { seed: SEED, numRuns: runs },
    );
  } finally {
    conn.reset();
  }
  recordFailures(failures);
  return failures;
}

function recordFailures(failures: readonly Failure[]): void {
  for (const f of failures) {
    if (f.kind === "INVALID_ARGUMENT without ErrorInfo") tally.invalidWithoutErrorInfo++;
    if (f.kind.startsWith("hung")) tally.hung++;
    if (f.kind === "error trailer over 8 KiB") tally.oversizedErrors++;
  }
}

function summarise(failures: readonly Failure[]): string[] {
  const byKind = new Map<FailureKind, Failure[]>();
  for (const f of failures) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f]);
  return [...byKind.entries()].map(([kind, list]) => {
    const smallest = list.reduce((a, b) => (b.size < a.size ? b : a));
    return `${kind} ×${list.length}: ${smallest.detail} — smallest input: ${smallest.input}`;
  });
}

/**
 * A mutation of a valid request: each member comes from the valid message, from a random one,
 * or is cleared; message-typed members present on both sides are mixed recursively.
 */
function mix(desc: DescMessage, valid: Message, random: Message | undefined, choices: readonly number[], at = { i: 0 }): Message {
  const out = create(desc) as unknown as Record<string, unknown>;
  const v = valid as unknown as Record<string, unknown>;
  const r = (random ?? create(desc)) as unknown as Record<string, unknown>;
  for (const member of desc.members) {
    const name = member.localName;
    const choice = choices[at.i++ % choices.length] ?? 0;
    const nested =
      member.kind === "field" && member.fieldKind === "message" && !member.message.typeName.startsWith("google.protobuf.") ? member.message : undefined;
    if (nested && choice === 3 && v[name] && r[name]) {
      out[name] = mix(nested, v[name] as Message, r[name] as Message, choices, at);
    } else if (choice === 1) {
      out[name] = r[name];
    } else if (choice === 2) {
      // cleared: keep the default from create()
    } else {
      out[name] = v[name];
    }
  }
  return out as unknown as Message;
}

// ---------------------------------------------------------------------------------------------
// Valid requests (as proto JSON), per method, built from the tenant's seeded data

interface Seeded {
  contactIds: string[];
  memberContactId: string;
  labelKeys: string[];
  fieldKeys: string[];
}

function validJson(method: DescMethod, s: Seeded): JsonValue[] {
  const [a = "", b = "", c = ""] = s.contactIds;
  const info = {
    name: { first: "Ada", last: "Lovelace" },
    emails: { items: [{ email: "ada.fuzz@example.com", tag: "EMAIL_TAG_WORK" }] },
    phones: { items: [{ phone: "(201) 555-0199", countryCode: "US" }] },
    addresses: { items: [{ address: { streetAddress: { number: "1", name: "Main St" }, city: "Paris", country: "FR" } }] },
    company: "Analytical Engines",
    birthdate: "1815-12-10",
    locale: "en-GB",
    labelKeys: { items: [s.labelKeys[0] ?? ""] },
    extendedFields: { items: { "custom.notes": "hello", "custom.shoe-size": 42, "custom.birthday": "2000-01-31", "custom.site": "example.com" } },
  };
  const query = {
    filter: { displayName: { $startsWith: "V" } },
    sort: [{ fieldName: "displayName", order: "SORT_ORDER_ASC" }],
    paging: { limit: 10, offset: 0 },
  };
  switch (`${method.parent.typeName}/${method.name}`) {
    case "contacts.v1.ContactsService/CreateContact":
      return [
        { info, allowDuplicates: true },
        { info: { name: { first: "Bo" } }, requestId: "fuzz-req-1" },
      ];
    case "contacts.v1.ContactsService/GetContact":
      return [{ id: a }, { id: b, fields: ["info.name", "primaryInfo"], fieldsets: ["CONTACT_FIELD_SET_BASIC"] }];
    case "contacts.v1.ContactsService/UpdateContact":
      return [
        { contactId: a, revision: 1, info: { company: "Babbage & Co" } },
        { contactId: b, revision: 1, info: { name: { last: "King" } }, fieldMask: "info.name.last" },
        { contactId: c, revision: 1, info: { extendedFields: { items: { "custom.notes": "x" } } }, fieldMask: "info.extendedFields.custom.notes" },
      ];
    case "contacts.v1.ContactsService/DeleteContact":
      return [{ contactId: c }, { contactId: s.memberContactId }];
    case "contacts.v1.ContactsService/LabelContact":
    case "contacts.v1.ContactsService/UnlabelContact":
      return [
        { contactId: a, labelKeys: s.labelKeys },
        { contactId: b, labelKeys: ["contacts.customers"] },
      ];
    case "contacts.v1.ContactsService/MergeContacts":
      return [
        { targetContactId: a, targetContactRevision: 1, sourceContactIds: [b] },
        { targetContactId: b, targetContactRevision: 1, sourceContactIds: [s.memberContactId, c] },
      ];
    case "contacts.v1.ContactsService/PreviewMergeContacts":
      return [{ targetContactId: a, sourceContactIds: [b, c] }];
    case "contacts.v1.ContactsService/QueryContacts":
      return [
        {
          query: { filter: { "info.name.first": { $startsWith: "A" } }, sort: [{ fieldName: "createdDate", order: "SORT_ORDER_DESC" }], paging: { limit: 5 } },
          search: "ada",
        },
        {
          query: {
            filter: { $or: [{ "info.labelKeys": { $hasSome: s.labelKeys } }, { "info.extendedFields.custom.shoe-size": { $gt: 40 } }] },
            cursorPaging: { limit: 2 },
          },
        },
      ];
    case "contacts.v1.ContactsService/ListContacts":
      return [
        { sort: { fieldName: "info.name.first", order: "SORT_ORDER_ASC" }, paging: { limit: 2, offset: 1 }, fieldsets: ["CONTACT_FIELD_SET_FULL"] },
        { cursorPaging: { limit: 1 } },
      ];
    case "contacts.v1.ContactsService/ListFacets":
      return [{ paging: { limit: 10 } }];
    case "contacts.v1.ContactsService/QueryFacets":
      return [{ filter: { "info.name.first": "Ada" }, paging: { limit: 10 } }];
    case "contacts.v1.ContactsService/UpdateMemberInfo":
      return [{ contactId: a, memberInfo: { memberId: "m-1", status: "MEMBER_STATUS_ACTIVE", role: "MEMBER_ROLE_OWNER" } }, { contactId: s.memberContactId }];
    case "contacts.v1.LabelsService/FindOrCreateLabel":
      return [{ displayName: "VIP" }, { displayName: "New label", requestId: "fuzz-label-1" }];
    case "contacts.v1.LabelsService/GetLabel":
    case "contacts.v1.LabelsService/DeleteLabel":
      return [{ key: s.labelKeys[0] ?? "" }, { key: "contacts.customers" }];
    case "contacts.v1.LabelsService/ListLabels":
      return [{ labelType: "LABEL_TYPE_USER_DEFINED", namespace: "custom", startsWith: "V", sort: { fieldName: "displayName" }, paging: { limit: 5 } }];
    case "contacts.v1.LabelsService/QueryLabels":
      return [{ query }, { query: { filter: { labelType: { $in: ["SYSTEM", "USER_DEFINED"] } }, cursorPaging: { limit: 1 } } }];
    case "contacts.v1.LabelsService/RenameLabel":
      return [{ label: { key: s.labelKeys[0] ?? "", displayName: "Very Important" } }];
    case "contacts.v1.ExtendedFieldsService/FindOrCreateExtendedField":
      return [
        { displayName: "Notes", dataType: "FIELD_DATA_TYPE_TEXT" },
        { displayName: "Due", dataType: "FIELD_DATA_TYPE_DATE" },
      ];
    case "contacts.v1.ExtendedFieldsService/GetExtendedField":
    case "contacts.v1.ExtendedFieldsService/DeleteExtendedField":
      return [{ key: s.fieldKeys[0] ?? "" }, { key: "contacts.displayByFirstName" }];
    case "contacts.v1.ExtendedFieldsService/ListExtendedFields":
      return [{ fieldType: "FIELD_TYPE_USER_DEFINED", namespace: "custom", startsWith: "N", sort: { fieldName: "displayName" }, paging: { limit: 5 } }];
    case "contacts.v1.ExtendedFieldsService/QueryExtendedFields":
      return [{ query: { ...query, sort: [{ fieldName: "displayName" }] } }, { query: { filter: { dataType: "NUMBER" }, cursorPaging: { limit: 1 } } }];
    case "contacts.v1.ExtendedFieldsService/RenameExtendedField":
      return [{ field: { key: s.fieldKeys[0] ?? "", displayName: "Remarks" } }];
    case "contacts.v1.EventsService/WatchEvents":
      return [{ start: "WATCH_START_OLDEST" }, { start: "WATCH_START_NOW", filter: { entityFqdns: ["wix.contacts.v4.contact"], slugs: ["created"] } }];
    default:
      return [{}];
  }
}

// ---------------------------------------------------------------------------------------------
// Calls

type AnyClient = Record<string, (req: unknown, opts?: CallOptions) => Promise<unknown> | AsyncIterable<unknown>>;

/** Sends a decoded request through the Connect client (gRPC to the grpc-js port). */
async function sendStructured(client: AnyClient, method: DescMethod, req: Message): Promise<{ code: string; err?: ConnectError }> {
  const call = client[method.localName];
  if (!call) throw new Error(`no client method ${method.localName}`);
  try {
    if (method.methodKind === "server_streaming") {
      for await (const _ of call(req, { timeoutMs: STREAM_DEADLINE_MS }) as AsyncIterable<unknown>) {
        // drain until the deadline
      }
    } else {
      await call(req, { timeoutMs: UNARY_DEADLINE_MS });
    }
    return { code: "OK" };
  } catch (err) {
    if (!(err instanceof ConnectError)) throw err;
    return { code: Code[err.code], err };
  }
}

/** The failures of one decoded call's answer. */
function judgeStructured(method: DescMethod, code: string, err: ConnectError | undefined): { kind: FailureKind; detail: string }[] {
  const out: { kind: FailureKind; detail: string }[] = [];
  if (code === "Internal") out.push({ kind: "INTERNAL", detail: err?.rawMessage ?? "" });
  if (code === "Unknown") out.push({ kind: "UNKNOWN", detail: err?.rawMessage ?? "" });
  if (code === "InvalidArgument" && err && err.findDetails(ErrorInfoSchema).length === 0) {
    out.push({ kind: "INVALID_ARGUMENT without ErrorInfo", detail: err.rawMessage.slice(0, 200) });
  }
  // Unary calls here never wait for anything: DEADLINE_EXCEEDED means no answer came back.
  if (code === "DeadlineExceeded" && method.methodKind === "unary")
    out.push({ kind: "hung (no answer before the deadline)", detail: `${UNARY_DEADLINE_MS} ms` });
  if (err) {
    const bytes = Buffer.byteLength(err.rawMessage) + err.details.reduce((n, d) => n + ("value" in d && d.value instanceof Uint8Array ? d.value.length : 0), 0);
    if (bytes > MAX_ERROR_BYTES)
      out.push({ kind: "error trailer over 8 KiB", detail: `${bytes} bytes of message and details: ${err.rawMessage.slice(0, 120)}…` });
  }
  return out;
}

interface RawOutcome {
  code: number;
  details: string;
  errorInfo: boolean;
}

function hasErrorInfo(metadata: grpc.Metadata | undefined): boolean {
  const bin = metadata?.get("grpc-status-details-bin")[0];
  if (!(bin instanceof Buffer)) return false;
  try {
    return fromBinary(StatusSchema, bin).details.some((d) => d.typeUrl.endsWith(`/${ErrorInfoSchema.typeName}`));
  } catch {
    return false;
  }
}

/** Sends `body` as the request message, untouched, with grpc-js. */
function sendRaw(client: grpc.Client, tenant: string, method: DescMethod, body: Buffer): Promise<RawOutcome> {
  const path = `/${method.parent.typeName}/${method.name}`;
  const md = new grpc.Metadata();
  md.set("x-tenant-id", tenant);
  const same = (b: Buffer) => b;
  return new Promise((resolve) => {
    if (method.methodKind === "server_streaming") {
      const stream = client.makeServerStreamRequest(path, same, same, body, md, { deadline: Date.now() + STREAM_DEADLINE_MS });
      stream.on("data", () => {});
      stream.on("error", () => {});
      stream.on("status", (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details, errorInfo: hasErrorInfo(s.metadata) }));
    } else {
      client.makeUnaryRequest(path, same, same, body, md, { deadline: Date.now() + UNARY_DEADLINE_MS }, (err) =>
        resolve(err ? { code: err.code, details: err.details, errorInfo: hasErrorInfo(err.metadata) } : { code: 0, details: "", errorInfo: false }),
      );
    }
  });
}

/** Random bytes, and valid encodings with bytes flipped, cut off or appended. */
function rawBodyArb(valid: readonly Uint8Array[]): fc.Arbitrary<Buffer> {
  const corrupted = fc
    .tuple(
      fc.constantFrom(...valid),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.option(fc.nat(), { nil: undefined }),
      fc.uint8Array({ maxLength: 12 }),
    )
    .map(([bytes, flips, cut, tail]) => {
      const b = Buffer.from(bytes);
      for (const [pos, value] of flips) if (b.length > 0) b[pos % b.length] = value;
      const kept = cut === undefined || b.length === 0 ? b : b.subarray(0, cut % (b.length + 1));
      return Buffer.concat([kept, tail]);
    });
  return fc.oneof(
    fc.uint8Array({ maxLength: 512 }).map((u) => Buffer.from(u)),
    corrupted,
  );
}

// ---------------------------------------------------------------------------------------------

describe(`scenario 13: fuzz every RPC (${STORE})`, () => {
  let t: TestServer;
  let raw: grpc.Client;

  beforeAll(async () => {
    process.on("uncaughtException", onUncaught);
    process.on("unhandledRejection", onUnhandled);
    t = await startTestServer(STORE);
    raw = new grpc.Client(`127.0.0.1:${t.server.grpcPort}`, grpc.credentials.createInsecure());
    console.log(`[scenario 13] seed=${SEED} runs/RPC=${RUNS} (server streaming: ${STREAM_RUNS}) store=${STORE}; replay with FUZZ_SEED=${SEED}`);
  });

  afterAll(async () => {
    process.off("uncaughtException", onUncaught);
    process.off("unhandledRejection", onUnhandled);
    raw?.close();
    await t?.close();
  });

  const seeds = new Map<string, Promise<Seeded>>();
  /** The seeded tenant of one method, shared by its structured and raw tests. */
  function seeded(tenant: string): Promise<Seeded> {
    let s = seeds.get(tenant);
    if (!s) {
      s = seed(tenant);
      seeds.set(tenant, s);
    }
    return s;
  }

  /** A tenant with contacts (one a member), labels and typed extended fields. */
  async function seed(tenant: string): Promise<Seeded> {
    const { contacts, labels, fields } = t.clients(tenant);
    const labelKeys = [];
    for (const name of ["VIP", "Lead"]) labelKeys.push((await labels.findOrCreateLabel({ displayName: name })).label?.key ?? "");
    const fieldKeys = [];
    for (const [name, dataType] of [
      ["Notes", FieldDataType.TEXT],
      ["Shoe size", FieldDataType.NUMBER],
      ["Birthday", FieldDataType.DATE],
      ["Site", FieldDataType.URL],
    ] as const) {
      fieldKeys.push((await fields.findOrCreateExtendedField({ displayName: name, dataType })).field?.key ?? "");
    }
    const contactIds = [];
    for (const [i, first] of ["Ada", "Grace", "Alan"].entries()) {
      const { contact } = await contacts.createContact({
        info: {
          name: { first },
          emails: { items: [{ email: `${first.toLowerCase()}@fuzz.example`, tag: EmailTag.WORK }] },
          labelKeys: { items: i === 0 ? [] : [labelKeys[0] ?? ""] },
        },
      });
      contactIds.push(contact?.id ?? "");
    }
    const { contact: member } = await contacts.createContact({ info: { name: { first: "Member" } } });
    await contacts.updateMemberInfo({ contactId: member?.id ?? "", memberInfo: { memberId: "member-1" } });
    return { contactIds, memberContactId: member?.id ?? "", labelKeys, fieldKeys };
  }

  function dictionary(s: Seeded): Dictionary {
    return {
      strings: [
        ...s.contactIds,
        s.memberContactId,
        "00000000-0000-4000-8000-000000000000",
        ...s.labelKeys,
        "contacts.customers",
        "contacts.contacted-me",
        ...s.fieldKeys,
        "contacts.displayByFirstName",
        "emailSubscriptions.effectiveEmail",
        "custom",
        "contacts",
        "VIP",
        "vip ",
        "ada@fuzz.example",
        "ADA@FUZZ.EXAMPLE ",
        "not an email",
        "+12015550123",
        "(201) 555-0123",
        "US",
        "us",
        "XX",
        "en-US",
        "en_US",
        "2020-02-29",
        "2021-02-29",
        "1815-12-10",
        "https://example.com",
        "example.com",
        "javascript:alert(1)",
        "member-1",
        "fuzz-req-1",
        "wix.contacts.v4.contact",
        "created",
        "updated",
        ...FIELD_PATHS,
        ...FILTER_OPERATORS,
        "eyJhIjpbXSwicSI6IngifQ",
        "%",
        "_",
        "\\",
        "' OR 1=1 --",
      ].filter(Boolean),
    };
  }

  /**
   * Clients on their own HTTP/2 connections, replaced after a hung call: a response whose
   * trailers the client cannot take leaves the whole connection unusable (see the known-bug test
   * below), which would turn every later run into a hang too.
   */
  class Connection {
    private session: Http2SessionManager | undefined;
    private grpcJs: grpc.Client | undefined;
    private clients = new Map<string, AnyClient>();

    constructor(private readonly tenant: string) {}

    client(service: DescService): AnyClient {
      let c = this.clients.get(service.typeName);
      if (!c) {
        this.session ??= new Http2SessionManager(t.grpcUrl);
        const tenantHeader: Interceptor = (next) => (req) => {
          req.header.set("x-tenant-id", this.tenant);
          return next(req);
        };
        c = createClient(
          service,
          createGrpcTransport({ baseUrl: t.grpcUrl, sessionManager: this.session, interceptors: [tenantHeader] }),
        ) as unknown as AnyClient;
        this.clients.set(service.typeName, c);
      }
      return c;
    }

    raw(): grpc.Client {
      this.grpcJs ??= new grpc.Client(`127.0.0.1:${t.server.grpcPort}`, grpc.credentials.createInsecure());
      return this.grpcJs;
    }

    reset(): void {
      this.session?.abort();
      this.grpcJs?.close();
      this.session = undefined;
      this.grpcJs = undefined;
      this.clients.clear();
    }
  }

  METHODS.forEach((method, index) => {
    const name = `${method.parent.typeName}/${method.name}`;
    const streaming = method.methodKind === "server_streaming";
    const runs = streaming ? STREAM_RUNS : RUNS;

    it(
      `${name}: structured and mutated requests`,
      async () => {
        const tenant = `fuzz-${index}`;
        const data = await seeded(tenant);
        const gen = new Generator(dictionary(data));
        const valid = validJson(method, data).map((j) => fromJson(method.input, j));
        const anyRequest = fc.oneof(
          { arbitrary: gen.message(method.input).map((m) => m ?? create(method.input)), weight: 3 },
          {
            arbitrary: fc
              .tuple(fc.constantFrom(...valid), gen.message(method.input), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 64 }))
              .map(([v, r, choices]) => mix(method.input, v, r, choices)),
            weight: 3,
          },
          { arbitrary: fc.constantFrom(...valid), weight: 1 },
        );
        // Bodies over the server's read limit are scenario 11 (test/limits.test.ts), and a series of
        // them breaks the HTTP/2 connection (a known bug tested there): stay under it here.
        const requestArb = anyRequest.filter((m) => toBinary(method.input, m).length < MAX_REQUEST_BYTES);
        const conn = new Connection(tenant);
        const failures = await fuzzCalls(conn, requestArb, runs, async (req) => {
          const { code, err } = await sendStructured(conn.client(method.parent), method, req);
          count(code);
          return judgeStructured(method, code, err);
        });
        expect(summarise(failures), `${name}: seed ${SEED}`).toEqual([]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      `${name}: raw request bodies on the gRPC port`,
      async () => {
        const tenant = `fuzz-${index}`;
        const valid = validJson(method, await seeded(tenant)).map((j) => toBinary(method.input, fromJson(method.input, j)));
        const conn = new Connection(tenant);
        const failures = await fuzzCalls(conn, rawBodyArb(valid), runs, async (body) => {
          const out = await sendRaw(conn.raw(), tenant, method, body);
          const code = out.code === 0 ? "OK" : (Code[out.code as Code] ?? String(out.code));
          count(code);
          const found: { kind: FailureKind; detail: string }[] = [];
          if (out.code === grpc.status.INTERNAL) found.push({ kind: "INTERNAL", detail: out.details });
          if (out.code === grpc.status.UNKNOWN) found.push({ kind: "UNKNOWN", detail: out.details });
          if (out.code === grpc.status.DEADLINE_EXCEEDED && !streaming) found.push({ kind: "hung (no answer before the deadline)", detail: out.details });
          if (out.code === grpc.status.INVALID_ARGUMENT && !out.errorInfo) {
            found.push({ kind: "INVALID_ARGUMENT without ErrorInfo", detail: out.details.slice(0, 200) });
          }
          return found;
        });
        expect(summarise(failures), `${name}: seed ${SEED}`).toEqual([]);
      },
      TEST_TIMEOUT_MS,
    );
  });

  it("regressions found by this fuzz: unknown enum numbers and an invalid Timestamp are INVALID_ARGUMENT, not INTERNAL", async () => {
    const tenant = "fuzz-regressions";
    const data = await seeded(tenant);
    const conn = new Connection(tenant);
    try {
      const cases: [DescMethod, Record<string, unknown>, string][] = [
        // fieldsets 5 → FIELDSETS[undefined] is not iterable (server/src/domain/projection.ts)
        [ContactsService.method.getContact, { id: data.contactIds[0] ?? "", fieldsets: [5] }, "InvalidArgument"],
        [ContactsService.method.listContacts, { fieldsets: [2147483647] }, "InvalidArgument"],
        [ContactsService.method.queryContacts, { query: { fieldsets: [7] } }, "InvalidArgument"],
        // label_type / field_type 4 → an undefined SQL binding (server/src/rpc/labels.ts, extended-fields.ts)
        [LabelsService.method.listLabels, { labelType: 4 }, "InvalidArgument"],
        [ExtendedFieldsService.method.listExtendedFields, { fieldType: 3 }, "InvalidArgument"],
        // member_info.signup_date nanos −1 → toJson threw (server/src/rpc/contacts.ts); the server sets that date itself
        [
          ContactsService.method.updateMemberInfo,
          { contactId: data.contactIds[1] ?? "", memberInfo: { memberId: "m-2", signupDate: { seconds: 0n, nanos: -1 } } },
          "OK",
        ],
      ];
      for (const [method, init, expected] of cases) {
        const got = await sendStructured(conn.client(method.parent), method, create(method.input, init as never));
        expect({ method: method.name, code: got.code, failures: judgeStructured(method, got.code, got.err) }).toEqual({
          method: method.name,
          code: expected,
          failures: [],
        });
      }
    } finally {
      conn.reset();
    }
  });

  // Error messages and BadRequest field paths echo client input (here a field mask path; also
  // filter keys and operators, sort field names, extended field keys). Unbounded, past ~20 KB the
  // trailers would exceed the client's HTTP/2 header list limit (64 KiB in Node, 8 KiB in gRPC
  // C-core/Java) and the call would hang: rpc/errors.ts clips every echoed text.
  it("an INVALID_ARGUMENT that names a huge bad value still reaches the client, under 8 KiB", async () => {
    const conn = new Connection("fuzz-trailer");
    try {
      const contacts = conn.client(ContactsService);
      const started = performance.now();
      const got = await sendStructured(
        contacts,
        ContactsService.method.updateContact,
        create(ContactsService.method.updateContact.input, {
          contactId: "x",
          revision: 1,
          info: {},
          fieldMask: { paths: ["x".repeat(30_000)] },
        }),
      );
      expect({ code: got.code, ms: performance.now() - started < UNARY_DEADLINE_MS }).toEqual({ code: "InvalidArgument", ms: true });
      expect(judgeStructured(ContactsService.method.updateContact, got.code, got.err)).toEqual([]);
    } finally {
      conn.reset();
    }
  });

  // A body that does not parse is INVALID_ARGUMENT MALFORMED_REQUEST with an ErrorInfo, as API.md
  // asks of every failure (createGrpcServer's parseError option, set by app.ts).
  it("a request body that does not parse is INVALID_ARGUMENT with an ErrorInfo (gRPC port)", async () => {
    const out = await sendRaw(raw, "fuzz-parse", ContactsService.method.getContact, Buffer.from([0x0a, 0x05, 0x01]));
    expect(out).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, errorInfo: true });
  });

  // On the Connect port, connect-node itself maps a binary body that does not parse to INTERNAL
  // (HTTP 500 {"code":"internal","message":"parse binary: premature EOF"}); the parse guard
  // (rpc/transport/parse-guard.ts) answers INVALID_ARGUMENT MALFORMED_REQUEST instead, in every
  // protocol of that port.
  it("a request body that does not parse is INVALID_ARGUMENT, not INTERNAL, on the Connect port (Connect, gRPC-Web, gRPC)", async () => {
    const res = await fetch(`${t.httpUrl}/contacts.v1.ContactsService/GetContact`, {
      method: "POST",
      headers: { "content-type": "application/proto", "x-tenant-id": "fuzz-parse" },
      body: new Uint8Array([0x0a, 0x05, 0x01]),
    });
    const body = (await res.json()) as { code?: string; details?: { type: string }[] };
    expect({ status: res.status, code: body.code, errorInfo: body.details?.some((d) => d.type === ErrorInfoSchema.typeName) }).toEqual({
      status: 400,
      code: "invalid_argument",
      errorInfo: true,
    });

    // gRPC-Web over HTTP/1.1: one envelope holding the same bytes; the status comes in the headers
    // (trailers-only) or in the trailer frame at the end of the body.
    const msg = Buffer.from([0x0a, 0x05, 0x01]);
    const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
    const web = await fetch(`${t.httpUrl}/contacts.v1.ContactsService/GetContact`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", "x-tenant-id": "fuzz-parse" },
      body: envelope,
    });
    const text = Buffer.from(await web.arrayBuffer()).toString("latin1");
    const webStatus = web.headers.get("grpc-status") ?? /grpc-status:\s*(\d+)/i.exec(text)?.[1];
    expect(webStatus).toBe(String(grpc.status.INVALID_ARGUMENT));

    // gRPC over h2c on the same port, from grpc-js.
    const h2c = new grpc.Client(t.httpUrl.replace(/^http:\/\//, ""), grpc.credentials.createInsecure());
    try {
      const out = await sendRaw(h2c, "fuzz-parse", ContactsService.method.getContact, msg);
      expect(out).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, errorInfo: true });
    } finally {
      h2c.close();
    }
  });

  it("the server is still up, and nothing crashed", async () => {
    // Unhandled rejections are reported on a later tick.
    await new Promise((r) => setTimeout(r, 100));
    const { contacts } = t.clients("fuzz-after");
    expect((await contacts.createContact({ info: { name: { first: "Still here" } } })).contact?.revision).toBe(1);
    const codes = [...tally.codes.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([code, n]) => `${code}:${n}`)
      .join(" ");
    console.log(
      `[scenario 13] seed=${SEED} runs/RPC=${RUNS} total=${tally.total} internal=${tally.internal} unknown=${tally.unknown} ` +
        `crashes=${crashes.uncaughtExceptions} unhandledRejections=${crashes.unhandledRejections} ` +
        `invalidArgumentWithoutErrorInfo=${tally.invalidWithoutErrorInfo} hung=${tally.hung} errorsOver8KiB=${tally.oversizedErrors} ` +
        `codes: ${codes}`,
    );
    expect({
      internal: tally.internal,
      unknown: tally.unknown,
      crashes: crashes.uncaughtExceptions,
      unhandledRejections: crashes.unhandledRejections,
    }).toEqual({ internal: 0, unknown: 0, crashes: 0, unhandledRejections: 0 });
  });
});
