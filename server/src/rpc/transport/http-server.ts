/**
 * One TCP port serving Connect, gRPC-Web and gRPC through connect-node, over
 * both HTTP/1.1 and cleartext HTTP/2 (h2c).
 *
 * `http2.createServer` only speaks h2c with prior knowledge, and `allowHTTP1`
 * only works with TLS, so a plain `net.Server` in front peeks at the first
 * bytes: the HTTP/2 connection preface goes to an http2 server, anything else
 * to an http/1.1 server. Both share one connectNodeAdapter handler.
 *
 * Services are given as `ServiceImplSpec`s (`createServiceImplSpec(desc,
 * impl)`), the same shape `createGrpcServer` takes, so one list feeds both
 * ports. Each method is registered with `router.rpc`, which keeps connect's
 * "unimplemented" stubs from the spec.
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import { Code, ConnectError, createConnectRouter, type Interceptor, type MethodImpl, type ServiceImplSpec } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import { corsHandler } from "./cors.js";
import { guardRequestBodies, parseGuardInterceptor } from "./parse-guard.js";
import { inputEnded } from "./node-internals.js";

export interface HttpServerOptions {
  readMaxBytes: number;
  writeMaxBytes: number;
  /** Deadline cap of unary calls, and the deadline of those that send none; streams are not capped (capTimeout). */
  maxTimeoutMs: number;
  /** http2 SETTINGS_MAX_CONCURRENT_STREAMS for h2c connections. */
  maxConcurrentStreams: number;
  interceptors: Interceptor[];
  /** Aborted on graceful shutdown; connect-node aborts every handler context with it. */
  shutdownSignal?: AbortSignal;
  /** Serve TLS (PEM contents). With `ca`, clients must present a certificate it signed (mTLS). */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  /**
   * The error for a binary request message that does not parse (connect-node's own answer is
   * INTERNAL); see parse-guard.ts. Unset: connect-node's behaviour.
   */
  parseError?: (typeName: string, reason: string) => ConnectError;
  /** Origins whose pages may call this port from a browser (`*`: any); see cors.ts. */
  corsOrigins?: readonly string[];
}

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/**
 * connect-node's `connectNodeAdapter`, with the parse guard around each method's handler: a
 * router of the services, dispatched by path, each call through connect-node's universal
 * request and response.
 */
function requestHandler(services: ServiceImplSpec[], opts: HttpServerOptions): (req: NodeRequest, res: NodeResponse) => void {
  const parseError = opts.parseError;
  const router = createConnectRouter({
    grpc: true,
    grpcWeb: true,
    connect: true,
    acceptCompression: [compressionGzip, compressionBrotli],
    readMaxBytes: opts.readMaxBytes,
    writeMaxBytes: opts.writeMaxBytes,
    maxTimeoutMs: opts.maxTimeoutMs,
    // Innermost: every other interceptor (logging, authentication) sees the call and its error.
    interceptors: parseError ? [...opts.interceptors, parseGuardInterceptor(parseError)] : opts.interceptors,
    ...(opts.shutdownSignal !== undefined ? { shutdownSignal: opts.shutdownSignal } : {}),
  });
  for (const svc of services) {
    for (const m of Object.values(svc.methods)) router.rpc(m.method, m.impl as MethodImpl<typeof m.method>);
  }
  const paths = new Map(router.handlers.map((h) => [h.requestPath, parseError ? guardRequestBodies(h, opts.readMaxBytes) : h]));
  const cors = opts.corsOrigins?.length ? corsHandler(opts.corsOrigins) : undefined;
  const streaming = new Set(router.handlers.filter((h) => h.method.methodKind !== "unary").map((h) => h.requestPath));
  return (req, res) => {
    if (cors?.(req, res)) return;
    const path = req.url?.split("?", 2)[0] ?? "";
    const h = paths.get(path);
    if (!h) {
      res.writeHead(404);
      res.end();
      return;
    }
    capTimeout(req.headers, opts.maxTimeoutMs, streaming.has(path));
    h(universalRequestFromNodeRequest(req, res, undefined, undefined))
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((reason: unknown) => {
        // The client went away (connect-node reports it as ABORTED): nothing to answer.
        if (ConnectError.from(reason).code === Code.Aborted) return;
        res.destroy(reason instanceof Error ? reason : undefined);
      });
  };
}

