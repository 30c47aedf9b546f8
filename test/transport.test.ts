/**
 * Transport layer: the grpc-js front (createGrpcServer) and the connect-node
 * port (createHttpServer) serving the same Connect implementation.
 */
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createMethodImplSpec, createServiceImplSpec } from "@connectrpc/connect";
import type { HandlerContext, Interceptor, ServiceImpl, ServiceImplSpec } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import {
  Health,
  HealthCheckRequestSchema,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { closeGrpcGracefully, createGrpcServer } from "../server/src/rpc/transport/grpc-server.js";
import { closeGracefully, createHttpServer } from "../server/src/rpc/transport/http-server.js";

const root = join(import.meta.dirname, "..");

/** What the slow handler observed, keyed by the request's `service` field. */
const aborted = new Map<string, Promise<unknown>>();
/** Whether ctx.signal aborted after completion (listener, AbortSignal.any follower). */
const completion = new Map<string, Promise<[boolean, boolean]>>();
const signalIsAbortSignal = new Map<string, boolean>();

function waitAbort(ctx: HandlerContext, maxMs: number): Promise<unknown> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve("not aborted"), maxMs);
    ctx.signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve(ctx.signal.reason);
    });
  });
}

const healthImpl: Partial<ServiceImpl<typeof Health>> = {
  async check(req, ctx) {
    if (req.service === "fail") {
      throw new ConnectError("nope", Code.FailedPrecondition, undefined, [
        { desc: ErrorInfoSchema, value: { reason: "X", domain: "contacts.v1", metadata: { a: "b" } } },
      ]);
    }
    if (req.service === "boom") throw new Error("secret detail");
    if (req.service.startsWith("slow")) {
      const p = waitAbort(ctx, 5000);
      aborted.set(req.service, p);
      await p;
      return { status: HealthCheckResponse_ServingStatus.NOT_SERVING };
    }
    if (req.service === "headers") {
      ctx.responseHeader.set("x-answer", "42");
      ctx.responseTrailer.set("x-trailer", "t");
      ctx.responseTrailer.set("x-trailer-bin", Buffer.from([1, 2, 3]).toString("base64"));
      return { status: HealthCheckResponse_ServingStatus.SERVING };
    }
    if (req.service === "observe-completion") {
      // connect-node semantics: ctx.signal aborts once the call completes.
      const viaListener = new Promise<boolean>((resolve) => {
        ctx.signal.addEventListener("abort", () => resolve(true));
        setTimeout(() => resolve(false), 2000);
      });
      const follower = AbortSignal.any([ctx.signal]);
      const viaAny = new Promise<boolean>((resolve) => {
        follower.addEventListener("abort", () => resolve(true));
        setTimeout(() => resolve(false), 2000);
      });
      completion.set(ctx.protocolName, Promise.all([viaListener, viaAny]));
      signalIsAbortSignal.set(ctx.protocolName, ctx.signal instanceof AbortSignal && !ctx.signal.aborted);
      return { status: HealthCheckResponse_ServingStatus.SERVING };
    }
    if (req.service === "echo-header") {
      // The request header reaches the handler: echo it as the serving status.
      return { status: ctx.requestHeader.get("x-status") === "2" ? 2 : 0 };
    }
    return { status: HealthCheckResponse_ServingStatus.SERVING };
  },
  async *watch(req, ctx) {
    const n = req.service === "many" ? 3000 : 3;
    for (let i = 0; i < n; i++) {
      yield { status: i % 2 === 0 ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING };
    }
    if (req.service === "forever") {
      await waitAbort(ctx, 10_000);
      ctx.signal.throwIfAborted();
    }
  },
};

