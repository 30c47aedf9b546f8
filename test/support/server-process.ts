/**
 * A server as its own process (`server/src/main.ts`), for the scenarios that SIGKILL one: started
 * with the given environment on free ports, ready when it answers a call, killed without warning.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { LabelsService } from "../../gen/contacts/v1/labels_service_pb.js";

const ROOT = resolve(import.meta.dirname, "..", "..");

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => done(port));
    });
  });
}

export class ServerProcess {
  child: ChildProcess | undefined;
  /** Everything the process printed (shared by the processes of one test when given the same sink). */
  constructor(
    readonly name: string,
    readonly grpcPort: number,
    private readonly env: Record<string, string>,
    private readonly sink: { output: string } = { output: "" },
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.grpcPort}`;
  }

  async start(): Promise<void> {
    const proc = spawn(process.execPath, ["--import", "tsx", "server/src/main.ts"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, GRPC_PORT: String(this.grpcPort), HTTP_PORT: String(await freePort()), LOG_LEVEL: "warn", ...this.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const log = (d: Buffer) => {
      this.sink.output += `[${this.name}] ${d.toString()}`;
    };
    proc.stdout?.on("data", log);
    proc.stderr?.on("data", log);
    this.child = proc;
    const client = createClient(LabelsService, createGrpcTransport({ baseUrl: this.url }));
    for (let i = 0; ; i++) {
      try {
        await client.listLabels({}, { headers: { "x-tenant-id": "probe" }, timeoutMs: 1000 });
        return;
      } catch (err) {
        if (i > 300 || proc.exitCode !== null) throw new Error(`server ${this.name} did not start: ${String(err)}\n${this.sink.output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** The lease owner this process writes on the work it holds (`host:pid:…`). */
  owns(owner: string | null): boolean {
    return owner !== null && this.child?.pid !== undefined && owner.split(":")[1] === String(this.child.pid);
  }

  kill(): Promise<void> {
    const proc = this.child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
    return new Promise((done) => {
      proc.once("exit", () => done());
      proc.kill("SIGKILL");
    });
  }
}
