/**
 * `@contacts-api/sdk`: the Contacts API as the reference's JavaScript SDK spells it.
 *
 * @example
 * import { createClient } from "@contacts-api/sdk";
 * const { contacts } = createClient({ baseUrl: "http://127.0.0.1:50051", tenantId: "acme" });
 * const { contact } = await contacts.createContact({ name: { first: "Ada" } }, { allowDuplicates: true });
 * console.log(contact._id, contact._createdDate);
 *
 * @packageDocumentation
 */
export * from "./api.js";
export { createClient } from "./transport-node.js";
