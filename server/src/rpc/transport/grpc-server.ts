/**
 * gRPC (HTTP/2) transport for Connect service implementations, served by
 * @grpc/grpc-js instead of connect-node.
 *
 * connect-node's gRPC handler does ~2k unary calls/s on 2 cores; grpc-js does
 * ~5k. This module keeps the Connect programming model (ServiceImplSpec,
 * Interceptor, HandlerContext, ConnectError) and only swaps the wire layer:
 * grpc-js handles HTTP/2, framing, size limits and deadline timers, while
 * connect's own `invokeUnaryImplementation` / `transformInvokeImplementation`
 * run interceptors and implementations, so they behave as on connect-node.
 *
 * Differences from connect-node's gRPC handler (deliberate):
 * - For unary and client-streaming calls, a client `grpc-timeout` above
 *   `maxTimeoutMs` is capped instead of being rejected with INVALID_ARGUMENT,
 *   and calls without one get `maxTimeoutMs`. Response streams keep the
 *   client's deadline, or none: a watch lasts as long as its client wants.
 * - A request body that does not parse is INVALID_ARGUMENT (connect: INTERNAL).
 * - When the deadline passes, the server answers DEADLINE_EXCEEDED itself
 *   instead of waiting for the implementation to give up.
 * - `ctx.requestHeader` is built from grpc-js metadata, which has already
 *   dropped transport headers (content-type, te, grpc-timeout, grpc-encoding,
 *   grpc-accept-encoding, accept-encoding); application headers and
 *   user-agent are there. `-bin` values are base64 (as connect-node gives them).
 * - `ctx.responseHeader` / `ctx.responseTrailer` start empty (connect-node
 *   pre-fills content-type and grpc-status).
 * - `ctx.signal` is an AbortSignal that is cheaper to create (see CallSignal); its
 *   abort on normal completion happens only if something listens to it.
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import type { DescMessage, DescService, Message } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import type { HandlerContext, Interceptor, MethodImplSpec, ServiceImplSpec } from "@connectrpc/connect";
import { createAsyncIterable, invokeUnaryImplementation, transformInvokeImplementation } from "@connectrpc/connect/protocol";
import * as grpc from "@grpc/grpc-js";
import { encodeBinary } from "../../protobuf/binary-encoder.js";
import { CallSignal } from "./call-signal.js";
import { DeadlineQueue } from "./deadline-queue.js";
import { errorToStatus, headersToMetadata, isEmpty, MetadataHeaders } from "./grpc-status.js";

export interface GrpcServerOptions {
  /** Connect interceptors applied to every call, exactly as connect-node applies them (use the same code path). */
  interceptors: Interceptor[];
  maxReceiveMessageBytes: number;
  maxSendMessageBytes: number;
  /** http2 SETTINGS_MAX_CONCURRENT_STREAMS ('grpc.max_concurrent_streams'). */
  maxConcurrentStreams: number;
  /** Client grpc-timeout is capped to this; calls without a deadline get it. */
  maxTimeoutMs: number;
  /**
   * Aborted on graceful shutdown. As on connect-node, every in-flight handler
   * context is aborted with the signal's reason (a ConnectError reason is sent
   * to clients as is, anything else becomes UNAVAILABLE). Streaming calls are
   * also ended right away with that status; unary calls are left to finish
   * (or fail) on their own within the grace period.
   */
  shutdownSignal?: AbortSignal;
  /**
   * The error for a request body that does not parse (default: INVALID_ARGUMENT
   * "cannot parse <type>: <reason>" without details). Interceptors do not see
   * these calls: the body is parsed before they run.
   */
  parseError?: (typeName: string, reason: string) => ConnectError;
}

type GrpcCallObject =
  | grpc.ServerUnaryCall<Buffer, Buffer>
  | grpc.ServerReadableStream<Buffer, Buffer>
  | grpc.ServerWritableStream<Buffer, Buffer>
  | grpc.ServerDuplexStream<Buffer, Buffer>;

type WritableCall = grpc.ServerWritableStream<Buffer, Buffer> | grpc.ServerDuplexStream<Buffer, Buffer>;

interface ServerState {
  interceptors: Interceptor[];
  maxTimeoutMs: number;
  shutdownSignal: AbortSignal | undefined;
  /** Only maintained when there is a shutdownSignal to fan out. */
  active: Set<RpcCall> | undefined;
  deadlines: DeadlineQueue<RpcCall>;
  parseError: (desc: DescMessage, e: unknown) => ConnectError;
}

// Pre-built: constructing a DOMException per call (stack capture) showed up in
// profiles of connect-node.

