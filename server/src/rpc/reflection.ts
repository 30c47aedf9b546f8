// gRPC server reflection (v1 and v1alpha) over protobuf-es descriptors; no npm package does this
// for connect (connectrpc/connect-es#507). Behaviour follows grpc-go's reflection server.
import { create, toBinary } from "@bufbuild/protobuf";
import type { DescEnum, DescExtension, DescFile, DescMessage, DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ServiceImpl } from "@connectrpc/connect";
import * as v1 from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";

export type ReflectionService =
  | { service: typeof v1.ServerReflection; impl: ServiceImpl<typeof v1.ServerReflection> }
  | { service: typeof v1alpha.ServerReflection; impl: ServiceImpl<typeof v1alpha.ServerReflection> };

type Request = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;
// A plain init object, valid for the v1 and v1alpha response alike.
type Answer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** Services to register: the two reflection services, answering for `services` and any `extraFiles` (e.g. google/rpc error_details so clients can resolve error-detail types). */
export function reflectionServices(services: DescService[], extraFiles: DescFile[] = []): ReflectionService[] {
  const serviceNames = [...new Set([...services, v1.ServerReflection, v1alpha.ServerReflection].map((s) => s.typeName))];
  const files = new Map<string, DescFile>();
  const bytes = new Map<string, Uint8Array>();
  const symbols = new Map<string, DescFile>();
  const exts: DescExtension[] = [];
  // Every known message gets an entry, so "no extensions" (empty list) differs from "unknown type" (NOT_FOUND).
  const extensionNumbers = new Map<string, number[]>();

  const addEnum = (e: DescEnum) => {
    symbols.set(e.typeName, e.file);
    // Protobuf scopes enum values as siblings of their enum; the enum-qualified form is accepted too.
    const scope = e.parent?.typeName ?? e.file.proto.package;
    for (const v of e.values) symbols.set(scope ? `${scope}.${v.name}` : v.name, e.file).set(`${e.typeName}.${v.name}`, e.file);
  };
  const addMessage = (m: DescMessage) => {
    symbols.set(m.typeName, m.file);
    extensionNumbers.set(m.typeName, []);
    // proto.oneofDecl, as m.oneofs omits the synthetic oneofs of proto3 `optional` fields.
    for (const { name } of [...m.fields, ...m.proto.oneofDecl]) symbols.set(`${m.typeName}.${name}`, m.file);
    m.nestedMessages.forEach(addMessage);
    m.nestedEnums.forEach(addEnum);
    exts.push(...m.nestedExtensions);
  };
  const addFile = (file: DescFile): void => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    bytes.set(file.proto.name, toBinary(FileDescriptorProtoSchema, file.proto));
    file.dependencies.forEach(addFile);
    file.messages.forEach(addMessage);
    file.enums.forEach(addEnum);
    exts.push(...file.extensions);
    for (const s of file.services) {
      symbols.set(s.typeName, file);
      for (const m of s.methods) symbols.set(`${s.typeName}.${m.name}`, file);
    }
  };
  [...services.map((s) => s.file), v1.file_grpc_reflection_v1_reflection, v1alpha.file_grpc_reflection_v1alpha_reflection, ...extraFiles].forEach(addFile);

  // After all files, as an extension's file may be indexed before its extendee's.
  const extensionFiles = new Map<string, DescFile>();
  for (const x of exts) {
    const key = `${x.extendee.typeName}:${x.number}`;
    symbols.set(x.typeName, x.file);
    if (!extensionFiles.has(key)) extensionNumbers.get(x.extendee.typeName)?.push(x.number);
    extensionFiles.set(key, x.file);
  }

  // The requested file (even if sent before) and its transitive dependencies not yet sent on this
  // stream. Dependencies come first (grpc-go sends them last; grpcurl and buf curl take either), so
  // everything sent on a stream is a valid FileDescriptorSet for protobuf-es's createFileRegistry.
  // Keyed by file name, as two DescFile objects may describe one file.
  const withDeps = (file: DescFile, sent: Set<string>): Answer => {
    const out: DescFile[] = [];
    const visit = (f: DescFile) => {
      if (sent.has(f.proto.name)) return;
      sent.add(f.proto.name);
      f.dependencies.forEach(visit);
      out.push(f);
    };
    sent.delete(file.proto.name);
    visit(file);
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out.map((f) => bytes.get(f.proto.name) ?? new Uint8Array()) } };
  };
  const found = (file: DescFile | undefined, sent: Set<string>, what: string): Answer =>
    file ? withDeps(file, sent) : { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: `${what} not found` } };

  const answer = ({ messageRequest: r }: Request, sent: Set<string>): Answer => {
    switch (r.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: serviceNames.map((name) => ({ name })) } };
      case "fileByFilename":
        return found(files.get(r.value), sent, `file ${r.value}`);
      case "fileContainingSymbol":
        return found(symbols.get(r.value), sent, `symbol ${r.value}`);
      case "fileContainingExtension": {
        const { containingType: t, extensionNumber: n } = r.value;
        return found(extensionFiles.get(`${t}:${n}`), sent, `extension ${n} of ${t}`);
      }
      case "allExtensionNumbersOfType": {
        const numbers = extensionNumbers.get(r.value);
        if (!numbers) return found(undefined, sent, `message ${r.value}`);
        return { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: numbers } };
      }
      default:
        throw new ConnectError("reflection request has no message_request", Code.InvalidArgument);
    }
  };
  // Per-stream state: which files this client already has.
  async function* stream<Req extends Request, Res>(reqs: AsyncIterable<Req>, wrap: (req: Req, answer: Answer) => Res) {
    const sent = new Set<string>();
    for await (const req of reqs) yield wrap(req, answer(req, sent));
  }

  const v1Impl: ServiceImpl<typeof v1.ServerReflection> = {
    serverReflectionInfo: (reqs) =>
      stream(reqs, (req, messageResponse) => create(v1.ServerReflectionResponseSchema, { validHost: req.host, originalRequest: req, messageResponse })),
  };
  const v1alphaImpl: ServiceImpl<typeof v1alpha.ServerReflection> = {
    serverReflectionInfo: (reqs) =>
      stream(reqs, (req, messageResponse) => create(v1alpha.ServerReflectionResponseSchema, { validHost: req.host, originalRequest: req, messageResponse })),
  };
  return [
    { service: v1.ServerReflection, impl: v1Impl },
    { service: v1alpha.ServerReflection, impl: v1alphaImpl },
  ];
}
