import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { Caller } from "../domain/caller.js";
import type { ServiceDeps } from "../services/deps.js";
import { bindToSignal } from "../store/call-scope.js";

/** The authenticated caller of the current request; set by the tenancy interceptor. */
export const kCaller = createContextKey<Caller | undefined>(undefined, { description: "caller" });

/** The caller of a request to a tenant-scoped service. */
export function callerOf(ctx: HandlerContext): Caller {
  const caller = ctx.values.get(kCaller);
  // The interceptor runs for every contacts.v1 method; reaching here without one is a wiring bug.
  if (!caller) throw new Error(`no caller for ${ctx.method.name}: tenancy interceptor not installed`);
  return caller;
}

/**
 * The services' dependencies for one call: its database handle is bound to the call's signal,
 * so the call's statements are abandoned when its deadline passes or its client goes
 * (store/call-scope.ts).
 */
export function depsFor(deps: ServiceDeps, ctx: HandlerContext): ServiceDeps {
  return { ...deps, db: bindToSignal(deps.db, ctx.signal) };
}
