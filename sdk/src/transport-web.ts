/**
 * The transports of `createClient` in browsers: Connect (default) or gRPC-Web over `fetch`, to
 * the server's Connect port (HTTP/1.1 or HTTP/2, as the browser chooses), which must allow the
 * page's origin (`CORS_ORIGINS`). Browsers cannot speak gRPC itself.
 */
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { buildClient, type ClientOptions, type ContactsClient, requireBaseUrl } from "./client.js";
import { InvalidSdkArgumentError } from "./errors.js";

export function webTransport(options: ClientOptions): { transport: Transport; close: () => void } {
  const baseUrl = requireBaseUrl(options);
  const protocol = options.protocol ?? "connect";
  let transport: Transport;
  switch (protocol) {
    case "connect":
      transport = createConnectTransport({ baseUrl });
      break;
    case "grpc-web":
      transport = createGrpcWebTransport({ baseUrl });
      break;
    default:
      throw new InvalidSdkArgumentError(
        `createClient(): in a browser, protocol must be "connect" or "grpc-web" (to the Connect port); got ${JSON.stringify(protocol)}`,
      );
  }
  return { transport, close: () => {} };
}

/**
 * Creates a client.
 *
 * @example
 * import { createClient } from "@contacts-api/sdk";
 * const { contacts, labels } = createClient({ baseUrl: "https://contacts.example.com", tenantId: "acme" });
 * const { contact } = await contacts.createContact({ name: { first: "Ada" } });
 */
export function createClient(options: ClientOptions): ContactsClient {
  return buildClient(options, webTransport);
}
