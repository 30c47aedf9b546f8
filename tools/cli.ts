/**
 * What the command-line tools share: the connection flags, the client they make, a progress line
 * on stderr, and how a tool fails.
 */
import { type ContactsClient, createClient } from "../sdk/src/index.js";

/** `--url`, `--tenant`, `--token`, as `node:util` parseArgs options. */
export const CONNECTION_OPTIONS = {
  url: { type: "string" },
  tenant: { type: "string" },
  token: { type: "string" },
} as const;

/** The help text of the connection flags. */
export const CONNECTION_HELP = `  --url URL           the server's gRPC port (default: $CONTACTS_URL, else http://127.0.0.1:50051)
  --tenant ID         the tenant, on a dev-mode server (default: dev)
  --token JWT         a token, on a server with authentication (default: $CONTACTS_TOKEN)`;

/**
 * A client for the connection flags. A tool's calls are long-running batches, so each gets the
 * server's full 30 s deadline cap rather than the SDK's 10 s default.
 */
export function clientFrom(values: { url?: string | undefined; tenant?: string | undefined; token?: string | undefined }): ContactsClient {
  const baseUrl = values.url ?? process.env.CONTACTS_URL ?? "http://127.0.0.1:50051";
  const token = values.token ?? (values.tenant === undefined ? process.env.CONTACTS_TOKEN : undefined);
  if (values.token !== undefined && values.tenant !== undefined) fail("pass --tenant (dev-mode servers) or --token, not both");
  return createClient({ baseUrl, timeoutMs: 30_000, ...(token ? { token } : { tenantId: values.tenant ?? "dev" }) });
}

/** Prints `message` and the usage hint on stderr and exits with status 1. */
export function fail(message: string): never {
  process.stderr.write(`${message}\nRun with --help for usage.\n`);
  process.exit(1);
}

/** Formats a count the way a person reads it: 12,345. */
export function count(n: number): string {
  return n.toLocaleString("en-US");
}

/**
 * One line on stderr, redrawn in place at most every 100 ms, when stderr is a terminal; nothing
 * otherwise, so logs and test output get only the final summary.
 */
export class ProgressLine {
  private last = 0;
  private shown = false;
  private readonly tty = process.stderr.isTTY === true;

  update(text: () => string): void {
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    this.shown = true;
    process.stderr.write(`\r\x1b[K${text()}`);
  }

  /** Clears the line, so what is printed next starts at the left. */
  clear(): void {
    if (this.shown) process.stderr.write("\r\x1b[K");
    this.shown = false;
  }
}
