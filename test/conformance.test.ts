/**
 * One gRPC behaviour on both ports (issue 18 item 2): the same matrix of calls — every RPC of
 * every service × a plain call, a body that does not parse, a deadline that passes, a deadline
 * above the server's cap, a call cancelled in flight (a stream after its first message), no
 * token, a forged token, a message over the size limit — through the gRPC port (gRPC) and the Connect port (gRPC, gRPC-Web, Connect), each
 * ending with the same status code and the same ErrorInfo reason on all four.
 */
import { create, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContactsService } from "../gen/contacts/v1/contacts_service_pb.js";
import { EventsService } from "../gen/contacts/v1/events_service_pb.js";
import { ExtendedFieldsService } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { LabelsService } from "../gen/contacts/v1/labels_service_pb.js";
import { WebhooksService } from "../gen/contacts/v1/webhooks_service_pb.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { startTestServer, type TestServer } from "./support/server.js";

const SECRET = "conformance-secret: thirty-two bytes or more, surely";
const SERVICES: readonly DescService[] = [ContactsService, LabelsService, ExtendedFieldsService, EventsService, WebhooksService];
const SCOPES = "contacts.admin contacts.manage contacts.read labels.manage extended-fields.manage members.manage webhooks.manage";
const MAX_MESSAGE_BYTES = 64 * 1024;
const MAX_TIMEOUT_MS = 5_000;

type Case = "plain" | "bad body" | "deadline passed" | "deadline too long" | "cancelled" | "no token" | "forged token" | "oversized";
const CASES: readonly Case[] = ["plain", "bad body", "deadline passed", "deadline too long", "cancelled", "no token", "forged token", "oversized"];
const PORTS = ["grpc port: grpc", "connect port: grpc", "connect port: grpc-web", "connect port: connect"] as const;
type Port = (typeof PORTS)[number];

async function sign(key: string): Promise<string> {
  return new SignJWT({ tenant: "conformance", scope: SCOPES, sub: "conformance", identity_type: "user" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(key));
}

/** A request whose bytes do not parse: an unknown varint field cut short at the end of the message. */
function unparseable(desc: DescMessage) {
  const m = create(desc) as { $unknown?: { no: number; wireType: WireType; data: Uint8Array }[] };
  m.$unknown = [{ no: 15, wireType: WireType.Varint, data: new Uint8Array([0xff]) }];
  return m;
}

/** A request over the size limit: unknown bytes (kept by protobuf-es) filling it. */
function oversized(desc: DescMessage) {
  const m = create(desc) as { $unknown?: { no: number; wireType: WireType; data: Uint8Array }[] };
  const payload = new Uint8Array(MAX_MESSAGE_BYTES + 1024).fill(0x61);
  const length: number[] = [];
  for (let n = payload.length; ; n >>>= 7) {
    if (n < 0x80) {
      length.push(n);
      break;
    }
    length.push((n & 0x7f) | 0x80);
  }
  m.$unknown = [{ no: 1000, wireType: WireType.LengthDelimited, data: new Uint8Array([...length, ...payload]) }];
  return m;
}

/** The outcome of one call: its code and ErrorInfo reason ("OK" and "" when it succeeded). */
async function outcome(transport: Transport, method: DescMethod, c: Case, headers: Record<string, string>): Promise<string> {
  const input = method.input;
  const message = c === "bad body" ? unparseable(input) : c === "oversized" ? oversized(input) : create(input);
  const abort = new AbortController();
  const timeoutMs = c === "deadline passed" ? 1 : c === "deadline too long" ? MAX_TIMEOUT_MS * 4 : MAX_TIMEOUT_MS / 2;
  try {
    if (method.methodKind === "unary") {
      const call = transport.unary(method as DescMethod & { methodKind: "unary" }, abort.signal, timeoutMs, headers, message as never, undefined);
      // Cancelled in flight: the request is on its way when the client gives up on it.
      if (c === "cancelled") queueMicrotask(() => abort.abort());
      await call;
    } else if (method.methodKind === "server_streaming") {
      const res = await transport.stream(
        method as DescMethod & { methodKind: "server_streaming" },
        abort.signal,
        timeoutMs,
        headers,
        (async function* () {
          yield message as never;
        })(),
        undefined,
      );
      // The first message (a watch's bookmark) or the end; then stop — or, cancelled mid-call,
      // give up on the stream after its first message and read on.
      for await (const _ of res.message) {
        if (c !== "cancelled") break;
        abort.abort();
      }
    } else {
      throw new Error(`unexpected method kind ${method.methodKind}`);
    }
    return "OK";
  } catch (err) {
    const e = ConnectError.from(err);
    const reason = e.findDetails(ErrorInfoSchema)[0]?.reason ?? "";
    return `${Code[e.code]}${reason ? ` ${reason}` : ""}`;
  }
}

describe("one gRPC behaviour on both ports", () => {
  let t: TestServer;
  let token: string;
  let forged: string;
  beforeAll(async () => {
    t = await startTestServer("sqlite", {
      auth: { secret: SECRET, clockToleranceS: 30, jwksAlgorithms: ["RS256", "ES256"] },
      devMode: false,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxTimeoutMs: MAX_TIMEOUT_MS,
    });
    token = await sign(SECRET);
    forged = await sign("another secret, also thirty-two bytes or more");
  });
  afterAll(async () => {
    await t?.close();
  });

  it("every RPC × 8 cases ends with the same code and reason through the 4 port/protocol pairs", { timeout: 120_000 }, async () => {
    const transports: Record<Port, Transport> = {
      "grpc port: grpc": createGrpcTransport({ baseUrl: t.grpcUrl }),
      "connect port: grpc": createGrpcTransport({ baseUrl: t.httpUrl }),
      "connect port: grpc-web": createGrpcWebTransport({ baseUrl: t.httpUrl, httpVersion: "1.1" }),
      "connect port: connect": createConnectTransport({ baseUrl: t.httpUrl, httpVersion: "1.1" }),
    };
    const rows: { call: string; outcomes: Record<Port, string> }[] = [];
    for (const service of SERVICES) {
      for (const method of service.methods) {
        for (const c of CASES) {
          const headers: Record<string, string> = c === "no token" ? {} : { authorization: `Bearer ${c === "forged token" ? forged : token}` };
          const outcomes = {} as Record<Port, string>;
          for (const port of PORTS) outcomes[port] = await outcome(transports[port], method, c, headers);
          rows.push({ call: `${service.name}/${method.name} × ${c}`, outcomes });
        }
      }
    }
    const differing = rows.filter((r) => new Set(Object.values(r.outcomes)).size > 1);
    const byCase = new Map<string, Map<string, number>>();
    for (const r of rows) {
      const c = r.call.split(" × ")[1] ?? "";
      const counts = byCase.get(c) ?? new Map<string, number>();
      const o = r.outcomes["grpc port: grpc"].split(" ")[0] ?? "";
      counts.set(o, (counts.get(o) ?? 0) + 1);
      byCase.set(c, counts);
    }
    console.log(
      `[conformance] ${rows.length} calls × ${PORTS.length} port/protocol pairs; differing: ${differing.length}\n${[...byCase]
        .map(([c, counts]) => `  ${c}: ${[...counts].map(([o, n]) => `${o} ${n}`).join(", ")}`)
        .join("\n")}`,
    );
    for (const d of differing.slice(0, 40)) console.log(`  ${d.call}: ${JSON.stringify(d.outcomes)}`);
    expect(differing.map((d) => d.call)).toEqual([]);
  });
});
