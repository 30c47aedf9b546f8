/**
 * The fast protobuf codecs (server/src/protobuf) against protobuf-es, on random messages of every
 * type in our generated code, services' requests and responses and their well-known types alike:
 *
 *   - encodeBinary(desc, m) is byte for byte toBinary(desc, m), including unknown fields,
 *     -0, infinities, lone surrogates, huge strings and long lists; and where toBinary refuses a
 *     value, encodeBinary refuses it with the same error;
 *   - readJson(desc, j) is fromJson(desc, j) for the JSON toJson writes (with and without
 *     implicit zero values, and after a JSON.stringify/parse round trip, as stored), and for
 *     JSON in forms the fast path leaves to fromJson (proto names, nulls, numeric enums, numbers
 *     as strings): the same message, or the same error.
 *
 * CODEC_RUNS (default 100) runs per file and property; CODEC_SEED replays a run (printed).
 */
import { create, type DescFile, type DescMessage, equals, fromJson, type JsonValue, type Message, toBinary, toJson } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FieldDescriptorProtoSchema, StructSchema, TimestampSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { file_contacts_v1_common } from "../gen/contacts/v1/common_pb.js";
import { ContactSchema, file_contacts_v1_contact } from "../gen/contacts/v1/contact_pb.js";
import { file_contacts_v1_contacts_service, GetContactResponseSchema } from "../gen/contacts/v1/contacts_service_pb.js";
import { file_contacts_v1_events_service } from "../gen/contacts/v1/events_service_pb.js";
import { file_contacts_v1_extended_fields_service } from "../gen/contacts/v1/extended_fields_service_pb.js";
import { file_contacts_v1_labels_service } from "../gen/contacts/v1/labels_service_pb.js";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../gen/google/rpc/status_pb.js";
import { file_grpc_health_v1_health } from "../gen/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { encodeBinary } from "../server/src/protobuf/binary-encoder.js";
import { readJson } from "../server/src/protobuf/json-reader.js";
import { Generator } from "./support/message-arbitrary.js";

const RUNS = Number(process.env.CODEC_RUNS ?? 100);
const SEED = process.env.CODEC_SEED !== undefined ? Number(process.env.CODEC_SEED) : Math.floor(Math.random() * 2 ** 31);
console.log(`[codecs] seed=${SEED} runs=${RUNS} per file and property; replay with CODEC_SEED=${SEED}`);

const FILES: readonly DescFile[] = [
  file_contacts_v1_common,
  file_contacts_v1_contact,
  file_contacts_v1_contacts_service,
  file_contacts_v1_labels_service,
  file_contacts_v1_extended_fields_service,
  file_contacts_v1_events_service,
  file_google_rpc_status,
  file_google_rpc_error_details,
  file_grpc_health_v1_health,
  file_grpc_reflection_v1_reflection,
];

// Small: strings up to a few thousand characters and short lists (one test below has a huge string).
const gen = new Generator(
  { strings: ["custom.vip", "contacts.displayByFirstName", "EMAIL_TAG_WORK", "2026-01-01T00:00:00Z", "ada@example.com", "$eq", "info.name.first"] },
  true,
);

function messagesOf(file: DescFile): DescMessage[] {
  return [...nestedTypes(file)].filter((t): t is DescMessage => t.kind === "message");
}

/** A random message of one of the file's types, with its type. */
function anyMessage(file: DescFile): fc.Arbitrary<{ desc: DescMessage; message: Message }> {
  return fc.oneof(...messagesOf(file).map((desc) => gen.message(desc).map((m) => ({ desc, message: m ?? create(desc) }))));
}

/** The outcome of a codec call: its value or its error's message. */
function outcome<T>(f: () => T): { value: T } | { error: string } {
  try {
    return { value: f() };
  } catch (e) {
    return { error: String((e as Error).message) };
  }
}

const options = { seed: SEED, numRuns: RUNS };

