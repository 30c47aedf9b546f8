/**
 * Request bodies that do not parse, on the Connect/gRPC-Web/gRPC HTTP port.
 *
 * connect-node answers a binary request message that does not decode with
 * INTERNAL ("parse binary: …"), as if the server had failed; the client sent
 * it. The guard decodes the single request message of a unary or
 * server-streaming call before connect-node does. When it does not decode,
 * the call goes on with an empty message in its place and a mark in its
 * context values, and `parseGuardInterceptor` (among the first interceptors)
 * answers the caller's error instead: connect-node then writes that error in
 * whichever protocol the client speaks.
 *
 * The price is a second decode of each binary request message on this port
 * (the one here, then connect-node's), small beside the call it precedes.
 *
 * Left to connect-node: JSON bodies (it answers INVALID_ARGUMENT itself),
 * compressed bodies, bodies over the read limit (RESOURCE_EXHAUSTED), GET
 * requests, and methods that stream their requests.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { type ConnectError, createContextKey, createContextValues, type Interceptor } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";

const kMalformed = createContextKey<string | undefined>(undefined, { description: "why the request message did not parse" });

/** Content types whose body is one binary message, not an envelope (Connect unary). */
const BARE = new Set(["application/proto", "application/x-protobuf"]);
/** Content types whose body is enveloped messages (5-byte prefix each). */
const ENVELOPED = /^application\/(grpc|grpc-web|connect)(\+proto)?$/;

/** Wraps a connect-node universal handler so that an undecodable request message is marked, not parsed. */
export function guardRequestBodies(handler: UniversalHandler, readMaxBytes: number): UniversalHandler {
  const kind = handler.method.methodKind;
  if (kind !== "unary" && kind !== "server_streaming") return handler;
  const input = handler.method.input;
  const guarded = async (req: UniversalServerRequest) => {
    const contentType = (req.header.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    const bare = BARE.has(contentType);
    const enveloped = !bare && ENVELOPED.test(contentType);
    const encoded = (req.header.get("content-encoding") ?? "identity") !== "identity";
    if (req.method !== "POST" || !(bare || enveloped) || (bare && encoded) || !isByteStream(req.body)) return handler(req);
    const { bytes, rest } = await readUpTo(req.body, readMaxBytes + 5);
    if (rest !== undefined) return handler({ ...req, body: concat(bytes, rest) });
    let message: Uint8Array | undefined = bytes;
    if (enveloped) {
      // One envelope: flags, big-endian length, message. Anything else (compressed, several
      // messages, a short or trailing frame) is connect-node's to judge.
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      message = bytes.length >= 5 && bytes[0] === 0 && view.getUint32(1) === bytes.length - 5 ? bytes.subarray(5) : undefined;
    }
    if (message !== undefined) {
      try {
        fromBinary(input, message);
      } catch (e) {
        const contextValues = req.contextValues ?? createContextValues();
        contextValues.set(kMalformed, e instanceof Error ? e.message : String(e));
        const empty = enveloped ? new Uint8Array(5) : new Uint8Array(0);
        // connect-node checks the body against its content-length.
        const header = new Headers(req.header);
        if (header.has("content-length")) header.set("content-length", String(empty.length));
        return handler({ ...req, header, body: once(empty), contextValues });
      }
    }
    return handler({ ...req, body: once(bytes) });
  };
  // The handler's own properties (method, requestPath, protocolNames, …) go along.
  return Object.assign(guarded, handler);
}

/** Answers a call whose request message did not parse with `error(typeName, reason)`. */
export function parseGuardInterceptor(error: (typeName: string, reason: string) => ConnectError): Interceptor {
  return (next) => async (req) => {
    const reason = req.contextValues.get(kMalformed);
    if (reason !== undefined) throw error(req.method.input.typeName, reason);
    return next(req);
  };
}

function isByteStream(body: UniversalServerRequest["body"]): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

/** Reads the body until it ends or passes `max` bytes; `rest` is the unread remainder then. */
async function readUpTo(body: AsyncIterable<Uint8Array>, max: number): Promise<{ bytes: Uint8Array; rest?: AsyncIterator<Uint8Array> }> {
  const it = body[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const r = await it.next();
    if (r.done) break;
    chunks.push(r.value);
    size += r.value.length;
    if (size > max) return { bytes: Buffer.concat(chunks), rest: it };
  }
  return { bytes: chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks) };
}

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

async function* concat(head: Uint8Array, rest: AsyncIterator<Uint8Array>): AsyncIterable<Uint8Array> {
  yield head;
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}
