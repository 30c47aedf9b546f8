/**
 * The conversion layer between the SDK's plain objects and the contract's protobuf messages.
 *
 * The proto JSON form of a message is already the reference's REST shape, so the SDK shape is
 * that JSON with the reference SDK's few renames (`id` → `_id`, `createdDate` → `_createdDate`,
 * `updatedDate` → `_updatedDate`, and the address fields of §1.6), enum values without their
 * proto prefix (`EMAIL_TAG_WORK` ↔ `"WORK"`) and timestamps as `Date`. One walk over the message
 * descriptors does that for every message in both directions, so a field added to the contract
 * reaches SDK users without code here.
 */
import {
  type DescEnum,
  type DescField,
  type DescMessage,
  fromJson,
  type JsonObject,
  type JsonValue,
  type MessageShape,
  ScalarType,
  toJson,
} from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { InvalidSdkArgumentError } from "./errors.js";

/** Renames that apply to every message: the reference SDK's underscore names. */
const COMMON_RENAMES: Readonly<Record<string, string>> = {
  id: "_id",
  createdDate: "_createdDate",
  updatedDate: "_updatedDate",
};

/** Renames of one message only (reference §1.6: REST `addressLine` is SDK `addressLine1`, …). */
const MESSAGE_RENAMES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  "contacts.v1.Address": { addressLine: "addressLine1", formattedAddress: "formatted", geocode: "location" },
};

/**
 * Input-only second names: the reference's `Address` type also declares the REST name
 * `addressLine` (its street one-of) beside `addressLine1`, so programs typed with it may send either.
 */
const INPUT_ALIASES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  "contacts.v1.Address": { addressLine: "addressLine1" },
};

const TIMESTAMP = "google.protobuf.Timestamp";
/** Messages whose JSON form is free JSON, passed through untouched. */
const FREE_JSON = new Set(["google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"]);

function sdkName(desc: DescMessage, field: DescField): string {
  return MESSAGE_RENAMES[desc.typeName]?.[field.jsonName] ?? COMMON_RENAMES[field.jsonName] ?? field.jsonName;
}

const fieldTables = new WeakMap<DescMessage, Map<string, DescField>>();

/** The fields of a message by their SDK name. */
function fieldsBySdkName(desc: DescMessage): Map<string, DescField> {
  let table = fieldTables.get(desc);
  if (!table) {
    table = new Map(desc.fields.map((f) => [sdkName(desc, f), f]));
    fieldTables.set(desc, table);
  }
  return table;
}

function enumPrefixLength(e: DescEnum): number {
  const prefix = e.sharedPrefix?.toUpperCase();
  return prefix && e.values.every((v) => v.name.startsWith(prefix)) ? prefix.length : 0;
}

/** `EMAIL_TAG_WORK` → `WORK`; the zero value (`…_UNSPECIFIED`) has no SDK spelling. */
export function enumToSdk(e: DescEnum, protoName: string): string | undefined {
  const value = e.values.find((v) => v.name === protoName);
  if (!value || value.number === 0) return undefined;
  return protoName.slice(enumPrefixLength(e));
}

/** The SDK spellings of an enum's values, e.g. `["UNTAGGED", "MAIN", "HOME", "WORK"]`. */
export function enumSdkValues(e: DescEnum): string[] {
  const n = enumPrefixLength(e);
  return e.values.filter((v) => v.number !== 0).map((v) => v.name.slice(n));
}

/** `WORK` → `EMAIL_TAG_WORK`; the proto spelling is accepted too. Throws an InvalidSdkArgumentError otherwise. */
export function enumToProto(e: DescEnum, value: unknown, path: string): string {
  const allowed = enumSdkValues(e);
  if (typeof value === "string") {
    const n = enumPrefixLength(e);
    const match = e.values.find((v) => v.number !== 0 && (v.name.slice(n) === value || v.name === value));
    if (match) return match.name;
  }
  throw new InvalidSdkArgumentError(`${path} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}; got ${describe(value)}`);
}

// ---------------------------------------------------------------------------------------------
// proto → SDK

