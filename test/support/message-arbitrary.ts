/**
 * fast-check arbitraries for any protobuf-es message type, built from its descriptor: every
 * field kind, oneofs, Struct and Value, with values at and past every documented limit (lengths
 * around the limits, odd Unicode, huge strings, long lists, int edges, -0 and infinities). Used
 * by the fuzz test (hostile requests) and the codec property test (random messages of every
 * type the services send).
 */
import { create, type DescEnum, type DescField, type DescMessage, type JsonObject, type JsonValue, type Message, ScalarType } from "@bufbuild/protobuf";
import { NullValue, type Value, ValueSchema } from "@bufbuild/protobuf/wkt";
import * as fc from "fast-check";

/** Nesting depth of generated messages. */
const MAX_DEPTH = 4;

/** Lengths around every documented limit (names, emails, phones, keys, display names, ids, …). */
const LIMIT_LENGTHS = [2, 3, 25, 26, 50, 51, 64, 65, 80, 81, 100, 101, 150, 151, 180, 181, 190, 191, 200, 201, 320, 321, 1000, 1001, 2000, 2001];
/** Characters that change length when lower-cased or encoded, and plain ones. */
const LIMIT_CHARS = ["a", "1", " ", "İ", "ß", "😀", "𝐀", "\u0000", "@", "."];

export const FILTER_OPERATORS = [
  "$eq",
  "$ne",
  "$gt",
  "$gte",
  "$lt",
  "$lte",
  "$in",
  "$nin",
  "$exists",
  "$startsWith",
  "$hasSome",
  "$hasAll",
  "$and",
  "$or",
  "$not",
  "$date",
  "$regex",
];
export const FIELD_PATHS = [
  "id",
  "revision",
  "key",
  "namespace",
  "displayName",
  "labelType",
  "fieldType",
  "dataType",
  "createdDate",
  "updatedDate",
  "lastActivity.activityDate",
  "lastActivity.activityType",
  "primaryInfo.email",
  "primaryInfo.phone",
  "primaryEmail.subscriptionStatus",
  "info.name.first",
  "info.name.last",
  "info.name",
  "info.emails",
  "info.emails.email",
  "info.phones.phone",
  "info.phones.e164Phone",
  "info.addresses.address.city",
  "info.company",
  "info.jobTitle",
  "info.job_title",
  "info.birthdate",
  "info.locale",
  "info.labelKeys",
  "info.label_keys",
  "info.locations",
  "info.assignedUserIds",
  "info.extendedFields",
  "info.extended_fields",
  "info.extendedFields.custom.notes",
  "info.extended_fields.custom.notes",
  "info.extendedFields.custom.shoe-size",
  "memberInfo.status",
  "source.sourceType",
  "info",
  "",
];

export interface Dictionary {
  /** Domain strings: real ids, keys, emails, paths, operators, dates. */
  strings: string[];
}

function stringArb(d: Dictionary, small = false): fc.Arbitrary<string> {
  const huge = small ? [] : [{ arbitrary: fc.integer({ min: 5_000, max: 60_000 }).map((n) => "x".repeat(n)), weight: 1 }];
  return fc.oneof(
    { arbitrary: fc.constantFrom(...d.strings), weight: 6 },
    { arbitrary: fc.constant(""), weight: 2 },
    { arbitrary: fc.string({ maxLength: 24 }), weight: 3 },
    { arbitrary: fc.string({ unit: "grapheme", maxLength: 16 }), weight: 2 },
    { arbitrary: fc.string({ unit: "binary", maxLength: 16 }), weight: 1 },
    { arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), maxLength: 8 }), weight: 1 },
    { arbitrary: fc.tuple(fc.constantFrom(...LIMIT_CHARS), fc.constantFrom(...LIMIT_LENGTHS)).map(([c, n]) => c.repeat(n)), weight: 2 },
    { arbitrary: fc.tuple(fc.constantFrom(...d.strings), fc.string({ maxLength: 4 })).map(([a, b]) => a + b), weight: 1 },
    // Huge: far over every limit (not in the items of long lists, which would pass the 4 MiB message limit).
    ...huge,
  );
}

