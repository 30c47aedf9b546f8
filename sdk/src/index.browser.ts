/**
 * `@contacts-api/sdk` in browsers (the package's `browser` export condition): the same API, its
 * client talking Connect (or gRPC-Web) over `fetch` to the server's Connect port.
 *
 * @packageDocumentation
 */
export * from "./api.js";
export { createClient } from "./transport-web.js";