describe("encodeBinary", () => {
  for (const file of FILES) {
    it(`is toBinary for every message of ${file.name}`, () => {
      fc.assert(
        fc.property(anyMessage(file), ({ desc, message }) => {
          const expected = outcome(() => Buffer.from(toBinary(desc, message)));
          const actual = outcome(() => encodeBinary(desc, message));
          expect(actual).toEqual(expected);
        }),
        options,
      );
    });
  }

  it("writes unknown fields, -0, non-finite doubles, lone surrogates and non-BMP text as toBinary does", () => {
    const value = create(ValueSchema, { kind: { case: "numberValue", value: -0 } });
    const contact = create(ContactSchema, {
      id: "\ud800x\udc00 😀 é ß",
      revision: -1,
      info: {
        name: { first: "a".repeat(10_000), last: "\udbff" },
        extendedFields: {
          items: {
            "custom.a": value,
            "custom.b": create(ValueSchema, { kind: { case: "numberValue", value: Number.NEGATIVE_INFINITY } }),
            "custom.c": create(ValueSchema),
          },
        },
      },
    });
    contact.$unknown = [
      { no: 999, wireType: 0, data: new Uint8Array([0x96, 0x01]) },
      { no: 536870911, wireType: 2, data: new Uint8Array([2, 0xff, 0x00]) },
    ];
    const res = create(GetContactResponseSchema, { contact });
    expect(encodeBinary(GetContactResponseSchema, res)).toEqual(Buffer.from(toBinary(GetContactResponseSchema, res)));
  });

  it("refuses what toBinary refuses, with its error", () => {
    const bad = create(ContactSchema, { revision: 1.5 });
    expect(() => toBinary(ContactSchema, bad)).toThrow();
    expect(outcome(() => encodeBinary(ContactSchema, bad))).toEqual(outcome(() => toBinary(ContactSchema, bad)));
    const badTime = create(TimestampSchema, { seconds: 2n ** 64n });
    expect(outcome(() => encodeBinary(TimestampSchema, badTime))).toEqual(outcome(() => toBinary(TimestampSchema, badTime)));
  });

  it("encodes proto2 messages (presence by own property, defaults on the prototype) as toBinary does", () => {
    const f = create(FieldDescriptorProtoSchema, { name: "x", number: 0, jsonName: "" });
    expect(encodeBinary(FieldDescriptorProtoSchema, f)).toEqual(Buffer.from(toBinary(FieldDescriptorProtoSchema, f)));
  });
});