/** A protobuf message as the SDK's plain object. */
export function toSdk<T>(desc: DescMessage, message: MessageShape<DescMessage>): T {
  return objectToSdk(desc, toJson(desc, message) as JsonObject) as T;
}

function objectToSdk(desc: DescMessage, json: JsonObject): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of desc.fields) {
    const value = fieldToSdk(field, json[field.jsonName]);
    if (value !== undefined) out[sdkName(desc, field)] = value;
  }
  return out;
}

function fieldToSdk(field: DescField, json: JsonValue | undefined): unknown {
  switch (field.fieldKind) {
    case "list":
      // Lists are always arrays on output (proto JSON leaves empty ones out).
      return ((json as JsonValue[] | undefined) ?? []).map((item) => elementToSdk(field.listKind, field, item));
    case "map": {
      if (json === undefined) return {};
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(json as JsonObject)) out[key] = elementToSdk(field.mapKind, field, value);
      return out;
    }
    case "scalar":
      if (json === undefined) {
        // Proto JSON omits implicit zero values; numbers and booleans are meaningful (count: 0,
        // newLabel: false), empty strings are not.
        if (field.oneof || field.presence !== FeatureSet_FieldPresence.IMPLICIT) return undefined;
        if (field.scalar === ScalarType.BOOL) return false;
        if (field.scalar === ScalarType.STRING || field.scalar === ScalarType.BYTES) return undefined;
        if (field.scalar === ScalarType.INT64 || field.scalar === ScalarType.UINT64) return "0";
        return 0;
      }
      return json;
    case "enum":
      return json === undefined ? undefined : enumToSdk(field.enum, json as string);
    case "message":
      return json === undefined ? undefined : messageToSdk(field.message, json);
  }
}

function elementToSdk(kind: "scalar" | "enum" | "message", field: DescField, json: JsonValue): unknown {
  if (kind === "enum" && field.enum) return enumToSdk(field.enum, json as string);
  if (kind === "message" && field.message) return messageToSdk(field.message, json);
  return json;
}

function messageToSdk(desc: DescMessage, json: JsonValue): unknown {
  if (desc.typeName === TIMESTAMP) return new Date(json as string);
  if (FREE_JSON.has(desc.typeName)) return json;
  return objectToSdk(desc, json as JsonObject);
}

// ---------------------------------------------------------------------------------------------
// SDK → proto

/**
 * An SDK plain object as a protobuf message. `null` is "not set", as in the reference's types.
 * Unknown keys, wrong value types and unknown enum values throw an InvalidSdkArgumentError naming the path (e.g. `info.emails.items[0].tag`), before any call.
 */
export function fromSdk<Desc extends DescMessage>(desc: Desc, value: unknown, path: string): MessageShape<Desc> {
  const json = objectToProto(desc, value, path);
  try {
    return fromJson(desc, json);
  } catch (err) {
    throw new InvalidSdkArgumentError(`${path}: ${(err as Error).message}`);
  }
}

/** An SDK plain object as the message's proto JSON (for building requests with `fromJson`). */
export function sdkToJson(desc: DescMessage, value: unknown, path: string): JsonObject {
  return objectToProto(desc, value, path);
}

/** Parses a request from proto JSON; a bad value becomes an InvalidSdkArgumentError naming the SDK function. */
export function request<Desc extends DescMessage>(desc: Desc, json: JsonObject, fn: string): MessageShape<Desc> {
  try {
    return fromJson(desc, json);
  } catch (err) {
    throw new InvalidSdkArgumentError(`${fn}(): ${(err as Error).message}`);
  }
}

function objectToProto(desc: DescMessage, value: unknown, path: string): JsonObject {
  if (!isPlainObject(value)) throw new InvalidSdkArgumentError(`${path} must be an object; got ${describe(value)}`);
  const fields = fieldsBySdkName(desc);
  const out: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    const field = fields.get(INPUT_ALIASES[desc.typeName]?.[key] ?? key);
    if (!field) {
      throw new InvalidSdkArgumentError(`${path}.${key} is not a field of ${desc.name}; known fields: ${[...fields.keys()].join(", ")}`);
    }
    // The reference's types spell "not set" as null too (`name: { last: null }`); only a free
    // JSON value has a null of its own.
    if (item === null && field.message?.typeName !== "google.protobuf.Value") continue;
    if (out[field.jsonName] !== undefined) throw new InvalidSdkArgumentError(`${path}.${key}: ${field.jsonName} is given twice`);
    out[field.jsonName] = fieldToProto(field, item, `${path}.${key}`);
  }
  return out;
}