const INT32_EDGES = [0, 1, -1, 2, 50, 51, 100, 101, 1000, 1001, 2000, 2001, 1_000_000, 2 ** 31 - 1, -(2 ** 31)];
const int32Arb = fc.oneof(fc.constantFrom(...INT32_EDGES), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -5, max: 10 }));
const uint32Arb = fc.oneof(fc.constantFrom(0, 1, 2 ** 32 - 1, 2 ** 31), fc.integer({ min: 0, max: 2 ** 32 - 1 }));
const int64Arb = fc.oneof(fc.constantFrom(0n, -1n, 2n ** 63n - 1n, -(2n ** 63n)), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
const uint64Arb = fc.oneof(fc.constantFrom(0n, 2n ** 64n - 1n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
const doubleArb = fc.oneof(
  fc.double({ noNaN: true }),
  fc.constantFrom(0, -0, 1, -1, 90, 90.0000001, -180.5, 1e308, -1e308, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
);

function scalarArb(type: ScalarType, longAsString: boolean, d: Dictionary, small = false): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.STRING:
      return stringArb(d, small);
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 64 });
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return doubleArb;
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return int32Arb;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return uint32Arb;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return longAsString ? int64Arb.map(String) : int64Arb;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return longAsString ? uint64Arb.map(String) : uint64Arb;
  }
}

function enumArb(e: DescEnum): fc.Arbitrary<number> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...e.values.map((v) => v.number)), weight: 4 },
    { arbitrary: fc.integer({ min: -3, max: 40 }), weight: 1 },
    { arbitrary: fc.constantFrom(2 ** 31 - 1, -(2 ** 31)), weight: 1 },
  );
}

/** Filter-language JSON: operators and field paths as keys, nested, with odd values. */
function jsonArb(d: Dictionary): fc.Arbitrary<JsonValue> {
  const key = fc.oneof(fc.constantFrom(...FILTER_OPERATORS), fc.constantFrom(...FIELD_PATHS), fc.string({ maxLength: 8 }));
  const leaf: fc.Arbitrary<JsonValue> = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(0, -1, 1e308, 2 ** 53),
    stringArb(d),
    fc.constantFrom("2020-01-01", "2020-02-30", "2020-01-01T00:00:00Z", "not a date", "LABEL_TYPE_SYSTEM", "SYSTEM", "TEXT", "NUMBER"),
  );
  const { json } = fc.letrec<{ json: JsonValue }>((tie) => ({
    json: fc.oneof(
      { depthSize: "small", maxDepth: 5 },
      leaf,
      fc.array(tie("json"), { maxLength: 4 }),
      fc.dictionary(key, tie("json"), { maxKeys: 4 }),
      // Structured: {field: {op: value}}, {$and|$or: [...]}, {$not: {...}}.
      fc
        .tuple(fc.constantFrom(...FIELD_PATHS), fc.constantFrom(...FILTER_OPERATORS), tie("json"))
        .map(([field, op, value]): JsonValue => ({ [field]: { [op]: value } })),
      fc.tuple(fc.constantFrom("$and", "$or"), fc.array(tie("json"), { maxLength: 3 })).map(([op, parts]): JsonValue => ({ [op]: parts })),
      tie("json").map((inner): JsonValue => ({ $not: inner })),
    ),
  }));
  return json;
}

function structArb(d: Dictionary): fc.Arbitrary<JsonObject> {
  return jsonArb(d).map((v) => (v !== null && typeof v === "object" && !Array.isArray(v) ? v : { displayName: v }));
}

/** google.protobuf.Value messages, including one with no kind and unknown NullValue numbers. */
function valueArb(d: Dictionary): fc.Arbitrary<Value> {
  const { value } = fc.letrec<{ value: Value }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", maxDepth: 3 },
      fc.constant(null).map(() => create(ValueSchema)),
      fc.constantFrom(NullValue.NULL_VALUE, 1, -1).map((n) => create(ValueSchema, { kind: { case: "nullValue", value: n as NullValue } })),
      doubleArb.map((n) => create(ValueSchema, { kind: { case: "numberValue", value: n } })),
      stringArb(d).map((s) => create(ValueSchema, { kind: { case: "stringValue", value: s } })),
      fc.boolean().map((b) => create(ValueSchema, { kind: { case: "boolValue", value: b } })),
      fc.array(tie("value"), { maxLength: 3 }).map((values) => create(ValueSchema, { kind: { case: "listValue", value: { values } } })),
      fc
        .dictionary(fc.string({ maxLength: 6 }), tie("value"), { maxKeys: 3 })
        .map((fields) => create(ValueSchema, { kind: { case: "structValue", value: { fields } } })),
    ),
  }));
  return value;
}