// Bidi and client-streaming coverage: the reflection method with its kind
// swapped gives a client-streaming method without another .proto.
const reflectionMethod = ServerReflection.method.serverReflectionInfo;
const clientStreamMethod = {
  ...reflectionMethod,
  name: "CountRequests",
  localName: "countRequests",
  methodKind: "client_streaming",
} as unknown as typeof reflectionMethod;
const reflectionSpec: ServiceImplSpec = {
  service: ServerReflection,
  methods: {
    serverReflectionInfo: createMethodImplSpec(reflectionMethod, async function* (reqs) {
      for await (const r of reqs) {
        yield { validHost: r.host, originalRequest: r };
      }
    }),
    countRequests: createMethodImplSpec(clientStreamMethod, (async (reqs: AsyncIterable<{ host: string }>) => {
      let n = 0;
      for await (const _ of reqs) n++;
      return { validHost: `count=${n}` };
    }) as never),
  },
};

type Seen = { server: string; method: string; stream: boolean };
const seen: Seen[] = [];
function recorder(server: string): Interceptor {
  return (next) => async (req) => {
    seen.push({ server, method: req.method.name, stream: req.stream });
    return next(req);
  };
}

interface HealthClient extends grpc.Client {
  check(
    req: { service: string },
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: { status: string }) => void,
  ): grpc.ClientUnaryCall;
  watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
}

let grpcServer: grpc.Server;
let grpcPort = 0;
let httpServer: import("node:net").Server;
let httpPort = 0;
let grpcClient: HealthClient;