/**
 * Deadlines as the gRPC port treats them (grpc-server.ts): a unary call without one gets
 * `maxTimeoutMs`, and one above it is capped to it; a stream's is left to the client alone (a
 * watch lasts as long as its client wants). connect-node would refuse a deadline above the cap
 * with INVALID_ARGUMENT and give none to a call without one; the timeout headers are rewritten
 * before it reads them. `grpc-timeout` is `<digits><unit>` (gRPC and gRPC-Web);
 * `connect-timeout-ms` is milliseconds (Connect). test/conformance.test.ts keeps the ports alike.
 */
function capTimeout(headers: http.IncomingHttpHeaders, maxTimeoutMs: number, stream: boolean): void {
  if (!stream && headers["grpc-timeout"] === undefined && headers["connect-timeout-ms"] === undefined) {
    if (String(headers["content-type"] ?? "").startsWith("application/grpc")) headers["grpc-timeout"] = `${maxTimeoutMs}m`;
    else headers["connect-timeout-ms"] = String(maxTimeoutMs);
    return;
  }
  const grpcTimeout = headers["grpc-timeout"];
  if (typeof grpcTimeout === "string") {
    const m = /^(\d{1,8})([HMSmun])$/.exec(grpcTimeout);
    const ms = m ? Number(m[1]) * GRPC_TIMEOUT_UNIT_MS[m[2] as keyof typeof GRPC_TIMEOUT_UNIT_MS] : 0;
    if (ms > maxTimeoutMs) {
      if (stream) delete headers["grpc-timeout"];
      else headers["grpc-timeout"] = `${maxTimeoutMs}m`;
    }
  }
  const connectTimeout = headers["connect-timeout-ms"];
  if (typeof connectTimeout === "string" && /^\d{1,10}$/.test(connectTimeout) && Number(connectTimeout) > maxTimeoutMs) {
    if (stream) delete headers["connect-timeout-ms"];
    else headers["connect-timeout-ms"] = String(maxTimeoutMs);
  }
}

const GRPC_TIMEOUT_UNIT_MS = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 } as const;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

interface Internals {
  h1: http.Server;
  h2: http2.Http2Server;
  sessions: Set<http2.Http2Session>;
  /** HTTP/1.1 sockets and their number of in-flight requests. */
  h1Sockets: Map<net.Socket, number>;
  /** Sockets still being sniffed (not yet handed to h1 or h2). */
  sniffing: Set<net.Socket>;
  closing: boolean;
}

const internals = new WeakMap<net.Server, Internals>();

export function createHttpServer(services: ServiceImplSpec[], opts: HttpServerOptions): net.Server {
  const handler = requestHandler(services, opts);
  const h2 = http2.createServer({ settings: { maxConcurrentStreams: opts.maxConcurrentStreams } }, handler);
  const h1 = http.createServer(handler);
  // http.Server starts its headersTimeout/requestTimeout sweeper on
  // 'listening'; h1 never listens itself (sockets are handed to it), so start
  // the sweeper by hand or slow-loris protection would be off.
  h1.emit("listening");

  const st: Internals = {
    h1,
    h2,
    sessions: new Set(),
    h1Sockets: new Map(),
    sniffing: new Set(),
    closing: false,
  };

  // connect-node client transports keep HTTP/2 sessions open; tracking them is
  // the only way to GOAWAY / destroy them on close (TOOLCHAIN gotcha G5).
  h2.on("session", (s: http2.Http2Session) => {
    st.sessions.add(s);
    s.once("close", () => st.sessions.delete(s));
    if (st.closing) s.close();
  });

  h1.on("connection", (sock: net.Socket) => {
    st.h1Sockets.set(sock, 0);
    sock.once("close", () => st.h1Sockets.delete(sock));
  });
  h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const sock = req.socket;
    st.h1Sockets.set(sock, (st.h1Sockets.get(sock) ?? 0) + 1);
    if (st.closing) res.shouldKeepAlive = false;
    res.once("close", () => {
      const prev = st.h1Sockets.get(sock);
      if (prev === undefined) return;
      const n = prev - 1;
      st.h1Sockets.set(sock, n);
      if (st.closing && n === 0) endSocket(sock);
    });
  });

  if (opts.tls) {
    // With TLS, ALPN says which protocol the client speaks; no sniffing needed. A client
    // without a valid certificate (when a CA is set) never gets past the handshake.
    const { cert, key, ca } = opts.tls;
    const front = tls.createServer(
      { cert, key, ...(ca ? { ca, requestCert: true, rejectUnauthorized: true } : {}), ALPNProtocols: ["h2", "http/1.1"], allowHalfOpen: true },
      (sock) => {
        if (st.closing) {
          sock.destroy();
          return;
        }
        (sock.alpnProtocol === "h2" ? st.h2 : st.h1).emit("connection", sock);
      },
    );
    internals.set(front, st);
    return front;
  }

  // allowHalfOpen: both node http servers expect it (they end sockets
  // themselves), and a client may half-close right after a short request.
  const front = net.createServer({ allowHalfOpen: true }, (sock) => sniff(st, sock));
  internals.set(front, st);
  return front;
}

