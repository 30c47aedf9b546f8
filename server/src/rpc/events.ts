import { create, type JsonValue, toJson } from "@bufbuild/protobuf";
import type { ContactJson } from "../../../gen/contacts/v1/contact_pb.js";
import type { ServiceImpl } from "@connectrpc/connect";
import { ContactMergedSchema, type Event, EventSchema, type EventsService, IdentityType, WatchStart } from "../../../gen/contacts/v1/events_service_pb.js";
import type { StoredEvent } from "../domain/events.js";
import type { ServiceDeps } from "../services/deps.js";
import { encodeEventCursor, type WatchOptions, watchEvents } from "../services/events.js";
import { contactToProto } from "./contacts.js";
import { callerOf, depsFor } from "./context.js";
import { timestamp } from "./common.js";
import { extendedFieldToProto } from "./extended-fields.js";
import { labelToProto } from "./labels.js";

function entityOf(e: StoredEvent): Event["entity"] {
  const p = e.payload;
  switch (p.kind) {
    case "contact":
      return { case: "contact", value: contactToProto(p.contact as ContactJson) };
    case "label":
      return { case: "label", value: labelToProto(p.label) };
    case "extendedField":
      return { case: "extendedField", value: extendedFieldToProto(p.field) };
    case "contactMerged":
      return {
        case: "contactMerged",
        value: create(ContactMergedSchema, {
          targetContactId: p.targetContactId,
          sourceContactIds: p.sourceContactIds,
          targetContact: contactToProto(p.targetContact as ContactJson),
        }),
      };
  }
}

export function eventToProto(e: StoredEvent): Event {
  return create(EventSchema, {
    id: e.id,
    cursor: encodeEventCursor(e.seq),
    eventType: e.eventType,
    entityFqdn: e.entityFqdn,
    slug: e.slug,
    entityId: e.entityId,
    eventTime: timestamp(e.eventTime),
    ...(e.originatedFrom ? { originatedFrom: e.originatedFrom } : {}),
    entityEventSequence: String(e.entitySeq),
    identity: { identityType: IdentityType[e.identityType], subject: e.subject },
    tenantId: e.tenantId,
    modifiedFields: e.modifiedFields ?? [],
    entity: entityOf(e),
  });
}

/** The event in the Event message's JSON form: a webhook's `data`. */
export function eventToJson(e: StoredEvent): JsonValue {
  return toJson(EventSchema, eventToProto(e));
}

export function eventsHandlers(deps: ServiceDeps, options: WatchOptions): ServiceImpl<typeof EventsService> {
  return {
    async *watchEvents(req, ctx) {
      const stream = watchEvents(
        depsFor(deps, ctx),
        callerOf(ctx),
        {
          ...(req.afterCursor ? { afterCursor: req.afterCursor } : {}),
          start: req.start === WatchStart.OLDEST ? "OLDEST" : "NOW",
          entityFqdns: req.filter?.entityFqdns ?? [],
          slugs: req.filter?.slugs ?? [],
        },
        ctx.signal,
        options,
      );
      for await (const item of stream) {
        yield item.kind === "event"
          ? eventToProto(item.event)
          : create(EventSchema, {
              cursor: encodeEventCursor(item.seq),
              eventType: "bookmark",
              slug: "bookmark",
              tenantId: callerOf(ctx).tenantId,
              eventTime: timestamp(new Date()),
            });
      }
    },
  };
}