/**
 * Per-call state. The HandlerContext is a plain object with own enumerable
 * properties only: connect's invoke code spreads it (`{...context}`) into the
 * context the implementation receives, which would drop prototype members.
 */
class RpcCall {
  readonly ctx: HandlerContext;
  readonly callSignal = new CallSignal();
  done = false;
  readonly deadline: number;
  /**
   * Set when the deadline came from the client (grpc-js enforces it): how
   * close to it a cancellation counts as the deadline passing.
   */
  private readonly deadlineSlackMs: number | undefined;
  /**
   * Our own timer for a client deadline. grpc-js has one too, but when it
   * fires first it answers DEADLINE_EXCEEDED without emitting 'cancelled',
   * and the implementation would never hear that its call is over.
   */
  private clientDeadlineTimer: NodeJS.Timeout | undefined;
  /** Wakes a stream writer waiting for 'drain' when the call ends early. */
  wake: (() => void) | undefined;
  // DeadlineQueue links.
  queued = false;
  qPrev: RpcCall | undefined;
  qNext: RpcCall | undefined;

  constructor(
    readonly state: ServerState,
    readonly call: GrpcCallObject,
    spec: MethodImplSpec,
    url: string,
    /** Set for unary and client-streaming calls, which answer through it. */
    readonly unaryCallback: grpc.sendUnaryData<Buffer> | undefined,
  ) {
    const now = Date.now();
    const max = state.maxTimeoutMs;
    const d = Number(call.getDeadline());
    const streaming = spec.kind !== "unary" && spec.kind !== "client_streaming";
    if (Number.isFinite(d) && (d - now <= max || streaming)) {
      this.deadline = d;
      this.deadlineSlackMs = Math.min(50, Math.max(2, (d - now) / 5));
      this.clientDeadlineTimer = setTimeout(() => this.onOwnDeadline(), Math.max(0, d - now));
      this.clientDeadlineTimer.unref();
    } else if (streaming) {
      // A response stream (WatchEvents) follows live changes for as long as the client wants.
      this.deadline = Number.POSITIVE_INFINITY;
      this.deadlineSlackMs = undefined;
    } else {
      this.deadline = now + max;
      this.deadlineSlackMs = undefined;
      state.deadlines.add(this);
    }
    const deadline = this.deadline;
    const method = spec.method;
    this.ctx = {
      method,
      service: method.parent,
      signal: this.callSignal.signal,
      timeoutMs: () => (deadline === Number.POSITIVE_INFINITY ? undefined : deadline - Date.now()),
      requestMethod: "POST",
      requestHeader: new MetadataHeaders(call.metadata),
      responseHeader: new Headers(),
      responseTrailer: new Headers(),
      protocolName: "grpc",
      values: createContextValues(),
      url,
    };
    // grpc-js emits 'cancelled' on client cancel, on its own deadline timer,
    // and also after every normally completed call (ignored via `done`).
    (call as NodeJS.EventEmitter).on("cancelled", () => this.onCancelled());
    if (call.cancelled) this.onCancelled();
    if (state.active !== undefined) {
      state.active.add(this);
      const sig = state.shutdownSignal;
      if (sig?.aborted === true) this.shutdown(shutdownError(sig.reason));
    }
  }

  /** Marks the call as answered; returns false if it already was. */
  finish(): boolean {
    if (this.done) return false;
    this.done = true;
    if (this.clientDeadlineTimer !== undefined) clearTimeout(this.clientDeadlineTimer);
    this.state.deadlines.remove(this);
    this.state.active?.delete(this);
    return true;
  }

  private onCancelled(): void {
    if (!this.finish()) return;
    // Either grpc-js's deadline timer fired (it already answered
    // DEADLINE_EXCEEDED), or the client sent RST_STREAM — which a client also
    // does when *its* deadline passes, usually a little before ours (our
    // deadline counts from when the headers arrived). Hence the slack.
    const slack = this.deadlineSlackMs;
    const reason =
      slack !== undefined && Date.now() >= this.deadline - slack
        ? new ConnectError("the operation timed out", Code.DeadlineExceeded)
        : new ConnectError("the client cancelled the call", Code.Canceled);
    this.callSignal.abort(reason);
    this.wakeWriter();
  }

  onOwnDeadline(): void {
    if (!this.finish()) return;
    const err = new ConnectError("the operation timed out", Code.DeadlineExceeded);
    this.callSignal.abort(err);
    this.sendError(err);
  }

  /** Shutdown fan-out: abort the context; end streams immediately. */
  shutdown(err: ConnectError): void {
    if (this.done) return;
    if (this.ctx.method.methodKind !== "unary") {
      this.finish();
      this.callSignal.abort(err);
      this.sendError(err);
    } else {
      this.callSignal.abort(err);
    }
  }

