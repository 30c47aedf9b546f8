/** A client: one connection, six modules; the transport is Node's (transport-node.ts) or the browser's (transport-web.ts). */
import type { Transport } from "@connectrpc/connect";
import { type BulkJobsModule, bulkJobsModule } from "./bulk-jobs.js";
import { type WebhooksModule, webhooksModule } from "./webhooks.js";
import { type CallContext, DEFAULT_RETRY, DEFAULT_TIMEOUT_MS, type RetryOptions } from "./call.js";
import { type ContactsModule, contactsModule } from "./contacts.js";
import { InvalidSdkArgumentError } from "./errors.js";
import { type EventsModule, eventsModule } from "./events.js";
import { type ExtendedFieldsModule, extendedFieldsModule } from "./extended-fields.js";
import { type LabelsModule, labelsModule } from "./labels.js";

/** Options of `createClient`. */
export interface ClientOptions {
  /**
   * The server, e.g. `http://127.0.0.1:50051` (gRPC port) or `http://127.0.0.1:8080` (the
   * Connect/gRPC-Web/gRPC port); `https://` for TLS. Required unless `transport` is given.
   */
  baseUrl?: string;
  /** A JWT sent as `authorization: Bearer <token>` (servers with authentication). */
  token?: string;
  /** The tenant, sent as `x-tenant-id` (dev-mode servers only; default there: `dev`). */
  tenantId?: string;
  /** Default deadline of each call in ms, retries included. Default 10 000. */
  timeoutMs?: number;
  /**
   * Retries of UNAVAILABLE (server or database unreachable, connection lost); `false` disables
   * them. Default `{ maxAttempts: 6, initialDelayMs: 100, maxDelayMs: 2000 }`. Nothing else is
   * retried, so a failed write is never repeated unless it certainly may be, and mutations carry
   * a request_id that makes even those repeats apply once.
   */
  retry?: RetryOptions | false;
  /**
   * The wire protocol: `"grpc"` (default; HTTP/2, either port), `"connect"` or `"grpc-web"`
   * (HTTP/1.1 or HTTP/2 to the Connect port).
   */
  protocol?: "grpc" | "connect" | "grpc-web";
  /** HTTP version for `"connect"` and `"grpc-web"`. Default `"2"`. */
  httpVersion?: "1.1" | "2";
  /** A ready Connect transport instead of `baseUrl`/`protocol` (interceptors, TLS options, tests). */
  transport?: Transport;
  /** Extra headers on every call. */
  headers?: Record<string, string>;
}

/** A client: `contacts`, `labels`, `extendedFields`, `bulkJobs`, `events` and `webhooks`, sharing one connection. */
export interface ContactsClient {
  /** Contacts: create, get, update, delete, label, merge, list, query, facets, bulk delete, update and label, upsert, export and import. */
  contacts: ContactsModule;
  /** Labels: find-or-create, get, list, query, rename, delete. */
  labels: LabelsModule;
  /** Extended fields: find-or-create, get, list, query, rename, delete. */
  extendedFields: ExtendedFieldsModule;
  /** The jobs the bulk contacts functions start: get, list, cancel, wait for. */
  bulkJobs: BulkJobsModule;
  /** Change events: `watch()` and `onContactCreated`-style subscriptions. */
  events: EventsModule;
  /** Webhook subscriptions: create, get, list, delete, rotate the secret, enable, the delivery log. */
  webhooks: WebhooksModule;
  /** Closes the client's HTTP/2 connection (calls after this reconnect). Idle connections never keep a process alive. */
  close(): void;
}

/** Makes the transport of `createClient` from its options, and what closes it. */
export type TransportMaker = (options: ClientOptions) => { transport: Transport; close: () => void };

/** `createClient` over the transports `makeTransport` makes. */
export function buildClient(options: ClientOptions, makeTransport: TransportMaker): ContactsClient {
  if (typeof options !== "object" || options === null) throw new InvalidSdkArgumentError("createClient(): options must be an object");
  if (options.token !== undefined && options.tenantId !== undefined) {
    throw new InvalidSdkArgumentError("createClient(): pass either token (servers with authentication) or tenantId (dev mode), not both");
  }
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token !== undefined) {
    if (typeof options.token !== "string" || options.token.length === 0) throw new InvalidSdkArgumentError("createClient(): token must be a non-empty string");
    headers.authorization = `Bearer ${options.token}`;
  }
  if (options.tenantId !== undefined) {
    if (typeof options.tenantId !== "string" || options.tenantId.length === 0)
      throw new InvalidSdkArgumentError("createClient(): tenantId must be a non-empty string");
    headers["x-tenant-id"] = options.tenantId;
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new InvalidSdkArgumentError("createClient(): timeoutMs must be a positive number");
  const retry = options.retry === false ? { ...DEFAULT_RETRY, maxAttempts: 1 } : { ...DEFAULT_RETRY, ...(options.retry ?? {}) };
  if (!Number.isInteger(retry.maxAttempts) || retry.maxAttempts < 1)
    throw new InvalidSdkArgumentError("createClient(): retry.maxAttempts must be a positive integer");

  const { transport, close } = options.transport ? { transport: options.transport, close: () => {} } : makeTransport(options);
  const ctx: CallContext = { headers, timeoutMs, retry };
  const runtime = { transport, ctx };
  return {
    contacts: contactsModule(runtime),
    labels: labelsModule(runtime),
    extendedFields: extendedFieldsModule(runtime),
    bulkJobs: bulkJobsModule(runtime),
    events: eventsModule(runtime),
    webhooks: webhooksModule(runtime),
    close,
  };
}

/** The `baseUrl` option, checked. */
export function requireBaseUrl(options: ClientOptions): string {
  if (typeof options.baseUrl !== "string" || !/^https?:\/\//.test(options.baseUrl)) {
    throw new InvalidSdkArgumentError(`createClient(): baseUrl must be an http:// or https:// URL; got ${JSON.stringify(options.baseUrl)}`);
  }
  return options.baseUrl;
}
