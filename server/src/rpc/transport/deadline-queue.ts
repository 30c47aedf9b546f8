/** The deadline queue of the gRPC port's calls (grpc-server.ts). */

/** What the queue needs of a call: its deadline, its links, and what to do when it passes. */
export interface QueuedCall {
  deadline: number;
  queued: boolean;
  qPrev: this | undefined;
  qNext: this | undefined;
  onOwnDeadline(): void;
}

/**
 * Server-side deadlines for calls without a (small enough) client deadline.
 * They all get `now + maxTimeoutMs`, so insertion order is deadline order: an
 * intrusive doubly-linked FIFO with one timer replaces a setTimeout /
 * clearTimeout pair per call (~3-4 us in profiles).
 */
export class DeadlineQueue<C extends QueuedCall> {
  private head: C | undefined;
  private tail: C | undefined;
  private timer: NodeJS.Timeout | undefined;

  add(c: C): void {
    c.qPrev = this.tail;
    c.qNext = undefined;
    if (this.tail !== undefined) this.tail.qNext = c;
    else this.head = c;
    this.tail = c;
    c.queued = true;
    if (this.timer === undefined) this.arm(c.deadline);
  }

  remove(c: C): void {
    if (!c.queued) return;
    c.queued = false;
    const { qPrev, qNext } = c;
    if (qPrev !== undefined) qPrev.qNext = qNext;
    else this.head = qNext;
    if (qNext !== undefined) qNext.qPrev = qPrev;
    else this.tail = qPrev;
    c.qPrev = undefined;
    c.qNext = undefined;
  }

  private arm(deadline: number): void {
    this.timer = setTimeout(this.fire, Math.max(1, deadline - Date.now()));
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = Date.now();
    let c = this.head;
    while (c !== undefined && c.deadline <= now) {
      this.remove(c);
      c.onOwnDeadline();
      c = this.head;
    }
    if (c !== undefined) this.arm(c.deadline);
  };
}
