/**
 * `toBinary` for responses, byte for byte, at a fraction of its cost.
 *
 * protobuf-es's `toBinary` walks a message through its reflection API (a wrapper object per
 * nested message, list and map, a keyed property read per declared field) and writes through
 * `BinaryWriter` (a `TextEncoder` call and a chunk per string, a copy per nested message):
 * ~45 µs for a 1 KB contact, a tenth of a GetContact's server time. Like protobufjs, this
 * encoder generates JavaScript once per message type — one function that measures a message
 * and one that writes it, with each field's property read, presence test and wire format
 * spelled out — and then encodes in two passes: the first records the length of every nested
 * message and string in the order they are met, the second writes into one Buffer of exactly
 * the right size.
 *
 * The bytes are `toBinary`'s with default options: fields in field-number order, then unknown
 * fields; implicit-presence fields skipped at their zero value (-0 is not zero for floats, as
 * there); a `google.protobuf.Struct` field, held as a JSON object, encoded as a Struct. What it
 * does not handle it leaves to `toBinary`, so a result is never different, only slower: message
 * types with features ours do not use (groups, wrapper-type fields, non-string map keys,
 * required fields, Struct in lists or maps), found when the type is first seen, and values of
 * an unexpected JS type or out of range (for which `toBinary` coerces or throws its own error),
 * found while measuring, before anything is written. test/protobuf-codecs.test.ts compares the
 * two on random messages of every type the services send.
 */
import { type DescField, type DescMessage, type Message, ScalarType, toBinary } from "@bufbuild/protobuf";

// google.protobuf.FeatureSet.FieldPresence
const IMPLICIT = 2;
const LEGACY_REQUIRED = 3;

const STRUCT = "google.protobuf.Struct";
const WRAPPERS = new Set(["Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes"].map((t) => `google.protobuf.${t}Value`));

/** Thrown while measuring a value this encoder leaves to toBinary. */
class Unencodable extends Error {}
const UNENCODABLE = new Unencodable("left to toBinary");

type Encoder = (message: Message) => Buffer;

/** Generated encoders by root message type; `null` for a type left to toBinary. */
const encoders = new WeakMap<DescMessage, Encoder | null>();

/** Encodes `message` of type `desc` exactly as `toBinary(desc, message)` does. */
export function encodeBinary(desc: DescMessage, message: Message): Buffer {
  let encode = encoders.get(desc);
  if (encode === undefined) {
    encode = generateEncoder(desc);
    encoders.set(desc, encode);
  }
  if (encode !== null) {
    try {
      return encode(message);
    } catch (e) {
      if (e !== UNENCODABLE) throw e;
    }
  }
  return Buffer.from(toBinary(desc, message));
}

// --- helpers the generated code calls ------------------------------------------------------

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** UTF-8 length as TextEncoder counts it (a lone surrogate becomes U+FFFD: 3 bytes). */
function utf8Length(s: string): number {
  const n = s.length;
  if (n > 48) return Buffer.byteLength(s, "utf8");
  let len = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) len += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      len += 2; // a surrogate pair: 2 UTF-16 units, 4 bytes
      i++;
    } else len += 2;
  }
  return len;
}

/** A 64-bit integer field's value as the unsigned 64-bit number written for it. */
function u64(type: ScalarType, v: unknown): bigint {
  if (typeof v !== "bigint") throw UNENCODABLE;
  switch (type) {
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      if (v < 0n || v > UINT64_MAX) throw UNENCODABLE;
      return v;
    case ScalarType.SINT64:
      if (v < INT64_MIN || v > INT64_MAX) throw UNENCODABLE;
      return BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    default:
      if (v < INT64_MIN || v > INT64_MAX) throw UNENCODABLE;
      return BigInt.asUintN(64, v);
  }
}

function varint64Size(x: bigint): number {
  let size = 1;
  if (x <= SAFE) {
    for (let n = Number(x); n >= 0x80; n = Math.floor(n / 0x80)) size++;
    return size;
  }
  for (; x >= 0x80n; x >>= 7n) size++;
  return size;
}

const helpers = { Buffer, UNENCODABLE, utf8Length, u64, varint64Size, SAFE };

