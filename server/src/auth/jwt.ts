/**
 * Bearer token verification with `jose`: HS256 with a shared secret, or asymmetric keys from a
 * JWKS (URL or file). Algorithms are pinned per key source, so a token cannot choose its own
 * (no `alg: none`, no HS/RS confusion); issuer and audience are checked when configured.
 */
import { readFileSync } from "node:fs";
import { createLocalJWKSet, createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from "jose";
import type { Caller } from "../domain/caller.js";
import { DomainError } from "../domain/errors.js";

export interface AuthConfig {
  /** HS256 shared secret (`AUTH_JWT_SECRET`), at least 32 bytes. */
  secret?: string;
  /** JWKS endpoint (`AUTH_JWKS_URL`). */
  jwksUrl?: string;
  /** JWKS file (`AUTH_JWKS_FILE`). */
  jwksFile?: string;
  /** Expected `iss` (`AUTH_ISSUER`), checked when set. */
  issuer?: string;
  /** Expected `aud` (`AUTH_AUDIENCE`), checked when set. */
  audience?: string;
  /** Accepted clock skew in seconds (`AUTH_CLOCK_TOLERANCE_S`, default 30). */
  clockToleranceS: number;
  /** Algorithms accepted from the JWKS (`AUTH_JWT_ALGORITHMS`, default RS256,ES256). */
  jwksAlgorithms: string[];
}

/** An authenticated principal: the caller plus the scopes its token grants. */
export interface Principal {
  caller: Caller;
  scopes: string[];
}

const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function unauthenticated(reason: string, message: string): DomainError {
  return new DomainError("unauthenticated", reason, message);
}

export type TokenVerifier = (authorization: string | null) => Promise<Principal>;

export function createTokenVerifier(config: AuthConfig): TokenVerifier {
  let key: Uint8Array | JWTVerifyGetKey;
  let algorithms: string[];
  if (config.secret) {
    if (Buffer.byteLength(config.secret) < 32) throw new Error("AUTH_JWT_SECRET must be at least 32 bytes");
    key = new TextEncoder().encode(config.secret);
    algorithms = ["HS256"];
  } else if (config.jwksFile) {
    key = createLocalJWKSet(JSON.parse(readFileSync(config.jwksFile, "utf8")));
    algorithms = config.jwksAlgorithms;
  } else if (config.jwksUrl) {
    key = createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
    algorithms = config.jwksAlgorithms;
  } else {
    throw new Error("authentication needs AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_JWKS_FILE");
  }

  return async (authorization) => {
    if (!authorization) throw unauthenticated("TOKEN_MISSING", "send `authorization: Bearer <token>`");
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) throw unauthenticated("TOKEN_MALFORMED", "the authorization header must be `Bearer <token>`");
    let payload: JWTPayload;
    try {
      const options = {
        algorithms,
        clockTolerance: config.clockToleranceS,
        ...(config.issuer ? { issuer: config.issuer } : {}),
        ...(config.audience ? { audience: config.audience } : {}),
      };
      // One call site per key kind: jose overloads jwtVerify on the key's type.
      payload = key instanceof Uint8Array ? (await jwtVerify(match[1], key, options)).payload : (await jwtVerify(match[1], key, options)).payload;
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw unauthenticated("TOKEN_EXPIRED", "the token has expired");
      if (err instanceof errors.JWKSTimeout || !(err instanceof errors.JOSEError) || err.code === "ERR_JOSE_GENERIC") {
        throw new DomainError("unavailable", "JWKS_UNAVAILABLE", "the token keys could not be fetched; retry later");
      }
      // Never say more about why a token is bad than that it is.
      throw unauthenticated("TOKEN_INVALID", "the token is not valid");
    }
    const tenant = payload.tenant;
    if (typeof tenant !== "string" || !TENANT_ID.test(tenant)) {
      throw unauthenticated("TOKEN_INVALID", "the token has no valid `tenant` claim");
    }
    const scope = payload.scope;
    const scopes = typeof scope === "string" ? scope.split(/\s+/).filter(Boolean) : Array.isArray(scope) ? scope.map(String) : [];
    const kind = payload.identity_type;
    return {
      caller: {
        tenantId: tenant,
        subject: typeof payload.sub === "string" && payload.sub ? payload.sub.slice(0, 200) : "anonymous",
        identityType: kind === "user" ? "USER" : kind === "member" ? "MEMBER" : "APP",
      },
      scopes,
    };
  };
}
