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
  /** A ping still waiting for its answer (past its limit: the database is not answering). */
  private pinging = false;

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

  /**
   * One ping. Its limit covers waiting for a pool connection too (knex's statement timeout starts
   * once it has one): when the database's line is black-holed, the pool's connections hang in
   * their calls and new ones in their handshakes, and a ping that waited for one would report the
   * outage only once those gave up.
   */
  async check(): Promise<boolean> {
    // The last ping has not come back: no second one to hang beside it, holding a connection.
    if (this.pinging) {
      this.set(false);
      return false;
    }
    this.pinging = true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.timeoutMs);
    });
    const ping = this.db
      .raw("select 1")
      .timeout(this.timeoutMs, { cancel: false })
      .then(
        () => true,
        () => false,
      )
      .finally(() => {
        this.pinging = false;
      });
    const ok = await Promise.race([ping, late]);
    clearTimeout(timer);
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
