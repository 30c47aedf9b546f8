import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescFile } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldDescriptorProtoSchema,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  file_google_protobuf_descriptor,
} from "@bufbuild/protobuf/wkt";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ContactLabelSchema, LabelType, LabelsService } from "../gen/contacts/v1/labels_service_pb.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { reflectionServices } from "../server/src/rpc/reflection.js";

// A custom option, so that the extension requests have something to find.
const optionsFile: DescFile = (() => {
  const proto = create(FileDescriptorProtoSchema, {
    name: "test/options.proto",
    package: "test",
    syntax: "proto3",
    dependency: ["google/protobuf/descriptor.proto"],
    extension: [
      create(FieldDescriptorProtoSchema, {
        name: "sensitive",
        number: 50001,
        label: FieldDescriptorProto_Label.OPTIONAL,
        type: FieldDescriptorProto_Type.BOOL,
        extendee: ".google.protobuf.FieldOptions",
        jsonName: "sensitive",
      }),
    ],
  });
  const file = createFileRegistry(proto, () => file_google_protobuf_descriptor).getFile("test/options.proto");
  if (!file) throw new Error("test/options.proto did not build");
  return file;
})();

const transport = createRouterTransport((router) => {
  for (const { service, impl } of reflectionServices([LabelsService, Health], [optionsFile])) router.service(service, impl);
});
const clients = {
  v1: createClient(v1.ServerReflection, transport),
  v1alpha: createClient(v1alpha.ServerReflection, transport),
};

type Req =
  | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } };
type Res = v1.ServerReflectionResponse | v1alpha.ServerReflectionResponse;

/** Sends all requests on one stream; the answers come back in order. */
async function reflect(version: keyof typeof clients, ...reqs: Req[]): Promise<Res[]> {
  async function* requests() {
    for (const messageRequest of reqs) yield { host: "example.test", messageRequest };
  }
  const out: Res[] = [];
  const responses = version === "v1" ? clients.v1.serverReflectionInfo(requests()) : clients.v1alpha.serverReflectionInfo(requests());
  for await (const res of responses) out.push(res);
  expect(out).toHaveLength(reqs.length);
  return out;
}

function fileNames(res: Res | undefined): string[] {
  if (res?.messageResponse.case !== "fileDescriptorResponse") throw new Error(`expected files, got ${res?.messageResponse.case}`);
  return res.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
}

const symbol = (value: string): Req => ({ case: "fileContainingSymbol", value });
const labelsClosure = ["contacts/v1/labels_service.proto", "contacts/v1/common.proto", "google/protobuf/timestamp.proto", "google/protobuf/struct.proto"];

