/**
 * Projection of contacts (reference §5.5): `fields` and `fieldsets` select parts of a contact;
 * their union is returned, `id` and `revision` always, everything when neither is given.
 */
import type { ContactInfoJson, ContactJson } from "../../../gen/contacts/v1/contact_pb.js";
import { invalidField } from "./errors.js";

export type FieldSet = "BASIC" | "COMMUNICATION_DETAILS" | "EXTENDED" | "FULL";

const TOP = ["source", "createdDate", "updatedDate", "lastActivity", "primaryInfo", "primaryEmail", "primaryPhone", "memberInfo"] as const;
const INFO = [
  "name",
  "emails",
  "phones",
  "addresses",
  "company",
  "jobTitle",
  "picture",
  "birthdate",
  "locale",
  "labelKeys",
  "locations",
  "extendedFields",
  "assignedUserIds",
] as const;
type Top = (typeof TOP)[number];
type Info = (typeof INFO)[number];

const BASIC = ["primaryInfo", "info.name"];
const FIELDSETS: Record<Exclude<FieldSet, "FULL">, string[]> = {
  BASIC,
  COMMUNICATION_DETAILS: [...BASIC, "info.emails", "info.phones", "info.addresses"],
  EXTENDED: [...BASIC, "info.extendedFields"],
};

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** A validated projection; `undefined` means the whole contact. */
export type Projection = { top: Set<Top>; info: Set<Info> } | undefined;

export function parseProjection(fields: readonly string[], fieldsets: readonly FieldSet[], where = ""): Projection {
  const at = (name: string) => (where ? `${where}.${name}` : name);
  if (fields.length > 100) throw invalidField("INVALID_FIELDS", at("fields"), "at most 100 entries");
  if (fieldsets.length > 10) throw invalidField("INVALID_FIELDS", at("fieldsets"), "at most 10 entries");
  if (fieldsets.includes("FULL") || (fields.length === 0 && fieldsets.length === 0)) return undefined;
  const top = new Set<Top>();
  const info = new Set<Info>();
  const add = (path: string, field: string) => {
    const p = path.split(".").map(camel).join(".");
    if (p === "info") {
      for (const i of INFO) info.add(i);
    } else if (p.startsWith("info.") && (INFO as readonly string[]).includes(p.slice(5))) {
      info.add(p.slice(5) as Info);
    } else if ((TOP as readonly string[]).includes(p)) {
      top.add(p as Top);
    } else if (p !== "id" && p !== "revision") {
      throw invalidField("INVALID_FIELDS", field, `"${path}" is not a projectable field`);
    }
  };
  fields.forEach((f, i) => {
    if (f.length > 100) throw invalidField("INVALID_FIELDS", at(`fields[${i}]`), "at most 100 characters");
    add(f, at(`fields[${i}]`));
  });
  for (const set of fieldsets) for (const path of FIELDSETS[set as Exclude<FieldSet, "FULL">] ?? unknownFieldSet(at("fieldsets"))) add(path, at("fieldsets"));
  return { top, info };
}

export function project(contact: ContactJson, projection: Projection): ContactJson {
  if (!projection) return contact;
  const out: ContactJson = { id: contact.id, revision: contact.revision };
  const o = out as Record<string, unknown>;
  for (const key of projection.top) if (contact[key] !== undefined) o[key] = contact[key];
  if (projection.info.size > 0 && contact.info) {
    const info: ContactInfoJson = {};
    for (const key of projection.info) {
      if (contact.info[key] !== undefined) (info as Record<string, unknown>)[key] = contact.info[key];
    }
    out.info = info;
  }
  return out;
}

/** A field set number the contract does not define (fieldSetNames maps it to undefined). */
function unknownFieldSet(field: string): never {
  throw invalidField("INVALID_FIELDS", field, "has an unknown field set");
}