function fieldToProto(field: DescField, value: unknown, path: string): JsonValue {
  switch (field.fieldKind) {
    case "list":
      if (!Array.isArray(value)) throw new InvalidSdkArgumentError(`${path} must be an array; got ${describe(value)}`);
      return value.map((item, i) => elementToProto(field.listKind, field, item, `${path}[${i}]`));
    case "map": {
      if (!isPlainObject(value)) throw new InvalidSdkArgumentError(`${path} must be an object; got ${describe(value)}`);
      const out: JsonObject = {};
      for (const [key, item] of Object.entries(value)) {
        if (item !== undefined) out[key] = elementToProto(field.mapKind, field, item, `${path}.${key}`);
      }
      return out;
    }
    case "scalar":
      return scalarToProto(field.scalar, value, path);
    case "enum":
      return enumToProto(field.enum, value, path);
    case "message":
      return messageToProto(field.message, value, path);
  }
}

function elementToProto(kind: "scalar" | "enum" | "message", field: DescField, value: unknown, path: string): JsonValue {
  if (kind === "enum" && field.enum) return enumToProto(field.enum, value, path);
  if (kind === "message" && field.message) return messageToProto(field.message, value, path);
  if (field.scalar === undefined) throw new InvalidSdkArgumentError(`${path}: unsupported field`);
  return scalarToProto(field.scalar, value, path);
}

function messageToProto(desc: DescMessage, value: unknown, path: string): JsonValue {
  if (desc.typeName === TIMESTAMP) {
    if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
    if (typeof value === "string" && !Number.isNaN(Date.parse(value))) return value;
    throw new InvalidSdkArgumentError(`${path} must be a Date; got ${describe(value)}`);
  }
  if (FREE_JSON.has(desc.typeName)) return toJsonValue(value, path);
  return objectToProto(desc, value, path);
}

function scalarToProto(type: ScalarType, value: unknown, path: string): JsonValue {
  switch (type) {
    case ScalarType.STRING:
      if (typeof value === "string") return value;
      throw new InvalidSdkArgumentError(`${path} must be a string; got ${describe(value)}`);
    case ScalarType.BOOL:
      if (typeof value === "boolean") return value;
      throw new InvalidSdkArgumentError(`${path} must be a boolean; got ${describe(value)}`);
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (typeof value === "number" && Number.isFinite(value)) return value;
      throw new InvalidSdkArgumentError(`${path} must be a finite number; got ${describe(value)}`);
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      if ((typeof value === "number" && Number.isInteger(value)) || (typeof value === "string" && /^-?\d+$/.test(value))) {
        return String(value);
      }
      throw new InvalidSdkArgumentError(`${path} must be an integer; got ${describe(value)}`);
    case ScalarType.BYTES:
      throw new InvalidSdkArgumentError(`${path}: bytes fields are not supported`);
    default:
      if (typeof value === "number" && Number.isInteger(value)) return value;
      throw new InvalidSdkArgumentError(`${path} must be an integer; got ${describe(value)}`);
  }
}

/** Free JSON (extended field values, filters): Dates become ISO strings, anything else must be JSON. */
export function toJsonValue(value: unknown, path: string): JsonValue {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value;
    throw new InvalidSdkArgumentError(`${path} must be a finite number; got ${value}`);
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v, i) => toJsonValue(v, `${path}[${i}]`));
  if (isPlainObject(value)) {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJsonValue(v, `${path}.${k}`);
    return out;
  }
  throw new InvalidSdkArgumentError(`${path} must be JSON (string, number, boolean, null, array or object); got ${describe(value)}`);
}

/** True for `{…}` literals (not arrays, Dates, class instances or protobuf messages). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "an invalid Date" : `the Date ${value.toISOString()}`;
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}