describe.each(["v1", "v1alpha"] as const)("server reflection %s", (version) => {
  it("lists the given services and the reflection services, echoing host and request", async () => {
    const [res] = await reflect(version, { case: "listServices", value: "" });
    expect(res?.messageResponse.case).toBe("listServicesResponse");
    const names = res?.messageResponse.case === "listServicesResponse" ? res.messageResponse.value.service.map((s) => s.name) : [];
    expect(names.sort()).toEqual(
      ["contacts.v1.LabelsService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"].sort(),
    );
    expect(res?.validHost).toBe("example.test");
    expect(res?.originalRequest?.messageRequest).toEqual({ case: "listServices", value: "" });
  });

  it("sends a file with its transitive dependencies, each only once per stream", async () => {
    const [first, second, third] = await reflect(
      version,
      symbol("contacts.v1.LabelsService"),
      symbol("contacts.v1.Paging"), // common.proto, already sent
      { case: "fileByFilename", value: "google/protobuf/timestamp.proto" },
    );
    const names = fileNames(first);
    expect(names.at(-1)).toBe("contacts/v1/labels_service.proto"); // dependencies first
    expect([...names].sort()).toEqual([...labelsClosure].sort());
    expect(fileNames(second)).toEqual(["contacts/v1/common.proto"]);
    expect(fileNames(third)).toEqual(["google/protobuf/timestamp.proto"]);
    // A new stream starts afresh.
    expect(fileNames((await reflect(version, symbol("contacts.v1.Paging")))[0])).toEqual(["google/protobuf/struct.proto", "contacts/v1/common.proto"]);
  });

  it("resolves fields, methods, enums, enum values, nested types and oneofs", async () => {
    const labels = [
      "contacts.v1.ContactLabel.display_name",
      "contacts.v1.LabelsService.GetLabel",
      "contacts.v1.LabelType",
      "contacts.v1.LABEL_TYPE_SYSTEM",
      "contacts.v1.ListLabelsRequest._label_type",
    ];
    const common = ["contacts.v1.Query.paging_method", "contacts.v1.Query.cursor_paging", "contacts.v1.SortOrder"];
    const health = ["grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc.health.v1.HealthCheckResponse.SERVING", "grpc.health.v1.Health.Watch"];
    const inFile = (file: string) => (name: string) => [name, file] as const;
    const expected = [
      ...labels.map(inFile("contacts/v1/labels_service.proto")),
      ...common.map(inFile("contacts/v1/common.proto")),
      ...health.map(inFile("grpc/health/v1/health.proto")),
    ];
    const res = await reflect(version, ...expected.map(([name]) => symbol(name)));
    expect(res.map((r, i) => [expected[i]?.[0], fileNames(r).at(-1)])).toEqual(expected);
  });

  it("answers unknown names with a NOT_FOUND error_response and keeps the stream open", async () => {
    const res = await reflect(
      version,
      symbol("contacts.v1.NoSuchThing"),
      { case: "fileByFilename", value: "nope.proto" },
      { case: "allExtensionNumbersOfType", value: "contacts.v1.NoSuchThing" },
      { case: "fileContainingExtension", value: { containingType: "contacts.v1.ContactLabel", extensionNumber: 99 } },
      symbol("contacts.v1.ContactLabel"),
    );
    for (const r of res.slice(0, 4)) {
      expect(r.messageResponse.case).toBe("errorResponse");
      if (r.messageResponse.case === "errorResponse") expect(r.messageResponse.value.errorCode).toBe(5);
    }
    expect(fileNames(res[4]).at(-1)).toBe("contacts/v1/labels_service.proto");
  });

  it("answers extension requests", async () => {
    const [none, some, file] = await reflect(
      version,
      { case: "allExtensionNumbersOfType", value: "contacts.v1.ContactLabel" },
      { case: "allExtensionNumbersOfType", value: "google.protobuf.FieldOptions" },
      { case: "fileContainingExtension", value: { containingType: "google.protobuf.FieldOptions", extensionNumber: 50001 } },
    );
    expect(none?.messageResponse).toMatchObject({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "contacts.v1.ContactLabel", extensionNumber: [] },
    });
    expect(some?.messageResponse).toMatchObject({ case: "allExtensionNumbersResponse", value: { extensionNumber: [50001] } });
    expect(fileNames(file)).toEqual(["google/protobuf/descriptor.proto", "test/options.proto"]);
  });

  it("lets a client rebuild the schema from reflection alone", async () => {
    const res = await reflect(version, symbol("contacts.v1.LabelsService"));
    const set = create(FileDescriptorSetSchema, {
      file: res
        .flatMap((r) => (r.messageResponse.case === "fileDescriptorResponse" ? r.messageResponse.value.fileDescriptorProto : []))
        .map((b) => fromBinary(FileDescriptorProtoSchema, b)),
    });
    const registry = createFileRegistry(set);
    const label = registry.getMessage("contacts.v1.ContactLabel");
    expect(label?.field.createdDate?.message?.typeName).toBe("google.protobuf.Timestamp");
    expect(registry.getService("contacts.v1.LabelsService")?.method.getLabel?.output.typeName).toBe("contacts.v1.GetLabelResponse");
    // Bytes from the generated schema decode identically with the rebuilt one.
    if (!label) throw new Error("contacts.v1.ContactLabel missing");
    const bytes = toBinary(
      ContactLabelSchema,
      create(ContactLabelSchema, { key: "custom.vip", displayName: "VIP", labelType: LabelType.USER_DEFINED, createdDate: { seconds: 1n } }),
    );
    expect(toBinary(label, fromBinary(label, bytes))).toEqual(bytes);
  });
});
