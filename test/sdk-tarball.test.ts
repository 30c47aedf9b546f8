/**
 * The SDK as its users get it: `npm pack` of sdk/ (which builds it), the tarball installed into
 * an empty project, then — from that project — the README's quick start against a server this
 * test started, `@contacts-api/sdk/testing` with its own in-process server, and a TypeScript
 * consumer type-checked against the shipped declarations.
 *
 * better-sqlite3, the optional peer dependency of `./testing`, is not installed from the
 * registry: that would compile its native addon (about 75 s) wherever no prebuilt binary fits.
 * The project gets a symlink to the repository's already-built copy instead, as an app's own
 * `npm install --save-dev better-sqlite3` would provide it. Everything else comes from the
 * tarball and its declared dependencies (from the npm cache when it has them).
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./support/server.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "..");
const sdkDir = join(root, "sdk");

/** The environment without npm's per-run variables: `npm test` sets npm_config_* (prefix, …) that must not steer the child npm. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== "NODE_OPTIONS"));
  return { ...env, ...extra };
}

async function sh(cmd: string, args: string[], cwd: string, env = cleanEnv()): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, env, maxBuffer: 32 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")} failed in ${cwd}: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

/** The README's quick start: the first ```js block after the quick-start marker. */
function quickStart(): string {
  const readme = readFileSync(join(sdkDir, "README.md"), "utf8");
  const m = /<!-- quick-start[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
  if (!m?.[1]) throw new Error("sdk/README.md has no quick-start block");
  return m[1];
}

const APP_SCRIPT = `
import { createClient, ContactsApiError, AlreadyExistsError } from "@contacts-api/sdk";
import { startTestServer } from "@contacts-api/sdk/testing";

const out = {};
const server = await startTestServer({ tenantId: "app" });
try {
  const { contacts } = server.client;
  const { contact } = await contacts.createContact({ name: { first: "Tess" }, emails: { items: [{ email: "tess@example.com", tag: "HOME" }] } });
  const got = await contacts.getContact(contact._id);
  out.testServer = { id: got._id === contact._id, date: got._createdDate instanceof Date, tag: got.info.emails.items[0].tag };
  try {
    await contacts.createContact({ emails: { items: [{ email: "tess@example.com" }] } });
  } catch (err) {
    out.duplicate = { typed: err instanceof AlreadyExistsError && err instanceof ContactsApiError, code: err.code, same: err.details.duplicateContactId === contact._id };
  }
} finally {
  await server.close();
}

const remote = createClient({ baseUrl: process.env.CONTACTS_URL, tenantId: "tarball" });
const { contact } = await remote.contacts.createContact({ name: { first: "Remote" } }, { allowDuplicates: true });
const again = await remote.contacts.getContact(contact._id);
const page = await remote.contacts.queryContacts().eq("info.name.first", "Remote").find();
out.remote = { id: again._id === contact._id, revision: again.revision, total: page.totalCount };
remote.close();
console.log(JSON.stringify(out));
`;

const APP_TS = `
import { createClient, type Contact, ContactsApiError, type ContactsQueryResult } from "@contacts-api/sdk";
import { startTestServer, type TestServer } from "@contacts-api/sdk/testing";

export async function typed(server: TestServer): Promise<string> {
  const { contacts, labels } = createClient({ baseUrl: server.url, tenantId: "t" });
  const { contact }: { contact: Contact } = await contacts.createContact({ emails: { items: [{ email: "a@b.co", tag: "WORK" }] } }, { allowDuplicates: true });
  const created: Date | undefined = contact._createdDate;
  const page: ContactsQueryResult = await contacts.queryContacts().hasSome("info.labelKeys", ["x"]).ascending("info.name.last").find();
  const { label, newLabel } = await labels.findOrCreateLabel("VIP");
  try {
    await contacts.getContact("nope");
  } catch (err) {
    if (err instanceof ContactsApiError) return err.code + String(err.details.fieldViolations?.length);
  }
  return [created?.toISOString(), page.totalCount, label.key, newLabel].join();
}
void startTestServer;
`;

describe("the SDK tarball in an empty project", () => {
  let work: string;
  let app: string;
  let server: TestServer;
  let packedFiles: string[] = [];
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await f();
    } finally {
      timings[name] = Date.now() - started;
    }
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "contacts-sdk-tarball-"));
    app = join(work, "app");
    mkdirSync(app);
    server = await startTestServer("sqlite");
    // `npm pack` runs the package's prepack script: a clean build to sdk/dist.
    const packed = await timed("pack", () => sh("npm", ["pack", "--json", "--pack-destination", work], sdkDir));
    const pack = (JSON.parse(packed) as { filename: string; files: { path: string }[] }[])[0];
    packedFiles = (pack?.files ?? []).map((f) => f.path);
    const tarball = join(work, pack?.filename ?? "");
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }, null, 2));
    await timed("install", () => sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", "--loglevel=error", tarball], app));
    symlinkSync(join(root, "node_modules", "better-sqlite3"), join(app, "node_modules", "better-sqlite3"), "dir");
  }, 240_000);

  afterAll(async () => {
    console.log(
      `[sdk tarball] ${Object.entries(timings)
        .map(([k, v]) => `${k} ${v} ms`)
        .join(", ")}`,
    );
    await server?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("ships only dist/, the README and package.json, and declares its exports", () => {
    expect(packedFiles.filter((f) => !f.startsWith("dist/") && f !== "README.md" && f !== "package.json")).toEqual([]);
    expect(packedFiles).toEqual(
      expect.arrayContaining(["dist/index.js", "dist/index.d.ts", "dist/testing.js", "dist/testing.d.ts", "dist/server/server/src/app.js"]),
    );
    const manifest = JSON.parse(readFileSync(join(app, "node_modules", "@contacts-api", "sdk", "package.json"), "utf8"));
    expect(manifest.exports["."]).toEqual({ types: "./dist/index.d.ts", import: "./dist/index.js" });
    expect(manifest.exports["./testing"]).toEqual({ types: "./dist/testing.d.ts", import: "./dist/testing.js" });
    expect(manifest.dependencies["@connectrpc/connect"]).toBe("2.1.2");
    expect(manifest.dependencies["@bufbuild/protobuf"]).toBe("2.13.0");
    expect(manifest.peerDependenciesMeta["better-sqlite3"]).toEqual({ optional: true });
  });

  it("runs the README quick start against a running server", { timeout: 60_000 }, async () => {
    writeFileSync(join(app, "quickstart.mjs"), quickStart());
    const stdout = await timed("quick start", () => sh("node", ["quickstart.mjs"], app, cleanEnv({ CONTACTS_URL: server.grpcUrl })));
    console.log(`[sdk tarball] quick start printed: ${stdout.trim()}`);
    const [id, created, total, first] = stdout.trim().split(" ");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(created ?? "")).not.toBeNaN();
    expect(Number(total)).toBeGreaterThanOrEqual(1);
    expect(first).toBe("Ada");
  });

  it("imports @contacts-api/sdk and @contacts-api/sdk/testing, runs the test server, and calls a server started by the test", { timeout: 60_000 }, async () => {
    writeFileSync(join(app, "main.mjs"), APP_SCRIPT);
    const stdout = await timed("app script", () => sh("node", ["main.mjs"], app, cleanEnv({ CONTACTS_URL: server.grpcUrl })));
    expect(JSON.parse(stdout.trim().split("\n").pop() ?? "{}")).toEqual({
      testServer: { id: true, date: true, tag: "HOME" },
      duplicate: { typed: true, code: "DUPLICATE_CONTACT_EXISTS", same: true },
      remote: { id: true, revision: 1, total: 1 },
    });
  });

  it("type-checks a TypeScript consumer against the shipped declarations", { timeout: 60_000 }, async () => {
    writeFileSync(join(app, "typed.ts"), APP_TS);
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2023",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ["node"],
          typeRoots: [join(root, "node_modules", "@types")],
        },
        files: ["typed.ts"],
      }),
    );
    await timed("tsc", () => sh("node", [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], app));
  });
});
