/**
 * CORS for the Connect port, so that pages on the origins `CORS_ORIGINS` names can call it with
 * the SDK's browser build (Connect or gRPC-Web over fetch). Connect's own lists of the headers
 * its protocols send and read (`cors` of @connectrpc/connect), plus the service's: the bearer
 * token, the dev-mode tenant header, and the request ids and deadlines the SDK sends.
 */
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { cors } from "@connectrpc/connect";

const ALLOWED_HEADERS = [...cors.allowedHeaders, "Authorization", "X-Tenant-Id", "Traceparent"].join(", ");
const EXPOSED_HEADERS = cors.exposedHeaders.join(", ");
const ALLOWED_METHODS = cors.allowedMethods.join(", ");
/** How long a browser may reuse a preflight answer (seconds). */
const MAX_AGE = "7200";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/**
 * Returns a function that adds the CORS headers a request from an allowed origin needs and
 * answers its preflight itself (true: answered, nothing more to do). `origins`: exact origins
 * (`https://admin.example.com`), or `*` for any; empty: no CORS headers at all.
 */
export function corsHandler(origins: readonly string[]): (req: Request, res: Response) => boolean {
  const any = origins.includes("*");
  const allowed = new Set(origins);
  return (req, res) => {
    const origin = req.headers.origin;
    if (typeof origin !== "string" || !(any || allowed.has(origin))) return false;
    res.setHeader("Access-Control-Allow-Origin", any ? "*" : origin);
    if (!any) res.setHeader("Vary", "Origin");
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined) {
      res.setHeader("Access-Control-Allow-Methods", ALLOWED_METHODS);
      res.setHeader("Access-Control-Allow-Headers", ALLOWED_HEADERS);
      res.setHeader("Access-Control-Max-Age", MAX_AGE);
      res.writeHead(204);
      res.end();
      return true;
    }
    res.setHeader("Access-Control-Expose-Headers", EXPOSED_HEADERS);
    return false;
  };
}