/**
 * Waits until the first 24 bytes are in (or fewer, if the socket ends or the
 * bytes already differ from the preface), then hands the socket over with the
 * peeked bytes pushed back. Uses paused-mode reads so the bytes can be
 * unshifted even when EOF already arrived ('end' is not emitted while data is
 * buffered).
 */
function sniff(st: Internals, sock: net.Socket): void {
  if (st.closing) {
    sock.destroy();
    return;
  }
  st.sniffing.add(sock);
  const chunks: Buffer[] = [];
  let len = 0;
  const onError = (): void => {
    cleanup();
    sock.destroy();
  };
  const onClose = (): void => cleanup();
  const cleanup = (): void => {
    st.sniffing.delete(sock);
    sock.off("readable", onReadable);
    sock.off("error", onError);
    sock.off("close", onClose);
  };
  const onReadable = (): void => {
    for (;;) {
      const c = sock.read() as Buffer | null;
      if (c === null) break;
      chunks.push(c);
      len += c.length;
    }
    const buf = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, len);
    const n = Math.min(len, PREFACE.length);
    const prefixMatches = buf.subarray(0, n).equals(PREFACE.subarray(0, n));
    const eof = inputEnded(sock);
    if (len < PREFACE.length && prefixMatches && !eof) {
      if (chunks.length > 1) chunks.splice(0, chunks.length, buf);
      return;
    }
    cleanup();
    if (len > 0) sock.unshift(buf);
    const target: net.Server = prefixMatches && len >= PREFACE.length ? st.h2 : st.h1;
    // No resume(): http adds its own 'data' listener, and http2 reads the
    // unshifted bytes on its next tick (node#35475) — flowing mode before
    // that would drop them.
    target.emit("connection", sock);
  };
  sock.on("readable", onReadable);
  sock.on("error", onError);
  sock.on("close", onClose);
}

/**
 * Sockets are half-open capable (allowHalfOpen), so end() alone would wait for
 * the client's FIN; destroy once our bytes are flushed instead.
 */
function endSocket(sock: net.Socket): void {
  sock.end(() => sock.destroy());
}

/**
 * Stops accepting connections, sends GOAWAY to HTTP/2 sessions, ends idle
 * HTTP/1.1 keep-alive sockets (busy ones after their current request), and
 * destroys whatever is left after `graceMs`. Resolves when every connection
 * is closed.
 */
export function closeGracefully(server: net.Server, graceMs: number): Promise<void> {
  const st = internals.get(server);
  if (st === undefined) {
    return new Promise((resolve) => server.close(() => resolve()));
  }
  st.closing = true;
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      for (const s of st.sessions) s.destroy();
      for (const sock of st.h1Sockets.keys()) sock.destroy();
      for (const sock of st.sniffing) sock.destroy();
    }, graceMs);
    force.unref();
    // net.Server.close calls back once every accepted socket has closed,
    // including the ones handed to h1/h2, so it doubles as "all done".
    server.close(() => {
      clearTimeout(force);
      st.h1.close();
      st.h2.close();
      resolve();
    });
    for (const s of st.sessions) s.close();
    for (const [sock, inFlight] of st.h1Sockets) if (inFlight === 0) endSocket(sock);
    for (const sock of st.sniffing) sock.destroy();
  });
}
