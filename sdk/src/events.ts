/**
 * `client.events`: the change-event stream (EventsService.WatchEvents) as an async iterator that
 * reconnects by itself and resumes after the last event it delivered, so a consumer sees every
 * event once across server restarts; and `onContactCreated`-style subscriptions on top.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { backoffMs, sleep } from "./call.js";
import { request, toSdk } from "./codec.js";
import { type ContactsApiError, InvalidSdkArgumentError, toApiError } from "./errors.js";
import { type Event as EventMessage, EventSchema, EventsService, WatchEventsRequestSchema } from "./gen/contacts/v1/events_service_pb.js";
import type { Runtime } from "./runtime.js";
import type { Contact, ContactLabel, ExtendedField, IdentityType } from "./types.js";

/** Entity kinds, as in `metadata.entityFqdn` and `filter.entityFqdns`. */
export const ENTITY_FQDN = {
  contact: "contacts.v1.contact",
  label: "contacts.v1.label",
  extendedField: "contacts.v1.extended_field",
} as const;

/** The envelope of every event (reference §6). */
export interface EventMetadata {
  /** Unique event ID, for de-duplication. */
  id: string;
  /** The event type, e.g. `contact_created`, `label_deleted`, `contact_merged`. */
  eventType: string;
  /** The entity kind: `contacts.v1.contact`, `contacts.v1.label` or `contacts.v1.extended_field`. */
  entityFqdn: string;
  /** `created`, `updated`, `deleted` or `merged`. */
  slug: string;
  /** ID (contacts) or key (labels, fields) of the entity. */
  entityId: string;
  /** Commit time of the change. */
  eventTime: Date;
  /** What caused the change when not a direct call, e.g. `merge`. */
  originatedFrom?: string;
  /** Per-entity sequence number (a decimal string), +1 per event of the entity. */
  entityEventSequence: string;
  /** Who made the change. */
  identity?: { identityType?: IdentityType; subject?: string };
  /** The tenant the event belongs to. */
  tenantId: string;
}

/** The data of a `contact_merged` event. */
export interface ContactMergedData {
  /** The contact that remained. */
  targetContactId: string;
  /** The contacts merged into it and deleted. */
  sourceContactIds: string[];
  /** The target after the merge. */
  targetContact?: Contact;
}

/** One change event. */
export interface ContactsEvent<E = Contact | ContactLabel | ExtendedField> {
  /** Position in the tenant's event log; pass it as `after` to resume after this event. */
  cursor: string;
  /** The envelope. */
  metadata: EventMetadata;
  /** The entity after the change (before it, for `deleted`); absent for `contact_merged`. */
  entity?: E;
  /** For `contact_merged`: the merge. */
  data?: ContactMergedData;
  /** For `updated` events: the changed field paths, e.g. `info.emails`. */
  modifiedFields: string[];
}

/** Which events to watch. Empty or absent lists mean all. */
export interface EventFilter {
  /** Only these entity kinds, e.g. `["contacts.v1.contact"]` (see ENTITY_FQDN). */
  entityFqdns?: string[];
  /** Only these slugs, e.g. `["created", "deleted"]`. */
  slugs?: string[];
  /** Only these event types, e.g. `["contact_created"]` (filtered by the SDK). */
  eventTypes?: string[];
}

/** Options of `events.watch`. */
export interface WatchOptions {
  /** Resume after this cursor (an event's `cursor`). Wins over `start`. */
  after?: string;
  /** Where to begin without a cursor: `"NOW"` (default) or `"OLDEST"` retained event. */
  start?: "NOW" | "OLDEST";
  /** Which events to deliver. Default: all. */
  filter?: EventFilter;
  /** Stops the watch; the iterator then ends without an error. */
  signal?: AbortSignal;
  /**
   * Called before each reconnect with the failure that ended the stream (undefined when the
   * server ended it cleanly, e.g. draining for a restart) and the consecutive attempt number.
   */
  onReconnect?: (error: ContactsApiError | undefined, attempt: number) => void;
}

/** A running subscription made by an `on…` helper. */
export interface Subscription {
  /** The cursor of the last event handled; resume a later subscription with `{ after: cursor }`. */
  readonly cursor: string | undefined;
  /** Settles when the subscription ends: resolves after `close()`, rejects when a handler throws or the stream fails for good. */
  readonly done: Promise<void>;
  /** Stops the subscription; resolves when it has stopped. */
  close(): Promise<void>;
}

/** A created, updated or deleted event: `entity` is always there. */
export type EntityEvent<E> = ContactsEvent<E> & { entity: E };
/** A `contact_merged` event: `data` is always there. */
export type ContactMergedEvent = ContactsEvent<never> & { data: ContactMergedData };
/** A handler of one kind of event; the next event waits for its promise. */
export type EventHandler<Ev> = (event: Ev) => void | Promise<void>;

