/**
 * Webhook rules that need no I/O: the event types one may subscribe to, which target URLs and
 * addresses are allowed (no request forgery into the network the service runs in), and the retry
 * schedule.
 */
import ipaddr from "ipaddr.js";
import type { EventType } from "./events.js";
import { invalidField } from "./errors.js";

/** Every event type, by the reference's names (API.md "Events"). */
export const WEBHOOK_EVENT_TYPES: readonly EventType[] = [
  "contact_created",
  "contact_updated",
  "contact_deleted",
  "contact_merged",
  "label_created",
  "label_updated",
  "label_deleted",
  "extended_field_created",
  "extended_field_updated",
  "extended_field_deleted",
];

export const WEBHOOK_URL_MAX = 2048;
export const WEBHOOK_DESCRIPTION_MAX = 500;

export function validateEventTypes(types: readonly string[]): EventType[] {
  if (types.length === 0) throw invalidField("INVALID_EVENT_TYPE", "event_types", "must name at least one event type");
  const out = new Set<EventType>();
  types.forEach((t, i) => {
    if (!(WEBHOOK_EVENT_TYPES as readonly string[]).includes(t)) {
      throw invalidField("INVALID_EVENT_TYPE", `event_types[${i}]`, `"${t}" is not an event type; use one of ${WEBHOOK_EVENT_TYPES.join(", ")}`);
    }
    out.add(t as EventType);
  });
  return [...out];
}

/** Strips the brackets of an IPv6 literal host (`[::1]` → `::1`). */
export function bareHost(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

/**
 * Why an address may not be a target (undefined: it may). Only global unicast addresses are
 * allowed — not loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (which holds
 * cloud metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved, unspecified, nor the
 * IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4, Teredo), which are judged by that
 * address or refused. `allowLoopback` (a dev setting) also allows 127/8 and ::1.
 */
export function addressRefusal(address: string, allowLoopback: boolean): string | undefined {
  if (!ipaddr.isValid(address)) return `"${address}" is not an IP address`;
  // ::ffff:10.0.0.1 is 10.0.0.1.
  const ip = ipaddr.process(address);
  const range = ip.range();
  if (range === "unicast") return undefined;
  if (range === "loopback" && allowLoopback) return undefined;
  return `${ip.toString()} is a ${range} address`;
}

/**
 * Checks a target URL as far as can be without resolving it: scheme, credentials, length, and a
 * literal IP host against addressRefusal. A host name is checked at every delivery, after it is
 * resolved (services/webhook-sender.ts), since what it resolves to can change.
 */
export function validateWebhookUrl(raw: string, allowLoopback: boolean): URL {
  const field = "url";
  if (raw.length === 0) throw invalidField("INVALID_WEBHOOK_URL", field, "is required");
  if (raw.length > WEBHOOK_URL_MAX) throw invalidField("INVALID_WEBHOOK_URL", field, `must be at most ${WEBHOOK_URL_MAX} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidField("INVALID_WEBHOOK_URL", field, "is not an absolute URL");
  }
  if (url.username || url.password) throw invalidField("INVALID_WEBHOOK_URL", field, "must not contain credentials");
  if (url.hash) throw invalidField("INVALID_WEBHOOK_URL", field, "must not have a fragment");
  const host = bareHost(url.hostname);
  // The WHATWG parser has already turned 0x7f.1, 2130706433 and 127.1 into 127.0.0.1.
  const literal = ipaddr.isValid(host) ? host : undefined;
  const loopbackName = host === "localhost" || host.endsWith(".localhost");
  if (url.protocol === "http:") {
    const loopback = literal ? ipaddr.process(literal).range() === "loopback" : loopbackName;
    if (!(allowLoopback && loopback)) {
      throw invalidField("WEBHOOK_URL_NOT_ALLOWED", field, "must be an https:// URL (http:// only to loopback with WEBHOOKS_ALLOW_LOOPBACK)");
    }
  } else if (url.protocol !== "https:") {
    throw invalidField("INVALID_WEBHOOK_URL", field, "must be an https:// URL");
  }
  if (literal) {
    const refusal = addressRefusal(literal, allowLoopback);
    if (refusal) throw invalidField("WEBHOOK_URL_NOT_ALLOWED", field, `must point at a public address: ${refusal}`);
  } else if (loopbackName && !allowLoopback) {
    throw invalidField("WEBHOOK_URL_NOT_ALLOWED", field, `must point at a public address: ${host} is loopback`);
  }
  return url;
}

export interface RetryPolicy {
  /** Delay before the first retry, ms; doubles with each further failure. */
  baseMs: number;
  /** Longest delay between attempts, ms. */
  maxMs: number;
  /** How long an event may keep failing before the subscription is disabled, ms. */
  giveUpMs: number;
}

/**
 * The wait after the `failures`-th failed attempt at an event: exponential, capped, with "equal
 * jitter" (half fixed, half random) so that many subscriptions failing together do not retry in
 * step. `random` is in [0, 1).
 */
export function retryDelay(failures: number, policy: RetryPolicy, random: number): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  return Math.round(exp / 2 + (random * exp) / 2);
}