  /** Sends an error status. Caller has already called finish(). */
  sendError(e: unknown): void {
    const status = errorToStatus(e, this.ctx.responseTrailer);
    this.flushResponseHeader();
    if (this.unaryCallback !== undefined) {
      this.unaryCallback(status);
    } else {
      // The grpc-js writable's own 'error' listener turns this into the status.
      (this.call as WritableCall).emit("error", status);
    }
    this.wakeWriter();
  }

  /** Sends the single response of a unary / client-streaming call. */
  sendUnary(output: DescMessage, res: Message): void {
    let bytes: Buffer;
    try {
      bytes = encodeBinary(output, res);
    } catch (e) {
      this.sendError(e);
      this.callSignal.abort(e);
      return;
    }
    this.flushResponseHeader();
    const t = this.ctx.responseTrailer;
    (this.unaryCallback as grpc.sendUnaryData<Buffer>)(null, bytes, isEmpty(t) ? undefined : headersToMetadata(t));
    this.callSignal.complete();
  }

  private headerSent = false;

  flushResponseHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    const h = this.ctx.responseHeader;
    if (!isEmpty(h)) this.call.sendMetadata(headersToMetadata(h));
  }

  private wakeWriter(): void {
    const w = this.wake;
    if (w !== undefined) {
      this.wake = undefined;
      w();
    }
  }
}

function shutdownError(reason: unknown): ConnectError {
  return reason instanceof ConnectError ? reason : new ConnectError("the server is shutting down", Code.Unavailable);
}

/**
 * Builds a grpc-js server serving every method of `services` over the gRPC
 * protocol. Bind it yourself (`bindAsync`), and stop it with
 * `closeGrpcGracefully`.
 */
export function createGrpcServer(services: ServiceImplSpec[], opts: GrpcServerOptions): grpc.Server {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": opts.maxReceiveMessageBytes,
    "grpc.max_send_message_length": opts.maxSendMessageBytes,
    "grpc.max_concurrent_streams": opts.maxConcurrentStreams,
  });
  const state: ServerState = {
    interceptors: opts.interceptors,
    maxTimeoutMs: opts.maxTimeoutMs,
    shutdownSignal: opts.shutdownSignal,
    active: opts.shutdownSignal !== undefined ? new Set() : undefined,
    deadlines: new DeadlineQueue(),
    parseError: (desc, e) => {
      const reason = e instanceof Error ? e.message : String(e);
      return opts.parseError ? opts.parseError(desc.typeName, reason) : new ConnectError(`cannot parse ${desc.typeName}: ${reason}`, Code.InvalidArgument);
    },
  };
  const sig = opts.shutdownSignal;
  if (sig !== undefined && state.active !== undefined) {
    const active = state.active;
    sig.addEventListener(
      "abort",
      () => {
        const err = shutdownError(sig.reason);
        for (const c of [...active]) c.shutdown(err);
      },
      { once: true },
    );
  }
  for (const svc of services) {
    for (const spec of Object.values(svc.methods)) {
      registerMethod(server, state, svc.service, spec);
    }
  }
  return server;
}

// Bytes pass through grpc-js untouched: parsing in our handler lets a bad body
// become INVALID_ARGUMENT (grpc-js would answer INTERNAL), and serializing in
// our handler lets a bad response message become a proper INTERNAL.
const passThrough = (b: Buffer): Buffer => b;

function registerMethod(server: grpc.Server, state: ServerState, service: DescService, spec: MethodImplSpec): void {
  const method = spec.method;
  const path = `/${service.typeName}/${method.name}`;
  switch (spec.kind) {
    case "unary":
      server.register(path, unaryHandler(state, spec, path), passThrough, passThrough, "unary");
      break;
    case "server_streaming":
      server.register(path, streamHandler(state, spec, path), passThrough, passThrough, "serverStream");
      break;
    case "client_streaming":
      server.register(path, streamHandler(state, spec, path), passThrough, passThrough, "clientStream");
      break;
    case "bidi_streaming":
      server.register(path, streamHandler(state, spec, path), passThrough, passThrough, "bidi");
      break;
  }
}

function callUrl(call: GrpcCallObject, path: string): string {
  return `http://${call.getHost()}${path}`;
}

