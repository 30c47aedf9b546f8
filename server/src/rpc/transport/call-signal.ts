/**
 * One call's AbortSignal: a FastSignal (node-internals.ts) where they work, else a plain
 * AbortController's.
 */
import { abortFastSignal, abortObserved, fastSignals, newFastSignal } from "./node-internals.js";

const completedReason = new DOMException("This operation was aborted", "AbortError");

export class CallSignal {
  readonly signal: AbortSignal;
  private readonly controller: AbortController | undefined;

  constructor() {
    if (fastSignals) {
      this.signal = newFastSignal();
      this.controller = undefined;
    } else {
      this.controller = new AbortController();
      this.signal = this.controller.signal;
    }
  }

  abort(reason: unknown): void {
    if (this.controller !== undefined) this.controller.abort(reason);
    else abortFastSignal(this.signal, reason);
  }

  /**
   * HandlerContext.signal also aborts when the call completes normally (as on
   * connect-node). That is skipped when nothing could observe it but a later
   * `signal.aborted` read: no listener and no AbortSignal.any() follower.
   */
  complete(): void {
    if (!abortObserved(this.signal)) return;
    this.abort(completedReason);
  }
}
