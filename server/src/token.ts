/**
 * `npm run token -- --tenant t1 --scope "contacts.manage labels.manage" [--sub me] [--ttl 3600]`
 * prints an HS256 token signed with AUTH_JWT_SECRET, for grpcurl/buf curl and local testing.
 */
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { SCOPES } from "./auth/scopes.js";

const { values } = parseArgs({
  options: {
    tenant: { type: "string" },
    scope: { type: "string", default: "contacts.admin" },
    sub: { type: "string", default: "dev-cli" },
    ttl: { type: "string", default: "3600" },
    identity: { type: "string", default: "user" },
  },
});

const secret = process.env.AUTH_JWT_SECRET;
if (!secret) {
  console.error("AUTH_JWT_SECRET is not set: export the secret the server uses.");
  process.exit(2);
}
if (!values.tenant) {
  console.error('usage: npm run token -- --tenant <tenant> [--scope "contacts.read labels.manage"] [--sub id] [--ttl seconds]');
  process.exit(2);
}
const unknown = (values.scope ?? "").split(/\s+/).filter((s) => s && !(SCOPES as readonly string[]).includes(s));
if (unknown.length > 0) {
  console.error(`unknown scope(s): ${unknown.join(", ")}; known: ${SCOPES.join(" ")}`);
  process.exit(2);
}
const claims: Record<string, string> = { tenant: values.tenant, scope: values.scope ?? "", identity_type: values.identity ?? "user" };
let jwt = new SignJWT(claims)
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setSubject(values.sub ?? "dev-cli")
  .setIssuedAt()
  .setExpirationTime(`${Number(values.ttl)}s`);
if (process.env.AUTH_ISSUER) jwt = jwt.setIssuer(process.env.AUTH_ISSUER);
if (process.env.AUTH_AUDIENCE) jwt = jwt.setAudience(process.env.AUTH_AUDIENCE);
console.log(await jwt.sign(new TextEncoder().encode(secret)));