describe("readJson", () => {
  for (const file of FILES) {
    it(`is fromJson for the JSON toJson writes, for every message of ${file.name}`, () => {
      fc.assert(
        fc.property(anyMessage(file), fc.boolean(), ({ desc, message }, alwaysEmitImplicit) => {
          const json = outcome(() => toJson(desc, message, { alwaysEmitImplicit }));
          fc.pre("value" in json); // e.g. a Value with no kind has no JSON form
          const stored = JSON.parse(JSON.stringify(json.value)) as JsonValue;
          for (const j of [json.value, stored]) {
            const expected = fromJson(desc, j);
            const actual = readJson(desc, j);
            expect(equals(desc, actual, expected)).toBe(true);
            expect(Buffer.from(toBinary(desc, actual))).toEqual(Buffer.from(toBinary(desc, expected)));
          }
        }),
        options,
      );
    });
  }

  it("gives fromJson's answer, message or error, for JSON outside the canonical form", () => {
    /** Rewrites canonical JSON into forms fromJson also accepts (or refuses). */
    const twist = (json: JsonValue, choice: number): JsonValue => {
      if (Array.isArray(json)) return json.map((x, i) => twist(x, choice + i));
      if (json === null || typeof json !== "object") {
        switch (choice % 7) {
          case 0:
            return typeof json === "number" ? String(json) : json; // numbers as strings
          case 1:
            return json === "EMAIL_TAG_WORK" ? 1 : json; // an enum by number
          case 2:
            return null;
          default:
            return json;
        }
      }
      const out: Record<string, JsonValue> = {};
      let i = choice;
      for (const [k, v] of Object.entries(json)) {
        const key = i % 5 === 0 ? k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : i % 11 === 0 ? `${k}X` : k;
        out[key] = twist(v as JsonValue, i++);
      }
      return out;
    };
    fc.assert(
      fc.property(anyMessage(file_contacts_v1_contacts_service), fc.nat(), ({ desc, message }, choice) => {
        const json = outcome(() => toJson(desc, message));
        fc.pre("value" in json);
        const j = twist(json.value, choice);
        const expected = outcome(() => fromJson(desc, j));
        const actual = outcome(() => readJson(desc, j));
        if ("error" in expected) expect(actual).toEqual(expected);
        else {
          expect("value" in actual && equals(desc, actual.value, expected.value)).toBe(true);
        }
      }),
      options,
    );
  });

  it("reads a stored contact, timestamps and Struct as fromJson does", () => {
    const doc = {
      id: "c1",
      revision: 3,
      createdDate: "2026-12-02T10:00:00.123Z",
      updatedDate: "2026-12-02T10:00:00Z",
      lastActivity: { activityDate: "2026-12-02T10:00:00.123456789Z", activityType: "CONTACT_ACTIVITY_TYPE_CONTACT_CREATED" },
      info: {
        name: { first: "Ada" },
        labelKeys: { items: ["custom.vip"] },
        extendedFields: { items: { "custom.n": 1.5, "custom.o": { a: [1, null, "x", { b: true }] }, "custom.z": null } },
      },
    };
    expect(equals(ContactSchema, readJson(ContactSchema, doc), fromJson(ContactSchema, doc))).toBe(true);
    for (const t of ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2026-02-30T00:00:00Z", "2026-12-02T10:00:00+01:00", "10000-01-01T00:00:00Z"]) {
      const a = outcome(() => readJson(ContactSchema, { createdDate: t }));
      const b = outcome(() => fromJson(ContactSchema, { createdDate: t }));
      if ("error" in b) expect(a).toEqual(b);
      else expect("value" in a && equals(ContactSchema, a.value, b.value)).toBe(true);
    }
    const struct = { a: { b: [1, 2, { c: null }] }, d: "e" };
    expect(equals(StructSchema, readJson(StructSchema, struct), fromJson(StructSchema, struct))).toBe(true);
  });

  it("reads every timestamp toISOString writes (stored dates) as fromJson does, and near-misses of that form", () => {
    const same = (t: string) => {
      const a = outcome(() => readJson(ContactSchema, { createdDate: t }));
      const b = outcome(() => fromJson(ContactSchema, { createdDate: t }));
      if ("error" in b) expect(a, t).toEqual(b);
      else expect("value" in a && equals(ContactSchema, a.value, b.value), t).toBe(true);
    };
    const MIN = Date.parse("0001-01-01T00:00:00Z");
    const MAX = Date.parse("9999-12-31T23:59:59.999Z");
    fc.assert(
      fc.property(fc.integer({ min: MIN, max: MAX }), fc.nat(23), fc.nat(9), (ms, at, digit) => {
        const iso = new Date(ms).toISOString();
        same(iso);
        same(`${iso.slice(0, at)}${digit}${iso.slice(at + 1)}`); // one character replaced by a digit
      }),
      { ...options, numRuns: RUNS * 20 },
    );
    // Day and month boundaries, leap days, hour 24, two-digit years and the range's ends.
    for (const t of [
      "2024-02-29T00:00:00.000Z",
      "2025-02-29T00:00:00.000Z",
      "2026-04-31T12:00:00.000Z",
      "2026-12-31T23:59:59.999Z",
      "2026-01-01T24:00:00.000Z",
      "0099-06-15T00:00:00.000Z",
      "0001-01-01T00:00:00.000Z",
      "9999-12-31T23:59:59.999Z",
      "2026-00-10T00:00:00.000Z",
    ]) {
      same(t);
    }
  });
});