/**
 * The generated code's shared part: state, varints, strings, Struct-as-JSON, unknown fields.
 * `L` holds the lengths pass 1 found, `li` is pass 2's place in it.
 */
const PRELUDE = `
"use strict";
const { Buffer, UNENCODABLE, utf8Length, u64, varint64Size, SAFE } = h;
const hasOwn = Object.prototype.hasOwnProperty;
const EMPTY = Buffer.alloc(0);
const F32 = 3.4028234663852886e38;
let buf = EMPTY, pos = 0, li = 0, L = [];
function vs32(v) { return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5; }
function reserve() { L.push(0); return L.length - 1; }
function settle(at, len) { L[at] = len; return vs32(len) + len; }
function sstr(v) { if (typeof v !== "string") throw UNENCODABLE; const l = utf8Length(v); L.push(l); return vs32(l) + l; }
function wv32(v) { while (v > 0x7f) { buf[pos++] = (v & 0x7f) | 0x80; v >>>= 7; } buf[pos++] = v; }
function wv64(x) {
  if (x <= SAFE) {
    let n = Number(x);
    while (n >= 0x80) { buf[pos++] = (n % 0x80) | 0x80; n = Math.floor(n / 0x80); }
    buf[pos++] = n;
    return;
  }
  while (x >= 0x80n) { buf[pos++] = Number(x & 0x7fn) | 0x80; x >>= 7n; }
  buf[pos++] = Number(x);
}
function wneg32(v) { wv64(BigInt.asUintN(64, BigInt(v))); }
function wstr(s) {
  const len = L[li++];
  wv32(len);
  if (len === s.length && len < 64) { for (let i = 0; i < len; i++) buf[pos++] = s.charCodeAt(i); }
  else pos += buf.write(s, pos, len, "utf8");
}
function wbytes(b) { wv32(b.byteLength); buf.set(b, pos); pos += b.byteLength; }
function sUnknown(u) { let s = 0; for (const x of u) s += vs32(((x.no << 3) | x.wireType) >>> 0) + x.data.byteLength; return s; }
function wUnknown(u) { for (const x of u) { wv32(((x.no << 3) | x.wireType) >>> 0); buf.set(x.data, pos); pos += x.data.byteLength; } }
// google.protobuf.Struct from JSON: Struct { map<string, Value> fields = 1 }; Value { oneof kind {
// NullValue null_value = 1; double number_value = 2; string string_value = 3; bool bool_value = 4;
// Struct struct_value = 5; ListValue list_value = 6 } }; ListValue { repeated Value values = 1 }.
function sStruct(json) {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw UNENCODABLE;
  let s = 0;
  for (const k of Object.keys(json)) {
    const entry = reserve();
    const key = 1 + sstr(k);
    const value = reserve();
    s += 1 + settle(entry, key + 1 + settle(value, sValue(json[k])));
  }
  return s;
}
function sValue(x) {
  switch (typeof x) {
    case "number": return 9;
    case "string": return 1 + sstr(x);
    case "boolean": return 2;
    case "object": {
      if (x === null) return 2;
      const at = reserve();
      if (!Array.isArray(x)) return 1 + settle(at, sStruct(x));
      let len = 0;
      for (const e of x) { const item = reserve(); len += 1 + settle(item, sValue(e)); }
      return 1 + settle(at, len);
    }
    default: throw UNENCODABLE;
  }
}
function wStruct(json) {
  for (const k of Object.keys(json)) {
    buf[pos++] = 10; wv32(L[li++]);
    buf[pos++] = 10; wstr(k);
    buf[pos++] = 18; wv32(L[li++]);
    wValue(json[k]);
  }
}
function wValue(x) {
  switch (typeof x) {
    case "number": buf[pos++] = 17; pos = buf.writeDoubleLE(x, pos); return;
    case "string": buf[pos++] = 26; wstr(x); return;
    case "boolean": buf[pos++] = 32; buf[pos++] = x ? 1 : 0; return;
  }
  if (x === null) { buf[pos++] = 8; buf[pos++] = 0; return; }
  if (Array.isArray(x)) {
    buf[pos++] = 50; wv32(L[li++]);
    for (const e of x) { buf[pos++] = 10; wv32(L[li++]); wValue(e); }
    return;
  }
  buf[pos++] = 42; wv32(L[li++]); wStruct(x);
}
`;

