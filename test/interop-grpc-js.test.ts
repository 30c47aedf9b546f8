/**
 * Interop: a client that knows nothing of protobuf-es or Connect — plain @grpc/grpc-js with
 * @grpc/proto-loader reading the .proto files of proto/ (not gen/) — talks to the real server,
 * and reads the rich error details from the `grpc-status-details-bin` trailer, both with
 * protobuf-es and with protobufjs.
 */
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { startTestServer, type TestServer } from "./support/server.js";
import { SYSTEM_FIELDS } from "../server/src/domain/extended-fields.js";

const root = join(import.meta.dirname, "..");
const LOADER_OPTIONS: protoLoader.Options = {
  includeDirs: [join(root, "proto"), join(root, "third_party")],
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

// ---- google.protobuf.Struct in proto-loader's object shape -------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface StructObject {
  fields: Record<string, ValueObject>;
}
type ValueObject =
  | { nullValue: "NULL_VALUE" }
  | { numberValue: number }
  | { stringValue: string }
  | { boolValue: boolean }
  | { structValue: StructObject }
  | { listValue: { values: ValueObject[] } };

/**
 * proto-loader (protobufjs) does not map google.protobuf.Struct to plain JSON: a Struct is a
 * message `{fields: {name: Value}}` and a Value is its `kind` oneof, e.g. `{stringValue: "x"}`.
 */
function toValue(json: Json): ValueObject {
  if (json === null) return { nullValue: "NULL_VALUE" };
  if (Array.isArray(json)) return { listValue: { values: json.map(toValue) } };
  switch (typeof json) {
    case "number":
      return { numberValue: json };
    case "string":
      return { stringValue: json };
    case "boolean":
      return { boolValue: json };
    default:
      return { structValue: toStruct(json) };
  }
}

function toStruct(json: { [key: string]: Json }): StructObject {
  return { fields: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, toValue(v)])) };
}

// ---- a plain grpc-js client --------------------------------------------------------------------

interface TimestampObject {
  seconds: string;
  nanos: number;
}
interface LabelObject {
  namespace: string;
  namespaceDisplayName: string;
  key: string;
  displayName: string;
  labelType: string;
  createdDate: TimestampObject | null;
  updatedDate: TimestampObject | null;
}
interface PagingMetadataObject {
  count: number;
  offset: number;
  total: number;
  tooManyToCount: boolean;
  hasNext: boolean;
}

type Callback = (err: grpc.ServiceError | null, res?: unknown) => void;
type UnaryMethod = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback) => grpc.ClientUnaryCall;

/** Calls a unary method by its proto name, with the tenant in `x-tenant-id`. */
function unary<T>(client: grpc.Client, method: string, req: object, tenant: string): Promise<T> {
  const fn = (client as unknown as Record<string, UnaryMethod>)[method];
  if (typeof fn !== "function") throw new Error(`no method ${method}`);
  const md = new grpc.Metadata();
  md.set("x-tenant-id", tenant);
  return new Promise((resolve, reject) => {
    fn.call(client, req, md, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res as T)));
  });
}

