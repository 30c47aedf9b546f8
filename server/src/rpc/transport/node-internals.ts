/**
 * Every use of Node's private members, in one module, each checked when it loads:
 *
 * - the internal slots of AbortSignal (Node 20's `kAborted`, `kReason`, `kComposite`, `kEvents`
 *   and AbortSignal.any()'s dependants set), for FastSignal below: a per-call signal ~30× cheaper
 *   than an AbortController's. On any mismatch (another Node version) `fastSignals` is false and
 *   callers use plain AbortControllers; test/internals.test.ts fails then, so that an upgrade
 *   that loses the fast path is seen rather than silently slower.
 * - a stream's `_readableState.ended` (the end of input has arrived, though not yet read), for
 *   `inputEnded`; the public `readableEnded` is only true once everything has been read.
 */
import { Readable } from "node:stream";

/**
 * Fast AbortSignals.
 *
 * On Node 20, `new AbortController().signal` costs 5-10 us (each signal is an
 * EventTarget whose prototype is swapped with Object.setPrototypeOf, which
 * leaves V8 with a slow object), and `abort()` dispatches a "trusted" Event
 * that is slow too: together the largest single cost of a unary call here.
 *
 * A FastSignal is a real `AbortSignal` as far as JS can tell (instanceof, the
 * `aborted`/`reason`/`throwIfAborted`/`onabort` members of
 * AbortSignal.prototype, addEventListener, use with AbortSignal.any(), fetch,
 * timers/promises, events.once): it is an EventTarget subclass whose
 * prototype chain includes AbortSignal.prototype and which carries the
 * internal slots those members read. It costs ~0.2 us. Aborting it sets the
 * slots and dispatches an 'abort' Event itself (`isTrusted` is false), then
 * hands any AbortSignal.any() followers to a real controller's abort so Node
 * propagates to them.
 *
 * The slots are found by probing a real signal, and the whole behaviour is
 * self-tested once at load; on any mismatch (another Node version) calls use
 * plain AbortControllers.
 */
interface SignalSlots {
  aborted: symbol;
  reason: symbol;
  composite: symbol;
  events: symbol;
  dependants: symbol;
}

type SlotRecord = Record<symbol, unknown>;

const slots = ((): SignalSlots | undefined => {
  const probe = new AbortController().signal;
  const byName = new Map(Object.getOwnPropertySymbols(probe).map((x) => [x.description, x]));
  AbortSignal.any([probe]);
  const dependants = Object.getOwnPropertySymbols(probe).find((x) => !byName.has(x.description));
  const aborted = byName.get("kAborted");
  const reason = byName.get("kReason");
  const composite = byName.get("kComposite");
  const events = byName.get("kEvents");
  if (!aborted || !reason || !composite || !events || !dependants) return undefined;
  return { aborted, reason, composite, events, dependants };
})();

class FastSignal extends EventTarget {
  constructor(k: SignalSlots) {
    super();
    const self = this as unknown as SlotRecord;
    self[k.aborted] = false;
    self[k.reason] = undefined;
    self[k.composite] = false;
  }
}
Object.setPrototypeOf(FastSignal.prototype, AbortSignal.prototype);
// So that `signal.constructor === AbortSignal` and inspect() say AbortSignal.
Object.defineProperty(FastSignal.prototype, "constructor", {
  value: AbortSignal,
  writable: true,
  configurable: true,
});

function abortFast(k: SignalSlots, signal: AbortSignal, reason: unknown): void {
  const self = signal as unknown as SlotRecord;
  if (self[k.aborted] === true) return;
  self[k.aborted] = true;
  self[k.reason] = reason;
  signal.dispatchEvent(new Event("abort"));
  const followers = self[k.dependants] as { size: number } | undefined;
  if (followers !== undefined && followers.size > 0) {
    self[k.dependants] = undefined;
    const relay = new AbortController();
    (relay.signal as unknown as SlotRecord)[k.dependants] = followers;
    relay.abort(reason);
  }
}

function fastSignalsWork(k: SignalSlots): boolean {
  try {
    const s = new FastSignal(k) as unknown as AbortSignal;
    if (!(s instanceof AbortSignal) || s.constructor !== AbortSignal) return false;
    if (s.aborted !== false || s.reason !== undefined) return false;
    let heard = 0;
    s.addEventListener("abort", () => heard++);
    s.onabort = () => heard++;
    const follower = AbortSignal.any([s]);
    const why = new Error("self-test");
    abortFast(k, s, why);
    let thrown: unknown;
    try {
      s.throwIfAborted();
    } catch (e) {
      thrown = e;
    }
    return heard === 2 && s.aborted && s.reason === why && thrown === why && follower.aborted && follower.reason === why;
  } catch {
    return false;
  }
}

const fastSlots: SignalSlots | undefined = slots !== undefined && fastSignalsWork(slots) ? slots : undefined;

/** True when FastSignals work on this Node: the probe found the slots and the self-test passed. */
export const fastSignals = fastSlots !== undefined;

/** A new FastSignal; only when `fastSignals`. */
export function newFastSignal(): AbortSignal {
  if (fastSlots === undefined) throw new Error("FastSignals do not work on this Node version");
  return new FastSignal(fastSlots) as unknown as AbortSignal;
}

/** Aborts a signal from newFastSignal() with `reason`, as AbortController.abort would. */
export function abortFastSignal(signal: AbortSignal, reason: unknown): void {
  if (fastSlots !== undefined) abortFast(fastSlots, signal, reason);
}

/**
 * False when nothing could observe the signal's abort but a later read of `signal.aborted`: no
 * listener and no AbortSignal.any() follower. True when that cannot be known.
 */
export function abortObserved(signal: AbortSignal): boolean {
  const k = fastSlots ?? slots;
  if (k === undefined) return true;
  const self = signal as unknown as Record<symbol, { size: number } | undefined>;
  return (self[k.events]?.size ?? 0) !== 0 || (self[k.dependants]?.size ?? 0) !== 0;
}

const endedFlag = (stream: unknown) => (stream as { _readableState?: { ended?: boolean } })._readableState?.ended;

/** True when `_readableState.ended` behaves as `inputEnded` relies on (checked once, here). */
export const streamEndWorks = ((): boolean => {
  const probe = new Readable({ read() {} });
  const before = endedFlag(probe);
  probe.push("x");
  probe.push(null);
  return before === false && endedFlag(probe) === true && !probe.readableEnded;
})();

/**
 * True when the end of a stream's input has arrived, read or not (without the internal flag,
 * only once everything has been read).
 */
export function inputEnded(stream: NodeJS.ReadableStream & { readableEnded?: boolean }): boolean {
  return stream.readableEnded === true || (streamEndWorks && endedFlag(stream) === true);
}
