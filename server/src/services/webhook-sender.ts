/**
 * Sends one webhook request: a POST signed per the Standard Webhooks specification, to an address
 * checked after it was resolved. A host name is resolved here, every address it resolves to must
 * pass addressRefusal, and the connection is made to the checked address (the request's `lookup`
 * returns it), so a name that resolves to a public address when checked and to an internal one a
 * moment later (DNS rebinding) cannot steer the request. Redirects are not followed (Node's http
 * client never follows them; a 3xx is a failed attempt), and the whole exchange has a time limit.
 */
import { promises as dns } from "node:dns";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { Webhook } from "standardwebhooks";
import { addressRefusal, bareHost } from "../domain/webhooks.js";

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to its addresses. */
export type Resolve = (hostname: string) => Promise<ResolvedAddress[]>;

const systemResolve: Resolve = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

export interface SenderOptions {
  /** Also allow loopback addresses (dev setting WEBHOOKS_ALLOW_LOOPBACK). */
  allowLoopback: boolean;
  /** Limit on one request, from connecting to the end of the response. `WEBHOOK_TIMEOUT_MS`, default 10 000. */
  timeoutMs: number;
  /** How names are resolved; the system resolver unless a test stands in a fixed answer. */
  resolve?: Resolve;
}

export interface WebhookRequest {
  url: string;
  /** `webhook-id`: the event ID, the same on every retry. */
  id: string;
  /** `webhook-timestamp`: when this attempt is made. */
  timestamp: Date;
  body: string;
  /** Secrets to sign with: the current one and, during a rotation's overlap, the previous one. */
  secrets: readonly string[];
}

export interface SendResult {
  delivered: boolean;
  /** The response's status; 0 when there was none. */
  statusCode: number;
  /** Why the attempt failed. */
  error?: string;
  durationMs: number;
}

/** Most response body bytes read (and thrown away) before the connection is dropped. */
const RESPONSE_BODY_MAX = 64 * 1024;

export class WebhookSender {
  private readonly agents = {
    "http:": new http.Agent({ keepAlive: true }),
    "https:": new https.Agent({ keepAlive: true }),
  };
  private readonly resolve: Resolve;

  constructor(private readonly options: SenderOptions) {
    this.resolve = options.resolve ?? systemResolve;
  }

  /** The `webhook-signature` header: one `v1,<signature>` per secret, space-separated. */
  static sign(req: Pick<WebhookRequest, "id" | "timestamp" | "body" | "secrets">): string {
    return req.secrets.map((s) => new Webhook(s).sign(req.id, req.timestamp, req.body)).join(" ");
  }

  async send(req: WebhookRequest): Promise<SendResult> {
    const started = Date.now();
    const result = (r: Omit<SendResult, "durationMs">): SendResult => ({ ...r, durationMs: Date.now() - started });
    const url = new URL(req.url);
    const host = bareHost(url.hostname);
    let addresses: ResolvedAddress[];
    if (isIP(host)) {
      addresses = [{ address: host, family: isIP(host) }];
    } else {
      try {
        addresses = await this.resolve(host);
      } catch (err) {
        return result({ delivered: false, statusCode: 0, error: `could not resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
      }
    }
    for (const a of addresses) {
      const refusal = addressRefusal(a.address, this.options.allowLoopback);
      if (refusal) return result({ delivered: false, statusCode: 0, error: `address not allowed: ${host} resolves to ${refusal}` });
    }
    const pinned = addresses[0];
    if (!pinned) return result({ delivered: false, statusCode: 0, error: `could not resolve ${host}: no address` });
    const lookup: LookupFunction = (_hostname, options, callback) => {
      if (options.all) (callback as (e: null, a: ResolvedAddress[]) => void)(null, [pinned]);
      else callback(null, pinned.address, pinned.family);
    };
    const headers = {
      "content-type": "application/json",
      "user-agent": "contacts-api-webhooks/1",
      "webhook-id": req.id,
      "webhook-timestamp": String(Math.floor(req.timestamp.getTime() / 1000)),
      "webhook-signature": WebhookSender.sign(req),
    };
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    const client = url.protocol === "https:" ? https : http;
    try {
      const statusCode = await new Promise<number>((resolve, reject) => {
        const request = client.request(
          {
            protocol: url.protocol,
            hostname: host,
            port: url.port || undefined,
            path: `${url.pathname}${url.search}`,
            method: "POST",
            headers: { ...headers, "content-length": Buffer.byteLength(req.body) },
            agent: this.agents[url.protocol as "http:" | "https:"],
            lookup,
            signal,
          },
          (res) => {
            let read = 0;
            res.on("data", (chunk: Buffer) => {
              read += chunk.length;
              if (read > RESPONSE_BODY_MAX) res.destroy();
            });
            res.on("error", reject);
            res.on("close", () => resolve(res.statusCode ?? 0));
          },
        );
        request.on("error", reject);
        request.end(req.body);
      });
      if (statusCode >= 200 && statusCode < 300) return result({ delivered: true, statusCode });
      if (statusCode >= 300 && statusCode < 400) return result({ delivered: false, statusCode, error: `HTTP ${statusCode}: redirects are not followed` });
      return result({ delivered: false, statusCode, error: `HTTP ${statusCode}` });
    } catch (err) {
      if (signal.aborted) return result({ delivered: false, statusCode: 0, error: `timed out after ${this.options.timeoutMs} ms` });
      const e = err as NodeJS.ErrnoException;
      return result({ delivered: false, statusCode: 0, error: e.code ? `${e.code}: ${e.message}` : e.message });
    }
  }

  close(): void {
    this.agents["http:"].destroy();
    this.agents["https:"].destroy();
  }
}
