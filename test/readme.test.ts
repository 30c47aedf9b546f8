/**
 * The README's `buf curl` lines paste and work: every ```bash block that uses `$B` runs, in the
 * README's order, against a server (its `B` and `S` pointed at it), each line checked for a zero
 * exit status — but for the lines whose comment names the error they may show. Left out: grpcurl
 * (not installed here), WatchEvents (a stream that does not end) and the blocks that start
 * servers or need keys (authentication, TLS, import).
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULTS } from "../server/src/config.js";
import { startTestServer, type TestServer } from "./support/server.js";

const root = join(import.meta.dirname, "..");
const BUF = join(root, "node_modules/.bin/buf");

/** The README's bash blocks that call the server through `$B`, in order. */
function curlBlocks(readme: string): string[][] {
  const blocks = [...readme.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => (m[1] ?? "").split("\n"));
  return blocks.filter((lines) => lines.some((l) => l.includes("$B ")) && !lines.some((l) => /AUTH_JWT_SECRET|TLS_CERT|npm run import|npm start/.test(l)));
}

/** A line's trailing comment, when it names an error the line may show instead of succeeding. */
const mayFail = (line: string) => /#.*\b(FAILED_PRECONDITION|ALREADY_EXISTS|NOT_FOUND)\b/.test(line);

describe("README examples", () => {
  let t: TestServer;
  beforeAll(async () => {
    // The webhook example subscribes a receiver on 127.0.0.1, as a developer would.
    t = await startTestServer("sqlite", { webhooks: { ...DEFAULTS.webhooks, allowLoopback: true } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("every buf curl line of the README runs against a server, in order, and succeeds", async () => {
    const lines = curlBlocks(readFileSync(join(root, "README.md"), "utf8"))
      .flat()
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#") && !l.startsWith("grpcurl") && !l.includes("WatchEvents") && !l.startsWith("B="));
    expect(lines.length).toBeGreaterThan(30);
    const script = [`B="${BUF} curl --protocol grpc --http2-prior-knowledge"; S=${t.grpcUrl}`, ...lines.map((l, i) => `${l}\necho "@@EXIT ${i} $?"`)].join(
      "\n",
    );
    const out = await new Promise<string>((resolve, reject) => {
      execFile("bash", ["-c", script], { cwd: root, timeout: 240_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err?.killed) reject(new Error(`timed out\n${stderr}`));
        else resolve(`${stdout}\n${stderr}`);
      });
    });
    const codes = new Map([...out.matchAll(/@@EXIT (\d+) (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]));
    const failed = lines.flatMap((l, i) => (codes.get(i) === 0 || (mayFail(l) && codes.has(i)) ? [] : [`exit ${codes.get(i)}: ${l}`]));
    expect(failed, out.slice(-4000)).toEqual([]);
    expect(codes.size).toBe(lines.length);
  }, 300_000);
});