/** Builds arbitraries for messages, fields and values of a schema, with a depth limit. */
export class Generator {
  private readonly cache = new Map<string, fc.Arbitrary<Message | undefined>>();
  private smallGen: Generator | undefined;
  /** `small`: no huge strings and no long lists, for the items of a long list. */
  constructor(
    readonly dict: Dictionary,
    readonly small = false,
  ) {}

  private get smaller(): Generator {
    this.smallGen ??= new Generator(this.dict, true);
    return this.smallGen;
  }

  message(desc: DescMessage, depth = 0): fc.Arbitrary<Message | undefined> {
    const key = `${desc.typeName}@${depth}`;
    let arb = this.cache.get(key);
    if (!arb) {
      arb = this.build(desc, depth);
      this.cache.set(key, arb);
    }
    return arb;
  }

  /** A message value for a field: Struct fields are plain JSON objects in protobuf-es. */
  fieldMessage(desc: DescMessage, depth: number): fc.Arbitrary<unknown> {
    if (desc.typeName === "google.protobuf.Struct") return structArb(this.dict);
    if (desc.typeName === "google.protobuf.Value") return valueArb(this.dict);
    return this.message(desc, depth);
  }

  private build(desc: DescMessage, depth: number): fc.Arbitrary<Message | undefined> {
    if (depth > MAX_DEPTH) return fc.constant(undefined);
    const parts: Record<string, fc.Arbitrary<unknown>> = {};
    for (const member of desc.members) {
      if (member.kind === "oneof") {
        const cases = member.fields.map((f) => this.single(f, depth).map((value) => (value === undefined ? undefined : { case: f.localName, value })));
        parts[member.localName] = fc.option(fc.oneof(...cases), { nil: undefined });
      } else {
        parts[member.localName] = this.field(member, depth);
      }
    }
    return fc.record(parts, { requiredKeys: [] }).map((init) => create(desc, init as never));
  }

  /** One value of a singular field (or of a oneof member). */
  private single(f: DescField, depth: number): fc.Arbitrary<unknown> {
    switch (f.fieldKind) {
      case "scalar":
        return scalarArb(f.scalar, f.longAsString, this.dict, this.small);
      case "enum":
        return enumArb(f.enum);
      case "message":
        return this.fieldMessage(f.message, depth + 1);
      default:
        return this.field(f, depth);
    }
  }

  private field(f: DescField, depth: number): fc.Arbitrary<unknown> {
    switch (f.fieldKind) {
      case "list": {
        if (f.listKind === "message" && depth + 1 > MAX_DEPTH) return fc.constant([]);
        const item = (g: Generator) =>
          f.listKind === "scalar"
            ? scalarArb(f.scalar, f.longAsString, g.dict, g.small)
            : f.listKind === "enum"
              ? enumArb(f.enum)
              : g.fieldMessage(f.message, depth + 1).filter((m) => m !== undefined);
        const few = fc.array(item(this), { maxLength: 4 });
        if (this.small) return few;
        // Now and then many items (one small item repeated: cheap to build and shrink), past every count limit.
        const many = fc.tuple(item(this.smaller), fc.constantFrom(11, 50, 51, 100, 101, 1001, 2001)).map(([x, n]) => Array<unknown>(n).fill(x));
        return fc.oneof({ arbitrary: few, weight: 8 }, { arbitrary: many, weight: 1 });
      }
      case "map": {
        const keyArb = f.mapKey === ScalarType.STRING ? stringArb(this.dict, this.small) : scalarArb(f.mapKey, false, this.dict).map(String);
        const val =
          f.mapKind === "scalar"
            ? scalarArb(f.scalar, false, this.dict, this.small)
            : f.mapKind === "enum"
              ? enumArb(f.enum)
              : this.fieldMessage(f.message, depth + 1).filter((m) => m !== undefined);
        if (f.mapKind === "message" && depth + 1 > MAX_DEPTH) return fc.constant({});
        return fc.dictionary(keyArb, val, { maxKeys: 4 });
      }
      default:
        return this.single(f, depth);
    }
  }
}