/** Failures a reconnect cannot fix: a bad or expired cursor, credentials, permissions. */
const PERMANENT = new Set<number>([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.Unimplemented,
  Code.Unauthenticated,
]);

/** The events module: `client.events`. */
export interface EventsModule {
  /**
   * Streams change events in commit order, then live. On a dropped connection, a server restart
   * or the server's stream deadline it reconnects (capped exponential backoff) and resumes after
   * the last event it delivered: nothing missed, nothing repeated. Ends when `signal` aborts or
   * the loop breaks; throws a ContactsApiError only for failures a reconnect cannot fix
   * (`CURSOR_EXPIRED`, `INVALID_CURSOR`, credentials).
   *
   * Without `after`, the first connection starts at `start` (default now); if it drops before
   * the first event arrives, the reconnect starts at "now" again.
   *
   * @example
   * const ac = new AbortController();
   * for await (const event of events.watch({ filter: { entityFqdns: ["contacts.v1.contact"] }, signal: ac.signal })) {
   *   console.log(event.metadata.eventType, event.metadata.entityId, event.cursor);
   * }
   */
  watch(options?: WatchOptions): AsyncIterable<ContactsEvent>;
  /**
   * Calls `handler` for every contact created from now (or after `options.after`), one at a time.
   *
   * @example
   * const sub = events.onContactCreated(async (e) => console.log("new contact", e.entity._id));
   * // later
   * await sub.close();
   */
  onContactCreated(handler: EventHandler<EntityEvent<Contact>>, options?: SubscribeOptions): Subscription;
  /** Calls `handler` for every contact update. @example events.onContactUpdated((e) => console.log(e.modifiedFields)); */
  onContactUpdated(handler: EventHandler<EntityEvent<Contact>>, options?: SubscribeOptions): Subscription;
  /** Calls `handler` for every contact deletion (`entity` is the contact before it). @example events.onContactDeleted((e) => console.log(e.metadata.entityId)); */
  onContactDeleted(handler: EventHandler<EntityEvent<Contact>>, options?: SubscribeOptions): Subscription;
  /** Calls `handler` for every merge (`data` has the target and sources). @example events.onContactMerged((e) => console.log(e.data?.sourceContactIds)); */
  onContactMerged(handler: EventHandler<ContactMergedEvent>, options?: SubscribeOptions): Subscription;
  /** Calls `handler` for every label created. @example events.onLabelCreated((e) => console.log(e.entity.key)); */
  onLabelCreated(handler: EventHandler<EntityEvent<ContactLabel>>, options?: SubscribeOptions): Subscription;
  /** Calls `handler` for every label renamed. @example events.onLabelUpdated((e) => console.log(e.entity.displayName)); */
  onLabelUpdated(handler: EventHandler<EntityEvent<ContactLabel>>, options?: SubscribeOptions): Subscription;
  /** Calls `handler` for every label deleted. @example events.onLabelDeleted((e) => console.log(e.metadata.entityId)); */
  onLabelDeleted(handler: EventHandler<EntityEvent<ContactLabel>>, options?: SubscribeOptions): Subscription;
  /** Calls `handler` for every extended field created. @example events.onExtendedFieldCreated((e) => console.log(e.entity.key)); */
  onExtendedFieldCreated(handler: EventHandler<EntityEvent<ExtendedField>>, options?: SubscribeOptions): Subscription;
  /** Calls `handler` for every extended field renamed. @example events.onExtendedFieldUpdated((e) => console.log(e.entity.displayName)); */
  onExtendedFieldUpdated(handler: EventHandler<EntityEvent<ExtendedField>>, options?: SubscribeOptions): Subscription;
  /** Calls `handler` for every extended field deleted. @example events.onExtendedFieldDeleted((e) => console.log(e.metadata.entityId)); */
  onExtendedFieldDeleted(handler: EventHandler<EntityEvent<ExtendedField>>, options?: SubscribeOptions): Subscription;
}

/** Options of the `on…` helpers: `watch` options without the filter. */
export type SubscribeOptions = Omit<WatchOptions, "filter">;

/** An Event message as the SDK's event. */
export function eventToSdk(message: EventMessage): ContactsEvent {
  const e = toSdk<Record<string, unknown>>(EventSchema, message);
  const metadata: EventMetadata = {
    id: e._id as string,
    eventType: e.eventType as string,
    entityFqdn: e.entityFqdn as string,
    slug: e.slug as string,
    entityId: e.entityId as string,
    eventTime: e.eventTime as Date,
    entityEventSequence: e.entityEventSequence as string,
    tenantId: e.tenantId as string,
    ...(e.originatedFrom !== undefined ? { originatedFrom: e.originatedFrom as string } : {}),
    ...(e.identity !== undefined ? { identity: e.identity as EventMetadata["identity"] } : {}),
  };
  const entity = (e.contact ?? e.label ?? e.extendedField) as Contact | ContactLabel | ExtendedField | undefined;
  return {
    cursor: e.cursor as string,
    metadata,
    ...(entity !== undefined ? { entity } : {}),
    ...(e.contactMerged !== undefined ? { data: e.contactMerged as ContactMergedData } : {}),
    modifiedFields: (e.modifiedFields as string[] | undefined) ?? [],
  };
}