function unaryHandler(state: ServerState, spec: MethodImplSpec & { kind: "unary" }, path: string): grpc.handleUnaryCall<Buffer, Buffer> {
  const input = spec.method.input;
  const output = spec.method.output;
  return (call, callback) => {
    let req: Message;
    try {
      req = parseRequest(input, call.request);
    } catch (e) {
      callback(errorToStatus(state.parseError(input, e), undefined));
      return;
    }
    const c = new RpcCall(state, call, spec, callUrl(call, path), callback);
    invokeUnaryImplementation(spec, c.ctx, req, state.interceptors).then(
      (res) => {
        if (c.finish()) c.sendUnary(output, res);
      },
      (e: unknown) => {
        if (!c.finish()) return;
        c.sendError(e);
        c.callSignal.abort(e);
      },
    );
  };
}

function streamHandler(
  state: ServerState,
  spec: MethodImplSpec,
  path: string,
): (
  call: grpc.ServerWritableStream<Buffer, Buffer> | grpc.ServerDuplexStream<Buffer, Buffer> | grpc.ServerReadableStream<Buffer, Buffer>,
  callback?: grpc.sendUnaryData<Buffer>,
) => void {
  const inputDesc = spec.method.input;
  return (call, callback?: grpc.sendUnaryData<Buffer>) => {
    let input: AsyncIterable<Message>;
    if (spec.kind === "server_streaming") {
      const w = call as grpc.ServerWritableStream<Buffer, Buffer>;
      try {
        input = createAsyncIterable([parseRequest(inputDesc, w.request)]);
      } catch (e) {
        w.emit("error", errorToStatus(state.parseError(inputDesc, e), undefined));
        return;
      }
    } else {
      input = readRequests(call as grpc.ServerReadableStream<Buffer, Buffer>, inputDesc, state);
    }
    const c = new RpcCall(state, call, spec, callUrl(call, path), callback);
    const out = transformInvokeImplementation(spec, c.ctx, state.interceptors)(input);
    if (callback !== undefined) {
      void finishClientStream(c, out, spec.method.output);
    } else {
      void pumpResponses(c, call as WritableCall, out, spec.method.output);
    }
  };
}

async function* readRequests(call: grpc.ServerReadableStream<Buffer, Buffer>, desc: DescMessage, state: ServerState): AsyncGenerator<Message> {
  // destroyOnReturn: false — an implementation that stops reading early must
  // not destroy the duplex, or its writable side (responses) dies with it.
  for await (const chunk of call.iterator({ destroyOnReturn: false })) {
    let msg: Message;
    try {
      msg = parseRequest(desc, chunk as Buffer);
    } catch (e) {
      throw state.parseError(desc, e);
    }
    yield msg;
  }
}

async function finishClientStream(c: RpcCall, out: AsyncIterable<Message>, output: DescMessage): Promise<void> {
  let res: Message | undefined;
  try {
    for await (const m of out) res = m;
    if (res === undefined) throw new ConnectError("implementation returned no message", Code.Internal);
  } catch (e) {
    if (!c.finish()) return;
    c.sendError(e);
    c.callSignal.abort(e);
    return;
  }
  if (c.finish()) c.sendUnary(output, res);
}

async function pumpResponses(c: RpcCall, call: WritableCall, out: AsyncIterable<Message>, output: DescMessage): Promise<void> {
  const it = out[Symbol.asyncIterator]();
  try {
    for (;;) {
      const r = await it.next();
      if (c.done) break;
      if (r.done === true) {
        c.finish();
        c.flushResponseHeader();
        const t = c.ctx.responseTrailer;
        if (isEmpty(t)) call.end();
        else call.end(headersToMetadata(t));
        c.callSignal.complete();
        return;
      }
      c.flushResponseHeader();
      if (!call.write(encodeBinary(output, r.value))) {
        await waitDrain(c, call);
        if (c.done) break;
      }
    }
  } catch (e) {
    if (c.finish()) {
      c.sendError(e);
      c.callSignal.abort(e);
      return;
    }
  }
  // The call was ended from outside (cancel, deadline, shutdown): let the
  // implementation's generator run its finally blocks.
  void it.return?.().catch(() => {});
}

function waitDrain(c: RpcCall, call: WritableCall): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off("drain", done);
      call.off("close", done);
      c.wake = undefined;
      resolve();
    };
    call.on("drain", done);
    call.on("close", done);
    c.wake = done;
  });
}

/** All-defaults requests are common (empty List/Check) and need no reader. */
function parseRequest(desc: DescMessage, bytes: Buffer): Message {
  return bytes.length === 0 ? create(desc) : fromBinary(desc, bytes);
}

/**
 * Graceful stop: refuse new calls and let in-flight ones finish; after
 * `graceMs`, cancel whatever is still running.
 */
export function closeGrpcGracefully(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve();
    });
  });
}
