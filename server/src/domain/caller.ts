/** The authenticated caller of a request, as the domain sees it. */
export interface Caller {
  /** The tenant every resource of this request belongs to. Comes only from credentials. */
  readonly tenantId: string;
  /** Who is calling: the token's `sub`, or `dev` in dev mode. */
  readonly subject: string;
  /** What kind of caller it is; recorded on events and as a contact's source. */
  readonly identityType: "USER" | "APP" | "MEMBER" | "ANONYMOUS_VISITOR";
  /**
   * The caller holds `contacts.admin` (every dev-mode caller does): it may write the system
   * fields only the commerce system writes (`ecom.*`, domain/extended-fields.ts).
   */
  readonly admin?: boolean;
}
