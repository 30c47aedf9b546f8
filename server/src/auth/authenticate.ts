/**
 * Turns a request's headers into its caller, for one method: the only source of the tenant.
 * Dev mode (no authentication configured) takes the tenant from `x-tenant-id`; otherwise a
 * verified bearer token must carry the tenant and a scope that grants the method.
 */
import type { Caller } from "../domain/caller.js";
import { DomainError, invalidField } from "../domain/errors.js";
import type { TokenVerifier } from "./jwt.js";
import { effectiveScopes, METHOD_SCOPES } from "./scopes.js";

/** Resolves the caller of `method` (`contacts.v1.LabelsService/GetLabel`) from its headers. */
export type Authenticator = (header: Headers, method: string) => Promise<Caller>;

const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const devAuthenticator: Authenticator = async (header) => {
  const tenantId = header.get("x-tenant-id") ?? "dev";
  if (!TENANT_ID.test(tenantId)) {
    throw invalidField("INVALID_TENANT_ID", "x-tenant-id", "must be 1–64 letters, digits, '.', '_' or '-'");
  }
  return { tenantId, subject: "dev", identityType: "USER", admin: true };
};

export function tokenAuthenticator(verify: TokenVerifier): Authenticator {
  return async (header, method) => {
    const { caller, scopes } = await verify(header.get("authorization"));
    const accepted = METHOD_SCOPES[method] ?? [];
    const granted = effectiveScopes(scopes);
    // Scope is checked before the handler runs, so a caller without it learns nothing about
    // whether the resource exists.
    if (!accepted.some((s) => granted.has(s))) {
      throw new DomainError("permission_denied", "MISSING_SCOPE", `${method} needs scope ${accepted.join(" or ") || "(none granted)"}`, {
        requiredScope: accepted[0] ?? "",
        ...(accepted.length > 1 ? { acceptedScopes: accepted.join(" ") } : {}),
      });
    }
    return { ...caller, admin: granted.has("contacts.admin") };
  };
}