beforeAll(async () => {
  const specs = [createServiceImplSpec(Health, healthImpl), reflectionSpec];
  grpcServer = createGrpcServer(specs, {
    interceptors: [recorder("grpc")],
    maxReceiveMessageBytes: 1 << 20,
    maxSendMessageBytes: 1 << 20,
    maxConcurrentStreams: 100,
    maxTimeoutMs: 60_000,
  });
  grpcPort = await bind(grpcServer);
  httpServer = createHttpServer(specs, {
    interceptors: [recorder("http")],
    readMaxBytes: 1 << 20,
    writeMaxBytes: 1 << 20,
    maxConcurrentStreams: 100,
    maxTimeoutMs: 10_000,
  });
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  httpPort = (httpServer.address() as AddressInfo).port;

  const def = protoLoader.loadSync(join(root, "third_party/grpc/health/v1/health.proto"), {
    enums: String,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpc: { health: { v1: { Health: new (addr: string, creds: grpc.ChannelCredentials) => HealthClient } } };
  };
  grpcClient = new pkg.grpc.health.v1.Health(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
});

afterAll(async () => {
  grpcClient?.close();
  await Promise.all([grpcServer ? closeGrpcGracefully(grpcServer, 1000) : undefined, httpServer ? closeGracefully(httpServer, 1000) : undefined]);
});

function bind(server: grpc.Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
}

function healthClient(port: number): HealthClient {
  const Ctor = grpcClient.constructor as new (addr: string, creds: grpc.ChannelCredentials) => HealthClient;
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

function grpcCheck(service: string, opts: grpc.CallOptions = {}, md = new grpc.Metadata()): Promise<{ res?: { status: string }; err?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    grpcClient.check({ service }, md, opts, (err, res) => resolve(err ? { err } : { res }));
  });
}

describe("createGrpcServer", () => {
  it("answers a unary call from a grpc-js client", async () => {
    const before = seen.filter((s) => s.server === "grpc").length;
    const { res, err } = await grpcCheck("");
    expect(err).toBeUndefined();
    expect(res?.status).toBe("SERVING");
    expect(seen.filter((s) => s.server === "grpc").length).toBe(before + 1);
  });

  it("passes request metadata as requestHeader, response header/trailer as metadata", async () => {
    const md = new grpc.Metadata();
    md.set("x-status", "2");
    const echoed = await grpcCheck("echo-header", {}, md);
    expect(echoed.res?.status).toBe("NOT_SERVING");

    const got = await new Promise<{ header: grpc.Metadata; trailer: grpc.Metadata }>((resolve, reject) => {
      let header = new grpc.Metadata();
      const call = grpcClient.check({ service: "headers" }, new grpc.Metadata(), {}, (err) => {
        if (err) reject(err);
      });
      call.on("metadata", (m) => {
        header = m;
      });
      call.on("status", (s) => resolve({ header, trailer: s.metadata }));
    });
    expect(got.header.get("x-answer")).toEqual(["42"]);
    expect(got.trailer.get("x-trailer")).toEqual(["t"]);
    expect(got.trailer.get("x-trailer-bin")).toEqual([Buffer.from([1, 2, 3])]);
  });

  it("aborts ctx.signal after a completed call, for listeners and AbortSignal.any followers", async () => {
    const { res } = await grpcCheck("observe-completion");
    expect(res?.status).toBe("SERVING");
    expect(await completion.get("grpc")).toEqual([true, true]);
    expect(signalIsAbortSignal.get("grpc")).toBe(true);
  });

  it("turns a ConnectError with details into status + grpc-status-details-bin", async () => {
    const { err } = await grpcCheck("fail");
    expect(err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err?.details).toBe("nope");
    const bin = err?.metadata.get("grpc-status-details-bin")[0];
    expect(Buffer.isBuffer(bin)).toBe(true);
    const status = fromBinary(StatusSchema, bin as Buffer);
    expect(status.code).toBe(Code.FailedPrecondition);
    expect(status.message).toBe("nope");
    expect(status.details).toHaveLength(1);
    const [detail] = status.details;
    const info = detail && anyUnpack(detail, ErrorInfoSchema);
    expect(info?.reason).toBe("X");
    expect(info?.domain).toBe("contacts.v1");
    expect(info?.metadata).toEqual({ a: "b" });
  });

  it("hides other errors behind INTERNAL 'internal error'", async () => {
    const { err } = await grpcCheck("boom");
    expect(err?.code).toBe(grpc.status.INTERNAL);
    expect(err?.details).toBe("internal error");
  });

  it("answers a malformed request body with INVALID_ARGUMENT", async () => {
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      grpcClient.makeUnaryRequest(
        "/grpc.health.v1.Health/Check",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0xff, 0xff, 0xff, 0xff]),
        (e) => resolve(e),
      );
    });
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("delivers a server stream", async () => {
    const msgs: { status: string }[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = grpcClient.watch({ service: "" });
      call.on("data", (m: { status: string }) => msgs.push(m));
      call.on("end", resolve);
      call.on("error", reject);
    });
    expect(msgs.map((m) => m.status)).toEqual(["SERVING", "NOT_SERVING", "SERVING"]);
    expect(seen.some((s) => s.server === "grpc" && s.method === "Watch" && s.stream)).toBe(true);
  });

  it("delivers a long server stream to a slow reader (write back-pressure)", async () => {
    let n = 0;
    await new Promise<void>((resolve, reject) => {
      const call = grpcClient.watch({ service: "many" });
      call.on("data", () => {
        n++;
        if (n % 500 === 0) {
          call.pause();
          setTimeout(() => call.resume(), 5);
        }
      });
      call.on("end", resolve);
      call.on("error", reject);
    });
    expect(n).toBe(3000);
  });

  it("serves bidi and client-streaming methods", async () => {
    const { toBinary: tb, fromBinary: fb } = { toBinary, fromBinary };
    const reqSchema = reflectionMethod.input;
    const resSchema = reflectionMethod.output;
    const ser = (m: { host: string }) => Buffer.from(tb(reqSchema, create(reqSchema, m)));
    const de = (b: Buffer) => fb(resSchema, b);

    const bidi = grpcClient.makeBidiStreamRequest("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", ser, de);
    const hosts: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      bidi.on("data", (m: { validHost: string }) => hosts.push(m.validHost));
      bidi.on("end", resolve);
      bidi.on("error", reject);
    });
    bidi.write({ host: "a" });
    bidi.write({ host: "b" });
    bidi.end();
    await done;
    expect(hosts).toEqual(["a", "b"]);

    const counted = await new Promise<string>((resolve, reject) => {
      const cs = grpcClient.makeClientStreamRequest("/grpc.reflection.v1.ServerReflection/CountRequests", ser, de, (err, res) =>
        err ? reject(err) : resolve((res as { validHost: string }).validHost),
      );
      for (const h of ["x", "y", "z"]) cs.write({ host: h });
      cs.end();
    });
    expect(counted).toBe("count=3");
  });

  it("answers DEADLINE_EXCEEDED for a client deadline and aborts ctx.signal", async () => {
    const t0 = Date.now();
    const { err } = await grpcCheck("slow-grpc", { deadline: Date.now() + 150 });
    expect(err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeLessThan(1000);
    const reason = await aborted.get("slow-grpc");
    expect(reason).toBeInstanceOf(ConnectError);
    // The client's RST_STREAM at its deadline races the server's own timer;
    // under heavy load the RST can win by more than the slack.
    expect([Code.DeadlineExceeded, Code.Canceled]).toContain((reason as ConnectError).code);
  });

  it("gives unary calls without a deadline maxTimeoutMs, caps longer client deadlines to it, leaves streams uncapped", async () => {
    const server = createGrpcServer([createServiceImplSpec(Health, healthImpl)], {
      interceptors: [],
      maxReceiveMessageBytes: 1 << 20,
      maxSendMessageBytes: 1 << 20,
      maxConcurrentStreams: 100,
      maxTimeoutMs: 300,
    });
    const client = healthClient(await bind(server));
    try {
      for (const [service, deadline] of [
        ["slow-nodeadline", undefined],
        ["slow-longdeadline", Date.now() + 60_000],
      ] as const) {
        const t0 = Date.now();
        const { err } = await new Promise<{ err: grpc.ServiceError | null }>((resolve) =>
          client.check({ service }, new grpc.Metadata(), deadline ? { deadline } : {}, (e) => resolve({ err: e })),
        );
        const took = Date.now() - t0;
        expect(err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
        expect(took).toBeGreaterThanOrEqual(250);
        expect(took).toBeLessThan(2000);
        expect(((await aborted.get(service)) as ConnectError).code).toBe(Code.DeadlineExceeded);
      }
      // A response stream without a deadline is not capped: it is still open well past
      // maxTimeoutMs, and ends only when the client cancels it.
      const updates = await new Promise<number>((resolve, reject) => {
        let got = 0;
        const call = client.watch({ service: "forever" });
        call.on("data", () => got++);
        call.on("error", (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? resolve(got) : reject(e)));
        setTimeout(() => call.cancel(), 1000);
      });
      expect(updates).toBe(3);
    } finally {
      client.close();
      await closeGrpcGracefully(server, 500);
    }
  });

  it("aborts ctx.signal when the client cancels", async () => {
    const call = grpcClient.check({ service: "slow-cancel" }, new grpc.Metadata(), {}, () => {});
    await new Promise((r) => setTimeout(r, 100));
    call.cancel();
    const reason = await aborted.get("slow-cancel");
    expect((reason as ConnectError).code).toBe(Code.Canceled);
  });

  it("ends open streams with the shutdown signal's reason", async () => {
    const ac = new AbortController();
    const server = createGrpcServer([createServiceImplSpec(Health, healthImpl)], {
      interceptors: [],
      maxReceiveMessageBytes: 1 << 20,
      maxSendMessageBytes: 1 << 20,
      maxConcurrentStreams: 100,
      maxTimeoutMs: 60_000,
      shutdownSignal: ac.signal,
    });
    const client = healthClient(await bind(server));
    try {
      let got = 0;
      const ended = new Promise<grpc.ServiceError>((resolve) => {
        const call = client.watch({ service: "forever" });
        call.on("data", () => {
          got++;
          if (got === 3) ac.abort();
        });
        call.on("error", resolve);
      });
      const err = await ended;
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
      const t0 = Date.now();
      await closeGrpcGracefully(server, 2000);
      expect(Date.now() - t0).toBeLessThan(1500);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});

describe("createHttpServer", () => {
  const baseUrl = () => `http://127.0.0.1:${httpPort}`;

  it("serves Connect over HTTP/1.1", async () => {
    const client = createClient(Health, createConnectTransport({ baseUrl: baseUrl(), httpVersion: "1.1" }));
    const res = await client.check({ service: "" });
    expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const err = await client.check({ service: "fail" }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((err as ConnectError).findDetails(ErrorInfoSchema)[0]?.reason).toBe("X");
  });

  it("serves gRPC-Web over HTTP/1.1", async () => {
    const client = createClient(Health, createGrpcWebTransport({ baseUrl: baseUrl(), httpVersion: "1.1" }));
    const got: HealthCheckResponse[] = [];
    for await (const m of client.watch({ service: "" })) got.push(m);
    expect(got).toHaveLength(3);
  });

  it("serves gRPC over h2c (unary and server stream)", async () => {
    const client = createClient(Health, createGrpcTransport({ baseUrl: baseUrl() }));
    const res = await client.check({ service: "" });
    expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const got: HealthCheckResponse[] = [];
    for await (const m of client.watch({ service: "" })) got.push(m);
    expect(got).toHaveLength(3);
  });

  it("serves a grpc-js client on the same port", async () => {
    const raw = new grpc.Client(`127.0.0.1:${httpPort}`, grpc.credentials.createInsecure());
    try {
      const res = await new Promise<HealthCheckResponse>((resolve, reject) =>
        raw.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          (m: { service: string }) => Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, m))),
          (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
          { service: "" },
          (e, r) => (e ? reject(e) : resolve(r as HealthCheckResponse)),
        ),
      );
      expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    } finally {
      raw.close();
    }
  });

  it("closes gracefully with open HTTP/2 sessions and idle HTTP/1.1 keep-alive sockets", async () => {
    const server = createHttpServer([createServiceImplSpec(Health, healthImpl)], {
      interceptors: [],
      readMaxBytes: 1 << 20,
      writeMaxBytes: 1 << 20,
      maxConcurrentStreams: 100,
      maxTimeoutMs: 10_000,
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Both clients keep their connection open after the call.
    await createClient(Health, createGrpcTransport({ baseUrl: url })).check({ service: "" });
    await createClient(Health, createConnectTransport({ baseUrl: url, httpVersion: "1.1" })).check({ service: "" });
    const t0 = Date.now();
    await closeGracefully(server, 5000);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it("answers DEADLINE_EXCEEDED for a client timeout and aborts ctx.signal", async () => {
    const client = createClient(Health, createGrpcTransport({ baseUrl: baseUrl() }));
    const err = await client.check({ service: "slow-http" }, { timeoutMs: 150 }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.DeadlineExceeded);
    // connect-node aborts with DeadlineExceeded, or with the client's
    // RST_STREAM if that wins the race: either way the signal fires.
    const reason = await aborted.get("slow-http");
    expect(reason).toBeInstanceOf(ConnectError);
  });
});

describe("interceptors", () => {
  it("see every call on both servers", () => {
    const grpcCalls = seen.filter((s) => s.server === "grpc");
    const httpCalls = seen.filter((s) => s.server === "http");
    // createGrpcServer tests made 12 calls that reached the implementation
    // (the malformed body is rejected before interceptors, as on connect-node).
    expect(grpcCalls.map((s) => s.method).sort()).toEqual(
      [
        "Check", // unary
        "Check", // echo-header
        "Check", // headers
        "Check", // fail
        "Check", // boom
        "Watch",
        "Watch", // many
        "ServerReflectionInfo",
        "CountRequests",
        "Check", // slow-grpc
        "Check", // slow-cancel
        "Check", // observe-completion
      ].sort(),
    );
    // Connect check + fail, gRPC-Web watch, gRPC check + watch, grpc-js check, slow-http.
    expect(httpCalls.map((s) => s.method).sort()).toEqual(["Check", "Check", "Watch", "Check", "Watch", "Check", "Check"].sort());
  });
});
