/**
 * A NATS server for the tests of cross-replica wake-ups: NATS_URL when set, else the one on
 * 127.0.0.1:4222 when it answers, else a throwaway `nats-server` on a free port (stopped with
 * `stop()`); without any of these the test fails saying what to install.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { freePort } from "./server-process.js";

export interface TestNats {
  url: string;
  stop(): Promise<void>;
}

const BINARIES = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"];

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    // A NATS server greets with INFO as soon as the connection opens.
    s.once("data", (d) => done(d.toString().startsWith("INFO")));
    s.once("error", () => done(false));
  });
}

export async function testNats(): Promise<TestNats> {
  if (process.env.NATS_URL) return { url: process.env.NATS_URL, stop: async () => {} };
  if (await answers("127.0.0.1", 4222)) return { url: "nats://127.0.0.1:4222", stop: async () => {} };
  const binary = BINARIES.find((b) => existsSync(b));
  if (!binary) {
    throw new Error("no NATS server: set NATS_URL, start one on 127.0.0.1:4222, or install one (apt-get install -y nats-server)");
  }
  const port = await freePort();
  const child: ChildProcess = spawn(binary, ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  for (let i = 0; !(await answers("127.0.0.1", port)); i++) {
    if (i > 100 || child.exitCode !== null) throw new Error(`${binary} did not start on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