async function unaryError(client: grpc.Client, method: string, req: object, tenant: string): Promise<grpc.ServiceError> {
  try {
    await unary(client, method, req, tenant);
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error(`${method} succeeded; expected an error`);
}

function statusDetailsBin(err: grpc.ServiceError): Buffer {
  const values = err.metadata.get("grpc-status-details-bin");
  expect(values).toHaveLength(1);
  const bin = values[0];
  if (!Buffer.isBuffer(bin)) throw new Error("grpc-status-details-bin is not binary");
  return bin;
}

/** Decodes the trailer with protobuf-es and the generated google.rpc types. */
function decodeWithProtobufEs(err: grpc.ServiceError) {
  const status = fromBinary(StatusSchema, statusDetailsBin(err));
  let info: ReturnType<typeof anyUnpack<typeof ErrorInfoSchema>>;
  let badRequest: ReturnType<typeof anyUnpack<typeof BadRequestSchema>>;
  for (const any of status.details) {
    info ??= anyUnpack(any, ErrorInfoSchema);
    badRequest ??= anyUnpack(any, BadRequestSchema);
  }
  return { status, info, badRequest };
}

describe("a plain @grpc/grpc-js + proto-loader client", () => {
  let t: TestServer;
  let labels: grpc.Client;
  let fields: grpc.Client;
  let rpcTypes: grpc.GrpcObject;
  const tenant = "interop";

  beforeAll(async () => {
    t = await startTestServer("sqlite");
    const def = protoLoader.loadSync(["contacts/v1/labels_service.proto", "contacts/v1/extended_fields_service.proto"], LOADER_OPTIONS);
    const pkg = grpc.loadPackageDefinition(def);
    const v1 = (pkg.contacts as grpc.GrpcObject).v1 as grpc.GrpcObject;
    const address = `127.0.0.1:${t.server.grpcPort}`;
    const Labels = v1.LabelsService as grpc.ServiceClientConstructor;
    const Fields = v1.ExtendedFieldsService as grpc.ServiceClientConstructor;
    labels = new Labels(address, grpc.credentials.createInsecure());
    fields = new Fields(address, grpc.credentials.createInsecure());
    // The google.rpc types, through proto-loader (protobufjs underneath), from third_party.
    const rpcDef = protoLoader.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], {
      ...LOADER_OPTIONS,
      includeDirs: [join(root, "third_party")],
    });
    rpcTypes = (grpc.loadPackageDefinition(rpcDef).google as grpc.GrpcObject).rpc as grpc.GrpcObject;
  });

  afterAll(async () => {
    labels?.close();
    fields?.close();
    await t?.close();
  });

  /** Decodes the trailer with protobufjs, as a non-protobuf-es client would. */
  function decodeWithProtobufJs(err: grpc.ServiceError) {
    const type = (name: string) => rpcTypes[name] as unknown as protoLoader.MessageTypeDefinition<object, Record<string, unknown>>;
    // protobufjs defines google.protobuf.Any itself (from JSON, not from any.proto), so its field
    // is `type_url` whatever `keepCase` says.
    const status = type("Status").deserialize(statusDetailsBin(err)) as {
      code: number;
      message: string;
      details: { type_url: string; value: Buffer }[];
    };
    const unpack = (name: string) => {
      const any = status.details.find((d) => d.type_url === `type.googleapis.com/google.rpc.${name}`);
      return any ? type(name).deserialize(any.value) : undefined;
    };
    return { status, info: unpack("ErrorInfo"), badRequest: unpack("BadRequest") };
  }

  it("calls FindOrCreateLabel, GetLabel and QueryLabels with proto-loader's object shapes", async () => {
    const created = await unary<{ label: LabelObject; newLabel: boolean }>(labels, "FindOrCreateLabel", { displayName: "Puppy Training COURSE" }, tenant);
    expect(created.newLabel).toBe(true);
    expect(created.label).toMatchObject({
      key: "custom.puppy-training-course",
      namespace: "custom",
      displayName: "Puppy Training COURSE",
      labelType: "LABEL_TYPE_USER_DEFINED",
    });
    // int64 seconds arrive as strings (longs: String).
    expect(created.label.createdDate?.seconds).toMatch(/^\d+$/);
    expect(Number(created.label.createdDate?.seconds)).toBeGreaterThan(1_700_000_000);

    const again = await unary<{ label: LabelObject; newLabel: boolean }>(
      labels,
      "findOrCreateLabel", // grpc-js also offers the camelCase name
      { displayName: "puppy training course" },
      tenant,
    );
    expect(again).toMatchObject({ newLabel: false, label: { key: "custom.puppy-training-course" } });

    const got = await unary<{ label: LabelObject }>(labels, "GetLabel", { key: "custom.puppy-training-course" }, tenant);
    expect(got.label).toEqual(created.label);
    const system = await unary<{ label: LabelObject }>(labels, "GetLabel", { key: "contacts.customers" }, tenant);
    expect(system.label).toMatchObject({ displayName: "Customers", labelType: "LABEL_TYPE_SYSTEM", createdDate: null });

    await unary(labels, "FindOrCreateLabel", { displayName: "VIP Customer" }, tenant);
    const query = (filter: { [key: string]: Json }, extra: object = {}) =>
      unary<{ labels: LabelObject[]; pagingMetadata: PagingMetadataObject }>(labels, "QueryLabels", { query: { filter: toStruct(filter), ...extra } }, tenant);
    const byName = await query({ displayName: "VIP Customer" });
    expect(byName.labels.map((l) => l.key)).toEqual(["custom.vip-customer"]);
    expect(byName.pagingMetadata).toMatchObject({ count: 1, total: 1, hasNext: false });

    const nested = await query(
      { $or: [{ displayName: { $startsWith: "puppy" } }, { labelType: "SYSTEM" }], key: { $ne: "contacts.contacted-me" } },
      { sort: [{ fieldName: "displayName", order: "SORT_ORDER_ASC" }], paging: { limit: 10 } },
    );
    expect(nested.labels.map((l) => l.displayName)).toEqual(["Customers", "Puppy Training COURSE"]);

    const paged = await query({}, { cursorPaging: { limit: 1 } });
    expect(paged.labels).toHaveLength(1);
    expect(paged.pagingMetadata.hasNext).toBe(true);
  });

  it("calls ExtendedFieldsService with enum names as strings", async () => {
    const res = await unary<{ field: { key: string; dataType: string; fieldType: string }; newField: boolean }>(
      fields,
      "FindOrCreateExtendedField",
      { displayName: "Shoe Size", dataType: "FIELD_DATA_TYPE_NUMBER" },
      tenant,
    );
    expect(res).toMatchObject({
      newField: true,
      field: { key: "custom.shoe-size", dataType: "FIELD_DATA_TYPE_NUMBER", fieldType: "FIELD_TYPE_USER_DEFINED" },
    });
    const list = await unary<{ fields: { key: string }[] }>(fields, "ListExtendedFields", { fieldType: "FIELD_TYPE_SYSTEM" }, tenant);
    expect(list.fields).toHaveLength(SYSTEM_FIELDS.length);
  });

  it("reads LABEL_NOT_FOUND's ErrorInfo from grpc-status-details-bin with protobuf-es", async () => {
    const err = await unaryError(labels, "GetLabel", { key: "custom.nope" }, tenant);
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.code).toBe(5);
    expect(err.details).toContain("custom.nope");
    const { status, info, badRequest } = decodeWithProtobufEs(err);
    expect(status.code).toBe(5);
    expect(status.message).toBe(err.details);
    expect(info).toMatchObject({ reason: "LABEL_NOT_FOUND", domain: "contacts.v1", metadata: { key: "custom.nope" } });
    expect(badRequest).toBeUndefined();
  });

  it("reads INVALID_DISPLAY_NAME's ErrorInfo and BadRequest with protobuf-es", async () => {
    const err = await unaryError(labels, "FindOrCreateLabel", { displayName: "   " }, tenant);
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.code).toBe(3);
    const { status, info, badRequest } = decodeWithProtobufEs(err);
    expect(status.code).toBe(3);
    expect(info).toMatchObject({ reason: "INVALID_DISPLAY_NAME", domain: "contacts.v1" });
    expect(badRequest?.fieldViolations.map((v) => v.field)).toEqual(["display_name"]);
    expect(badRequest?.fieldViolations[0]?.description).not.toBe("");
  });

  it("reads the same details with protobufjs, without protobuf-es", async () => {
    const notFound = decodeWithProtobufJs(await unaryError(labels, "GetLabel", { key: "custom.nope" }, tenant));
    expect(notFound.status.code).toBe(5);
    expect(notFound.info).toEqual({ reason: "LABEL_NOT_FOUND", domain: "contacts.v1", metadata: { key: "custom.nope" } });
    expect(notFound.badRequest).toBeUndefined();

    const blank = decodeWithProtobufJs(await unaryError(labels, "FindOrCreateLabel", { displayName: "" }, tenant));
    expect(blank.status.code).toBe(3);
    expect(blank.info).toMatchObject({ reason: "INVALID_DISPLAY_NAME", domain: "contacts.v1" });
    expect(blank.badRequest).toMatchObject({ fieldViolations: [{ field: "display_name", reason: "INVALID_DISPLAY_NAME" }] });

    // A malformed Struct filter: the violation names the path inside the filter.
    const err = await unaryError(labels, "QueryLabels", { query: { filter: toStruct({ $and: "x" }) } }, tenant);
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    const malformed = decodeWithProtobufJs(err);
    expect(malformed.info).toMatchObject({ reason: "MALFORMED_FILTER" });
    expect(malformed.badRequest).toMatchObject({ fieldViolations: [{ field: "query.filter.$and" }] });
  });

  it("gets FIELDS errors the same way: SYSTEM_FIELD_READ_ONLY is FAILED_PRECONDITION", async () => {
    const err = await unaryError(fields, "DeleteExtendedField", { key: "emailSubscriptions.effectiveEmail" }, tenant);
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(decodeWithProtobufJs(err).info).toMatchObject({ reason: "SYSTEM_FIELD_READ_ONLY", domain: "contacts.v1" });
    expect(decodeWithProtobufEs(err).info?.reason).toBe("SYSTEM_FIELD_READ_ONLY");
  });
});
