/**
 * What the tests of the SDK (`sdk/src`) and of the tools built on it (`npm run import`,
 * `npm run export`) share: a test server per describe block with SDK clients that close with it,
 * a client that cannot reach any server, fresh tenant ids, the checks every SDK result and error
 * goes through, and the tools run as child processes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import type { Config } from "../../server/src/config.js";
import { type ClientOptions, type Contact, ContactsApiError, type ContactsClient, createClient } from "../../sdk/src/index.js";
import { type StoreName, startTestServer, type TestServer } from "./server.js";

const root = resolve(import.meta.dirname, "..", "..");

/** A tenant id no other test uses: `name` and 8 random hex digits. */
export const tenant = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;

/** Runs `fn(i)` for i in [0, n) with at most `concurrency` calls in flight. */
export async function inParallel<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

/** Awaits a call that must fail with a ContactsApiError and returns it. */
export async function failure(call: Promise<unknown>): Promise<ContactsApiError> {
  try {
    await call;
  } catch (err) {
    expect(err).toBeInstanceOf(ContactsApiError);
    return err as ContactsApiError;
  }
  throw new Error("expected the call to fail");
}

/** Checks that a result is plain objects and Dates all the way down: no protobuf message leaks. */
export function expectPlain(value: unknown, path = "result"): void {
  if (value === null || typeof value !== "object" || value instanceof Date) return;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) expectPlain(v, `${path}[${i}]`);
    return;
  }
  expect(Object.getPrototypeOf(value), `${path} is a plain object`).toBe(Object.prototype);
  expect(Object.keys(value), `${path} has no $typeName`).not.toContain("$typeName");
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === "bigint") throw new Error(`${path}.${k} is a bigint`);
    expectPlain(v, `${path}.${k}`);
  }
}

/** Reads an async iterable (an export, say) to its end. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Every contact of the client's tenant, as `exportContacts` yields them (newest first). */
export function allContacts(client: ContactsClient): Promise<Contact[]> {
  return collect(client.contacts.exportContacts());
}

/** The test server of one describe block, and SDK clients for it. */
export interface SuiteServer {
  /** The running server: read it in a test or a later hook, once the block's beforeAll has started it. */
  readonly server: TestServer;
  /**
   * An SDK client for `tenantId` on the server's gRPC port, closed after the block's tests.
   * `options` override the defaults (another `baseUrl`, `protocol`, `transport`, …).
   */
  clientFor(tenantId: string, options?: Partial<ClientOptions>): ContactsClient;
}

/**
 * Starts a test server on `store` (with config `overrides`) before the enclosing describe block's
 * tests, and closes every client `clientFor` made, then the server, after them. Call it in the
 * block's body, before hooks that use the server.
 */
export function suiteServer(store: StoreName, overrides: Partial<Config> = {}): SuiteServer {
  let server: TestServer | undefined;
  const clients: ContactsClient[] = [];
  beforeAll(async () => {
    server = await startTestServer(store, overrides);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server?.close();
  });
  const running = (): TestServer => {
    if (!server) throw new Error("the suite's test server is not running: use it in a test or a hook after suiteServer()");
    return server;
  };
  return {
    get server() {
      return running();
    },
    clientFor: (tenantId, options = {}) => {
      const c = createClient({ baseUrl: running().grpcUrl, tenantId, ...options });
      clients.push(c);
      return c;
    },
  };
}

/**
 * A client of a server that does not exist (nothing listens on port 9), without retries, closed
 * after the enclosing describe block: any call that left the process would fail with UNAVAILABLE,
 * so a test that sees another error knows the SDK refused the call itself.
 */
export function unreachableClient(): ContactsClient {
  const client = createClient({ baseUrl: "http://127.0.0.1:9", tenantId: "nobody", retry: false });
  afterAll(() => client.close());
  return client;
}

/**
 * A fresh temporary directory (named `prefix` and random characters) for the enclosing describe
 * block, made before its tests and removed with everything in it after them.
 */
export function suiteTempDir(prefix: string): { readonly path: string } {
  let dir: string | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    get path() {
      if (!dir) throw new Error(`the ${prefix} directory is made in beforeAll: use it in a test or a later hook`);
      return dir;
    },
  };
}

/** How a tool's run ended, and all it wrote. */
export interface ToolOutput {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a tool as a person would (`node --import tsx tools/<name>.ts …`, from the repository root)
 * and collects its output; `output` settles when it has ended. CONTACTS_TOKEN and CONTACTS_URL are
 * left out of its environment, so only `args` say where it connects.
 */
export function spawnTool(name: "import" | "export", args: string[]): ChildProcess & { output: Promise<ToolOutput> } {
  const env = { ...process.env };
  delete env.CONTACTS_TOKEN;
  delete env.CONTACTS_URL;
  const child = spawn(process.execPath, ["--import", "tsx", join("tools", `${name}.ts`), ...args], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const output = new Promise<ToolOutput>((resolveOutput) => {
    child.once("close", (code, signal) => resolveOutput({ code, signal, stdout, stderr }));
  });
  return Object.assign(child, { output });
}

/** Runs a tool to its end (see `spawnTool`). */
export function runTool(name: "import" | "export", args: string[]): Promise<ToolOutput> {
  return spawnTool(name, args).output;
}
