/**
 * A real HTTP endpoint for webhook tests, on 127.0.0.1: it records every request it gets and
 * answers as its current mode says — or is not listening at all ("down"), its port kept.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type ReceiverMode = { kind: "ok" } | { kind: "status"; status: number } | { kind: "slow"; delayMs: number } | { kind: "redirect"; location: string };

export interface ReceivedRequest {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered (0: it hung up while slow). */
  answered: number;
}

export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  mode: ReceiverMode = { kind: "ok" };
  private server: Server | undefined;
  private port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/contacts`;
  }

  /** Requests answered 2xx, in arrival order. */
  get delivered(): ReceivedRequest[] {
    return this.requests.filter((r) => r.answered >= 200 && r.answered < 300);
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const mode = this.mode;
        const record = (answered: number) => this.requests.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString(), answered });
        switch (mode.kind) {
          case "ok":
            record(204);
            res.writeHead(204).end();
            return;
          case "status":
            record(mode.status);
            res.writeHead(mode.status).end("no");
            return;
          case "redirect":
            record(302);
            res.writeHead(302, { location: mode.location }).end();
            return;
          case "slow": {
            let hungUp = false;
            res.on("close", () => {
              hungUp = !res.writableFinished;
            });
            setTimeout(() => {
              record(hungUp ? 0 : 200);
              if (!hungUp) res.writeHead(200).end();
            }, mode.delayMs);
            return;
          }
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Stops listening (connections refused) until start() again, on the same port. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