// --- code generation --------------------------------------------------------------------------

function wireOf(scalar: ScalarType): number {
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return 2;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return 1;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return 5;
    default:
      return 0;
  }
}

function varintBytes(v: number): number[] {
  const out: number[] = [];
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** A field's tag: its byte count and the statements that write it. */
function tagOf(number: number, wire: number): { size: number; write: string } {
  const bytes = varintBytes(((number << 3) | wire) >>> 0);
  return { size: bytes.length, write: bytes.map((b) => `buf[pos++] = ${b};`).join(" ") };
}

function isStructJson(f: DescField): boolean {
  return f.fieldKind === "message" && f.message.typeName === STRUCT && f.parent.typeName !== "google.protobuf.Value";
}

/** The message type a field's values are encoded with, if any (Struct-as-JSON fields have none). */
function nestedType(f: DescField): DescMessage | undefined {
  if (f.fieldKind === "message") return isStructJson(f) ? undefined : f.message;
  if (f.fieldKind === "list" && f.listKind === "message") return f.message;
  if (f.fieldKind === "map" && f.mapKind === "message") return f.message;
  return undefined;
}

/** Why this encoder leaves a field to toBinary, or undefined. */
function unsupported(f: DescField): string | undefined {
  if (f.presence === LEGACY_REQUIRED) return "required field";
  if ("delimitedEncoding" in f && f.delimitedEncoding) return "group encoding";
  const msg = nestedType(f);
  if (msg && WRAPPERS.has(msg.typeName) && f.fieldKind === "message" && !f.oneof) return "unwrapped wrapper type";
  if (msg?.typeName === STRUCT && f.fieldKind !== "message") return "Struct in a list or map";
  if (f.fieldKind === "map" && f.mapKey !== ScalarType.STRING) return "non-string map key";
  return undefined;
}

/** Statements adding the encoded size of scalar `v` (without tag) to `acc`. */
function sizeScalar(type: ScalarType, v: string, acc: string): string {
  switch (type) {
    case ScalarType.STRING:
      return `${acc} += sstr(${v});`;
    case ScalarType.BYTES:
      return `if (!(${v} instanceof Uint8Array)) throw UNENCODABLE; ${acc} += vs32(${v}.byteLength) + ${v}.byteLength;`;
    case ScalarType.BOOL:
      return `if (typeof ${v} !== "boolean") throw UNENCODABLE; ${acc} += 1;`;
    case ScalarType.INT32:
      return `if (typeof ${v} !== "number" || (${v} | 0) !== ${v}) throw UNENCODABLE; ${acc} += ${v} < 0 ? 10 : vs32(${v});`;
    case ScalarType.SINT32:
      return `if (typeof ${v} !== "number" || (${v} | 0) !== ${v}) throw UNENCODABLE; ${acc} += vs32(((${v} << 1) ^ (${v} >> 31)) >>> 0);`;
    case ScalarType.UINT32:
      return `if (typeof ${v} !== "number" || ${v} >>> 0 !== ${v}) throw UNENCODABLE; ${acc} += vs32(${v});`;
    case ScalarType.FIXED32:
      return `if (typeof ${v} !== "number" || ${v} >>> 0 !== ${v}) throw UNENCODABLE; ${acc} += 4;`;
    case ScalarType.SFIXED32:
      return `if (typeof ${v} !== "number" || (${v} | 0) !== ${v}) throw UNENCODABLE; ${acc} += 4;`;
    case ScalarType.FLOAT:
      return `if (typeof ${v} !== "number" || (Math.abs(${v}) > F32 && Math.abs(${v}) !== Infinity)) throw UNENCODABLE; ${acc} += 4;`;
    case ScalarType.DOUBLE:
      return `if (typeof ${v} !== "number") throw UNENCODABLE; ${acc} += 8;`;
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return `u64(${type}, ${v}); ${acc} += 8;`;
    default:
      return `${acc} += varint64Size(u64(${type}, ${v}));`;
  }
}

/** Statements writing scalar `v` (already measured, so of the right type). */
function writeScalar(type: ScalarType, v: string): string {
  switch (type) {
    case ScalarType.STRING:
      return `wstr(${v});`;
    case ScalarType.BYTES:
      return `wbytes(${v});`;
    case ScalarType.BOOL:
      return `buf[pos++] = ${v} ? 1 : 0;`;
    case ScalarType.INT32:
      return `if (${v} >= 0) wv32(${v}); else wneg32(${v});`;
    case ScalarType.SINT32:
      return `wv32(((${v} << 1) ^ (${v} >> 31)) >>> 0);`;
    case ScalarType.UINT32:
      return `wv32(${v});`;
    case ScalarType.FIXED32:
      return `pos = buf.writeUInt32LE(${v}, pos);`;
    case ScalarType.SFIXED32:
      return `pos = buf.writeInt32LE(${v}, pos);`;
    case ScalarType.FLOAT:
      return `pos = buf.writeFloatLE(${v}, pos);`;
    case ScalarType.DOUBLE:
      return `pos = buf.writeDoubleLE(${v}, pos);`;
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return `pos = buf.writeBigUInt64LE(u64(${type}, ${v}), pos);`;
    default:
      return `wv64(u64(${type}, ${v}));`;
  }
}

/** The condition under which a singular implicit-presence scalar `v` is written (not zero). */
function nonZero(type: ScalarType, v: string): string {
  switch (type) {
    case ScalarType.BOOL:
      return `${v} !== false`;
    case ScalarType.STRING:
      return `${v} !== ""`;
    case ScalarType.BYTES:
      return `!(${v} instanceof Uint8Array && ${v}.byteLength === 0)`;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return `!Object.is(${v}, 0)`;
    default:
      return `${v} != 0`; // loose, as protobuf-es: 0, 0n and "0"
  }
}

interface Emitted {
  size: string;
  write: string;
}

/** Size and write statements for one field of the message `m`, given the generated function names. */
function emitField(f: DescField, fn: (d: DescMessage) => number): Emitted {
  const p = JSON.stringify(f.localName);
  // Reads the value into `v` and runs `body` when the field is set.
  const guarded = (set: string, body: string): string => {
    if (f.oneof) return `{ const o = m[${JSON.stringify(f.oneof.localName)}]; if (o.case === ${p}) { const v = o.value; ${body} } }`;
    if (f.presence !== IMPLICIT) return `{ const v = m[${p}]; if (v !== undefined && hasOwn.call(m, ${p})) { ${body} } }`;
    return `{ const v = m[${p}]; if (${set}) { ${body} } }`;
  };
  switch (f.fieldKind) {
    case "scalar":
    case "enum": {
      const type = f.fieldKind === "enum" ? ScalarType.INT32 : f.scalar;
      const set = f.fieldKind === "enum" ? `v !== ${f.enum.values[0]?.number ?? 0}` : nonZero(type, "v");
      const tag = tagOf(f.number, wireOf(type));
      return {
        size: guarded(set, `s += ${tag.size}; ${sizeScalar(type, "v", "s")}`),
        write: guarded(set, `${tag.write} ${writeScalar(type, "v")}`),
      };
    }
    case "message": {
      const tag = tagOf(f.number, 2);
      if (isStructJson(f)) {
        return {
          size: guarded("true", `s += ${tag.size} + settle(reserve(), sStruct(v));`),
          write: guarded("true", `${tag.write} wv32(L[li++]); wStruct(v);`),
        };
      }
      const i = fn(f.message);
      return {
        size: guarded("true", `const at = reserve(); s += ${tag.size} + settle(at, s${i}(v));`),
        write: guarded("true", `${tag.write} wv32(L[li++]); w${i}(v);`),
      };
    }
    case "list": {
      if (f.listKind === "message") {
        const tag = tagOf(f.number, 2);
        const i = fn(f.message);
        return {
          size: guarded("v.length > 0", `for (const x of v) { const at = reserve(); s += ${tag.size} + settle(at, s${i}(x)); }`),
          write: guarded("v.length > 0", `for (const x of v) { ${tag.write} wv32(L[li++]); w${i}(x); }`),
        };
      }
      const type = f.listKind === "enum" ? ScalarType.INT32 : f.scalar;
      if (f.packed) {
        const tag = tagOf(f.number, 2);
        return {
          size: guarded(
            "v.length > 0",
            `if (v.length > 0) { const at = reserve(); let n = 0; for (const x of v) { ${sizeScalar(type, "x", "n")} } s += ${tag.size} + settle(at, n); }`,
          ),
          write: guarded("v.length > 0", `if (v.length > 0) { ${tag.write} wv32(L[li++]); for (const x of v) { ${writeScalar(type, "x")} } }`),
        };
      }
      const tag = tagOf(f.number, wireOf(type));
      return {
        size: guarded("v.length > 0", `for (const x of v) { s += ${tag.size}; ${sizeScalar(type, "x", "s")} }`),
        write: guarded("v.length > 0", `for (const x of v) { ${tag.write} ${writeScalar(type, "x")} }`),
      };
    }
    case "map": {
      const tag = tagOf(f.number, 2);
      const set = "Object.keys(v).length > 0";
      if (f.mapKind === "message") {
        const i = fn(f.message);
        return {
          size: guarded(
            set,
            `for (const k of Object.keys(v)) { const at = reserve(); let e = 1 + sstr(k); const vat = reserve(); e += 1 + settle(vat, s${i}(v[k])); s += ${tag.size} + settle(at, e); }`,
          ),
          write: guarded(
            set,
            `for (const k of Object.keys(v)) { ${tag.write} wv32(L[li++]); buf[pos++] = 10; wstr(k); buf[pos++] = 18; wv32(L[li++]); w${i}(v[k]); }`,
          ),
        };
      }
      const type = f.mapKind === "enum" ? ScalarType.INT32 : f.scalar;
      const valueTag = (2 << 3) | wireOf(type);
      return {
        size: guarded(
          set,
          `for (const k of Object.keys(v)) { const at = reserve(); let e = 1 + sstr(k) + 1; const x = v[k]; ${sizeScalar(type, "x", "e")} s += ${tag.size} + settle(at, e); }`,
        ),
        write: guarded(
          set,
          `for (const k of Object.keys(v)) { ${tag.write} wv32(L[li++]); buf[pos++] = 10; wstr(k); buf[pos++] = ${valueTag}; const x = v[k]; ${writeScalar(type, "x")} }`,
        ),
      };
    }
  }
}

/** Generates the encoder for `root` and every type it reaches, or null if one is left to toBinary. */
function generateEncoder(root: DescMessage): Encoder | null {
  const types: DescMessage[] = [];
  const index = new Map<DescMessage, number>();
  const add = (d: DescMessage): boolean => {
    if (index.has(d)) return true;
    index.set(d, types.length);
    types.push(d);
    for (const f of d.fields) {
      if (unsupported(f) !== undefined) return false;
      const nested = nestedType(f);
      if (nested && !add(nested)) return false;
    }
    return true;
  };
  if (!add(root)) return null;
  const fn = (d: DescMessage): number => index.get(d) as number;
  const parts = [PRELUDE];
  for (const [i, d] of types.entries()) {
    const fields = [...d.fields].sort((a, b) => a.number - b.number).map((f) => emitField(f, fn));
    parts.push(
      `// ${d.typeName}`,
      `function s${i}(m) {`,
      `  if (typeof m !== "object" || m === null) throw UNENCODABLE;`,
      "  let s = 0;",
      ...fields.map((e) => `  ${e.size}`),
      "  if (m.$unknown !== undefined) s += sUnknown(m.$unknown);",
      "  return s;",
      "}",
      `function w${i}(m) {`,
      ...fields.map((e) => `  ${e.write}`),
      "  if (m.$unknown !== undefined) wUnknown(m.$unknown);",
      "}",
    );
  }
  parts.push(`
return function encode(m) {
  L.length = 0;
  const size = s0(m);
  buf = Buffer.allocUnsafe(size);
  pos = 0;
  li = 0;
  w0(m);
  const out = buf;
  buf = EMPTY;
  if (pos !== size || li !== L.length) throw new Error("binary encoder: wrote " + pos + " of " + size + " bytes");
  if (L.length > 4096) L = [];
  return out;
};`);
  return new Function("h", parts.join("\n"))(helpers) as Encoder;
}
