/**
 * The SDK as its users get it: `npm pack` of sdk/ and of testing/ (which build them), the SDK's
 * tarball alone installed into an empty project (what it brings: only the protobuf and Connect
 * runtimes), then the testing package's beside it, and — from that project — the README's quick
 * start against a server this test started, `@contacts-api/testing` with its own in-process
 * server, and a TypeScript consumer type-checked against the shipped declarations.
 *
 * better-sqlite3, the peer dependency of `@contacts-api/testing`, is not installed from the
 * registry: that would compile its native addon (about 75 s) wherever no prebuilt binary fits.
 * The project gets a symlink to the repository's already-built copy instead, as an app's own
 * `npm install --save-dev better-sqlite3` would provide it. Everything else comes from the
 * tarball and its declared dependencies (from the npm cache when it has them).
 */
import { execFile } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./support/server.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "..");
const sdkDir = join(root, "sdk");
const testingDir = join(root, "testing");

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

/** The packages under a project's node_modules (scoped ones by their full name) and their bytes on disk. */
function installed(project: string): { packages: string[]; bytes: number } {
  const modules = join(project, "node_modules");
  const packages: string[] = [];
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith(".")) continue;
    if (entry.startsWith("@")) for (const sub of readdirSync(join(modules, entry))) packages.push(`${entry}/${sub}`);
    else packages.push(entry);
  }
  const size = (path: string): number => {
    const st = lstatSync(path);
    return st.isDirectory() ? readdirSync(path).reduce((n, e) => n + size(join(path, e)), 0) : st.size;
  };
  return { packages: packages.sort(), bytes: size(modules) };
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
import { startTestServer } from "@contacts-api/testing";

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
import { startTestServer, type TestServer } from "@contacts-api/testing";

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
  let testingFiles: string[] = [];
  let sdkOnly: { packages: string[]; bytes: number } = { packages: [], bytes: 0 };
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
    // `npm pack` runs each package's prepack script: a clean build to its dist/.
    const pack = async (dir: string) => {
      const packed = await sh("npm", ["pack", "--json", "--pack-destination", work], dir);
      const info = (JSON.parse(packed) as { filename: string; files: { path: string }[] }[])[0];
      return { tarball: join(work, info?.filename ?? ""), files: (info?.files ?? []).map((f) => f.path) };
    };
    const sdk = await timed("pack", () => pack(sdkDir));
    const testing = await timed("pack testing", () => pack(testingDir));
    packedFiles = sdk.files;
    testingFiles = testing.files;
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }, null, 2));
    const install = (...tarballs: string[]) =>
      sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", "--loglevel=error", ...tarballs], app);
    await timed("install", () => install(sdk.tarball));
    sdkOnly = installed(app);
    await timed("install testing", () => install(sdk.tarball, testing.tarball));
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
    expect(packedFiles).toEqual(expect.arrayContaining(["dist/index.js", "dist/index.d.ts", "dist/index.browser.js"]));
    expect(packedFiles.filter((f) => f.includes("server/"))).toEqual([]);
    expect(testingFiles).toEqual(expect.arrayContaining(["dist/index.js", "dist/index.d.ts", "dist/server/server/src/app.js"]));
    const manifest = JSON.parse(readFileSync(join(app, "node_modules", "@contacts-api", "sdk", "package.json"), "utf8"));
    expect(manifest.exports["."]).toEqual({ types: "./dist/index.d.ts", browser: "./dist/index.browser.js", import: "./dist/index.js" });
    expect(Object.keys(manifest.dependencies).sort()).toEqual([
      "@bufbuild/protobuf",
      "@connectrpc/connect",
      "@connectrpc/connect-node",
      "@connectrpc/connect-web",
    ]);
    const testingManifest = JSON.parse(readFileSync(join(app, "node_modules", "@contacts-api", "testing", "package.json"), "utf8"));
    expect(testingManifest.dependencies["@contacts-api/sdk"]).toBe("0.1.0");
    expect(testingManifest.peerDependencies["better-sqlite3"]).toBe("^12.0.0");
  });

  it("installs with the protobuf and Connect runtimes only", () => {
    console.log(
      `[sdk tarball] the SDK alone installs ${sdkOnly.packages.length} packages, ${(sdkOnly.bytes / 1024 / 1024).toFixed(1)} MiB: ${sdkOnly.packages.join(", ")}`,
    );
    expect(sdkOnly.packages.filter((p) => !/^@bufbuild\/protobuf$|^@connectrpc\/connect(-node|-web)?$|^@contacts-api\/sdk$|^undici$/.test(p))).toEqual([]);
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

  it("imports @contacts-api/sdk and @contacts-api/testing, runs the test server, and calls a server started by the test", { timeout: 60_000 }, async () => {
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
