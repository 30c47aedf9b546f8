/** The transports of `createClient` in Node: gRPC, Connect and gRPC-Web over HTTP/2 or HTTP/1.1. */
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { buildClient, type ClientOptions, type ContactsClient, requireBaseUrl } from "./client.js";
import { InvalidSdkArgumentError } from "./errors.js";

export function nodeTransport(options: ClientOptions): { transport: Transport; close: () => void } {
  const baseUrl = requireBaseUrl(options);
  const protocol = options.protocol ?? "grpc";
  const httpVersion = protocol === "grpc" ? "2" : (options.httpVersion ?? "2");
  const sessionManager = httpVersion === "2" ? new Http2SessionManager(baseUrl) : undefined;
  const common = { baseUrl, ...(sessionManager ? { sessionManager } : {}) };
  let transport: Transport;
  switch (protocol) {
    case "grpc":
      transport = createGrpcTransport(common);
      break;
    case "connect":
      transport = httpVersion === "2" ? createConnectTransport({ ...common, httpVersion: "2" }) : createConnectTransport({ baseUrl, httpVersion: "1.1" });
      break;
    case "grpc-web":
      transport = httpVersion === "2" ? createGrpcWebTransport({ ...common, httpVersion: "2" }) : createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });
      break;
    default:
      throw new InvalidSdkArgumentError(`createClient(): protocol must be "grpc", "connect" or "grpc-web"; got ${JSON.stringify(protocol)}`);
  }
  return { transport, close: () => sessionManager?.abort() };
}

/**
 * Creates a client.
 *
 * @example
 * import { createClient } from "@contacts-api/sdk";
 * const { contacts, labels } = createClient({ baseUrl: "http://127.0.0.1:50051", tenantId: "acme" });
 * const { contact } = await contacts.createContact({ name: { first: "Ada" } });
 */
export function createClient(options: ClientOptions): ContactsClient {
  return buildClient(options, nodeTransport);
}