/** Creates `client.events`. */
export function eventsModule(rt: Runtime): EventsModule {
  const client = createClient(EventsService, rt.transport);
  const { headers, retry } = rt.ctx;

  async function* watch(options: WatchOptions = {}): AsyncGenerator<ContactsEvent> {
    const signal = options.signal;
    const eventTypes = new Set(options.filter?.eventTypes ?? []);
    const filter: JsonObject = {
      entityFqdns: options.filter?.entityFqdns ?? [],
      slugs: options.filter?.slugs ?? [],
    };
    if (options.start !== undefined && options.start !== "NOW" && options.start !== "OLDEST") {
      throw new InvalidSdkArgumentError(`events.watch(): start must be "NOW" or "OLDEST"; got ${JSON.stringify(options.start)}`);
    }
    let cursor = options.after;
    let failures = 0;
    while (!signal?.aborted) {
      const connection = new AbortController();
      const stop = () => connection.abort();
      signal?.addEventListener("abort", stop, { once: true });
      let failure: ContactsApiError | undefined;
      try {
        const req = request(
          WatchEventsRequestSchema,
          cursor ? { afterCursor: cursor, filter } : { start: options.start === "OLDEST" ? "WATCH_START_OLDEST" : "WATCH_START_NOW", filter },
          "events.watch",
        );
        for await (const message of client.watchEvents(req, { signal: connection.signal, headers })) {
          failures = 0;
          cursor = message.cursor;
          // A bookmark only moves the resume position forward.
          if (message.eventType === "bookmark") continue;
          const event = eventToSdk(message);
          if (eventTypes.size > 0 && !eventTypes.has(event.metadata.eventType)) continue;
          yield event;
        }
      } catch (err) {
        if (signal?.aborted) return;
        failure = toApiError(err);
        if (PERMANENT.has(failure.grpcCode)) throw failure;
      } finally {
        signal?.removeEventListener("abort", stop);
        connection.abort();
      }
      // The server ends streams at its deadline cap (DEADLINE_EXCEEDED) and when it drains for a
      // shutdown; both are routine, and only repeated failures back off.
      const routine = failure === undefined || failure.grpcCode === Code.DeadlineExceeded;
      failures = routine ? 0 : failures + 1;
      options.onReconnect?.(failure, failures);
      if (failures > 0) {
        try {
          await sleep(backoffMs(retry, failures), signal);
        } catch {
          return;
        }
      }
    }
  }

  const subscribe = <Ev>(fqdn: string, slug: string, handler: EventHandler<Ev>, options: SubscribeOptions = {}): Subscription => {
    if (typeof handler !== "function") throw new InvalidSdkArgumentError("the handler must be a function");
    const controller = new AbortController();
    const outer = options.signal;
    if (outer) outer.addEventListener("abort", () => controller.abort(), { once: true });
    let cursor: string | undefined = options.after;
    const done = (async () => {
      for await (const event of watch({ ...options, signal: controller.signal, filter: { entityFqdns: [fqdn], slugs: [slug] } })) {
        await handler(event as Ev);
        cursor = event.cursor;
      }
    })();
    // Unhandled only if nobody looks at `done` and it fails; callers who care await it.
    done.catch(() => {});
    return {
      get cursor() {
        return cursor;
      },
      done,
      async close() {
        controller.abort();
        await done.catch(() => {});
      },
    };
  };

  return {
    watch,
    onContactCreated: (h, o) => subscribe(ENTITY_FQDN.contact, "created", h, o),
    onContactUpdated: (h, o) => subscribe(ENTITY_FQDN.contact, "updated", h, o),
    onContactDeleted: (h, o) => subscribe(ENTITY_FQDN.contact, "deleted", h, o),
    onContactMerged: (h, o) => subscribe(ENTITY_FQDN.contact, "merged", h, o),
    onLabelCreated: (h, o) => subscribe(ENTITY_FQDN.label, "created", h, o),
    onLabelUpdated: (h, o) => subscribe(ENTITY_FQDN.label, "updated", h, o),
    onLabelDeleted: (h, o) => subscribe(ENTITY_FQDN.label, "deleted", h, o),
    onExtendedFieldCreated: (h, o) => subscribe(ENTITY_FQDN.extendedField, "created", h, o),
    onExtendedFieldUpdated: (h, o) => subscribe(ENTITY_FQDN.extendedField, "updated", h, o),
    onExtendedFieldDeleted: (h, o) => subscribe(ENTITY_FQDN.extendedField, "deleted", h, o),
  };
}
