/**
 * Cross-replica wake-ups through NATS: when a tenant commits events here, the other server
 * processes hear of it at once, so their watchers and webhook dispatchers read the outbox now
 * rather than at their next poll. NATS carries only "tenant X committed", never an event: the
 * outbox stays the one source of truth, and a lost or late wake-up costs latency (the poll still
 * runs), never an event.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "nats";
import type { EventBus } from "./events.js";

/** The one subject: its messages are tenant ids (tenant ids may hold dots, subject tokens may not). */
export const WAKEUP_SUBJECT = "contacts-api.events.committed";

export interface WakeupLog {
  warn(msg: string): void;
  info(msg: string): void;
}

export class NatsWakeups {
  private connection: NatsConnection | undefined;
  private closed = false;
  private readonly pending = new Set<string>();
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly url: string,
    private readonly bus: EventBus,
    private readonly log: WakeupLog,
  ) {}

  /**
   * Connects in the background (the server starts and serves without it: watchers then poll), and
   * keeps reconnecting for as long as the server runs.
   */
  start(): void {
    this.bus.relayTo((tenantId) => this.publish(tenantId));
    void this.connectLoop();
  }

  private async connectLoop(): Promise<void> {
    // Loaded only by servers configured with NATS (the SDK's embedded test server never is).
    const { connect } = await import("nats");
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        // noEcho: this process's own commits already woke its readers.
        const nc = await connect({ servers: this.url, name: "contacts-api", noEcho: true, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
        if (this.closed) {
          await nc.close();
          return;
        }
        this.connection = nc;
        this.log.info(`wake-ups: connected to NATS at ${nc.getServer()}`);
        const sub = nc.subscribe(WAKEUP_SUBJECT);
        void (async () => {
          for await (const m of sub) this.bus.wake(this.decoder.decode(m.data));
        })();
        await nc.closed();
        this.connection = undefined;
        if (!this.closed) this.log.warn("wake-ups: the NATS connection closed; watchers poll until it is back");
      } catch (err) {
        if (attempt === 0 || attempt % 60 === 0)
          this.log.warn(`wake-ups: cannot reach NATS at ${this.url} (${(err as Error).message}); watchers poll meanwhile`);
        await sleep(1000, undefined, { ref: false });
      }
    }
  }

  /** Tells the other processes that `tenantId` committed; a tenant's wake-ups within one tick go as one. */
  private publish(tenantId: string): void {
    if (!this.connection || this.pending.has(tenantId)) return;
    this.pending.add(tenantId);
    queueMicrotask(() => {
      this.pending.delete(tenantId);
      try {
        this.connection?.publish(WAKEUP_SUBJECT, this.encoder.encode(tenantId));
      } catch {
        // Disconnected: the readers of the other processes poll.
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.bus.relayTo(undefined);
    await this.connection?.drain().catch(() => undefined);
  }
}
