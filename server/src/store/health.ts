import { EventEmitter } from "node:events";
import type { Db } from "./db.js";

/**
 * Knows whether the database answers: pings it on an interval (and right after a failure is
 * reported) and tells listeners when that changes.
 */
export class DatabaseHealth extends EventEmitter<{ change: [boolean] }> {
  private healthy = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly intervalMs = 2_000,
    private readonly timeoutMs = 1_000,
  ) {
    super();
  }

  get serving(): boolean {
    return this.healthy && !this.closed;
  }

  /** Pings now and then every interval. Resolves after the first ping. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  async check(): Promise<boolean> {
    let ok: boolean;
    try {
      await this.db.raw("select 1").timeout(this.timeoutMs, { cancel: false });
      ok = true;
    } catch {
      ok = false;
    }
    this.set(ok);
    return ok;
  }

  /** Marks the service as going away (graceful shutdown): no longer serving. */
  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.emit("change", false);
  }

  private set(ok: boolean): void {
    if (ok === this.healthy) return;
    this.healthy = ok;
    if (!this.closed) this.emit("change", ok);
  }
}
