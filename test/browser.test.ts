/**
 * The SDK in a browser (issue 18 item 4): a page (test/browser/) that imports `@contacts-api/sdk`
 * is built with Vite — which picks the package's `browser` build through its export conditions,
 * from the built SDK as an app would install it — served from one origin and opened in headless
 * Chromium (Debian's `chromium`, driven by playwright-core), against a real server on another
 * origin that allows the page's (`CORS_ORIGINS`): create, query, a typed error, an event
 * subscription. `BROWSER_SCREENSHOT=<file.png>` keeps a screenshot of the page.
 */
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser } from "playwright-core";
import { build, preview, type PreviewServer } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./support/server-process.js";
import { startTestServer, type TestServer } from "./support/server.js";

const root = resolve(import.meta.dirname, "..");
const CHROMIUM = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => p && existsSync(p));

describe.skipIf(CHROMIUM === undefined)("the SDK in headless Chromium, over Connect with CORS", () => {
  let work: string;
  let server: TestServer;
  let site: PreviewServer;
  let browser: Browser;
  let pageOrigin: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "contacts-browser-"));
    // The app: the page's two files and the SDK as a dependency, built as its package is (into
    // this directory, not sdk/dist, which test/sdk-tarball.test.ts rebuilds meanwhile), with its
    // package.json and the runtimes it depends on.
    const sdk = join(work, "node_modules", "@contacts-api", "sdk");
    mkdirSync(sdk, { recursive: true });
    await promisify(execFile)(join(root, "node_modules", ".bin", "tsc"), ["-p", join(root, "sdk", "tsconfig.json"), "--outDir", join(sdk, "dist")], {
      cwd: root,
    });
    copyFileSync(join(root, "sdk", "package.json"), join(sdk, "package.json"));
    for (const scope of ["@bufbuild", "@connectrpc"]) symlinkSync(join(root, "node_modules", scope), join(work, "node_modules", scope), "dir");
    for (const f of ["index.html", "main.ts"]) copyFileSync(join(root, "test", "browser", f), join(work, f));
    await build({ root: work, logLevel: "warn", configFile: false, build: { outDir: join(work, "dist"), emptyOutDir: true } });
    const port = await freePort();
    pageOrigin = `http://127.0.0.1:${port}`;
    site = await preview({
      root: work,
      configFile: false,
      logLevel: "warn",
      build: { outDir: join(work, "dist") },
      preview: { host: "127.0.0.1", port, strictPort: true },
    });
    server = await startTestServer("sqlite", { corsOrigins: [pageOrigin] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await new Promise<void>((r) => (site ? site.httpServer.close(() => r()) : r()));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("creates, queries, gets a typed error and hears the created event, from a page on another origin", { timeout: 60_000 }, async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 420 } });
    const consoleErrors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    const tenant = `browser-${Date.now().toString(36)}`;
    await page.goto(`${pageOrigin}/?server=${encodeURIComponent(server.httpUrl)}&tenant=${tenant}`);
    await page.waitForSelector("#result[data-done]", { state: "attached", timeout: 30_000 });
    const results = JSON.parse((await page.textContent("#result")) ?? "{}") as Record<string, Record<string, unknown>>;
    if (process.env.BROWSER_SCREENSHOT) await page.screenshot({ path: process.env.BROWSER_SCREENSHOT, fullPage: true });
    console.log(`[browser] ${await browser.version()}: ${JSON.stringify(results)}`);
    expect(results.failure).toBeUndefined();
    expect(results.create).toMatchObject({ first: "Ada", createdIsDate: true });
    expect(results.query).toEqual({ total: 1, first: results.create?.id });
    expect(results.error).toEqual({ typed: true, code: "CONTACT_NOT_FOUND" });
    expect(results.event).toEqual({ id: results.create?.id });
    // The browser logs a failed resource for an error answer (HTTP 404 of the Connect protocol for
    // NOT_FOUND) and for the favicon the page does not have; nothing else.
    expect(consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of 404/.test(e))).toEqual([]);
  });

  it("the bundle holds the SDK's browser build: no Node transport in it", () => {
    const assets = join(work, "dist", "assets");
    const bundle = readdirSync(assets)
      .filter((f) => f.endsWith(".js"))
      .map((f) => readFileSync(join(assets, f), "utf8"))
      .join("\n");
    expect(bundle).toContain("x-tenant-id");
    expect(bundle).not.toMatch(/Http2SessionManager|node:http2/);
  });

  it("a page on an origin CORS_ORIGINS does not name is refused by the browser", { timeout: 60_000 }, async () => {
    const other = await startTestServer("sqlite", { corsOrigins: ["https://admin.example.com"] });
    try {
      const page = await browser.newPage();
      await page.goto(`${pageOrigin}/?server=${encodeURIComponent(other.httpUrl)}&tenant=refused`);
      await page.waitForSelector("#result[data-done]", { state: "attached", timeout: 30_000 });
      const results = JSON.parse((await page.textContent("#result")) ?? "{}") as { failure?: string; create?: unknown };
      expect(results.create).toBeUndefined();
      expect(results.failure).toMatch(/UNAVAILABLE|fetch|network/i);
    } finally {
      await other.close();
    }
  });
});
