/**
 * The debugging experience API.md promises: `buf curl` against the running server with nothing
 * but server reflection (no .proto files, no --schema), over gRPC on the grpc-js port and over
 * Connect on the HTTP port; and plain HTTP/1.1 Connect with `fetch`.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { startTestServer, type TestServer } from "./support/server.js";
import { SYSTEM_FIELDS } from "../server/src/domain/extended-fields.js";

const root = join(import.meta.dirname, "..");
const BUF = join(root, "node_modules/.bin/buf");
const TENANT = "curl";

interface Run {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

describe("buf curl by reflection, and Connect over HTTP/1.1", () => {
  let t: TestServer;
  let cacheDir: string;
  let grpcUrl: string;
  let httpUrl: string;

  beforeAll(async () => {
    t = await startTestServer("sqlite");
    grpcUrl = `http://127.0.0.1:${t.server.grpcPort}`;
    httpUrl = `http://127.0.0.1:${t.server.httpPort}`;
    cacheDir = mkdtempSync(join(tmpdir(), "buf-cache-"));
  });
  afterAll(async () => {
    await t?.close();
    if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
  });

  /** Runs `buf curl …`; never longer than 15 s. */
  function bufCurl(...args: string[]): Promise<Run> {
    return new Promise((resolve, reject) => {
      execFile(
        BUF,
        ["curl", "--log-format", "text", ...args],
        { timeout: 15_000, killSignal: "SIGKILL", env: { ...process.env, BUF_CACHE_DIR: cacheDir, NO_COLOR: "1" } },
        (err, stdout, stderr) => {
          if (err?.killed) {
            reject(new Error(`buf curl ${args.join(" ")} timed out or was killed\n${stderr}`));
            return;
          }
          const exitCode = err ? (typeof err.code === "number" ? err.code : null) : 0;
          resolve({ exitCode, stdout, stderr });
        },
      );
    });
  }

  /** A unary call over gRPC on the grpc-js port, by reflection, as tenant `curl`; returns the JSON. */
  async function grpcCall(method: string, data: object = {}): Promise<Record<string, unknown>> {
    const run = await bufCurl(
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-H",
      `x-tenant-id: ${TENANT}`,
      "-d",
      JSON.stringify(data),
      `${grpcUrl}/${method}`,
    );
    expect(run.stderr, `${method}: ${run.stderr}`).toBe("");
    expect(run.exitCode).toBe(0);
    return JSON.parse(run.stdout) as Record<string, unknown>;
  }

  it("--list-services on the gRPC port shows the API, health and both reflection services", async () => {
    const run = await bufCurl("--protocol", "grpc", "--http2-prior-knowledge", "--list-services", grpcUrl);
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    const services = run.stdout.trim().split("\n").sort();
    expect(services).toEqual(
      expect.arrayContaining([
        "contacts.v1.ContactsService",
        "contacts.v1.EventsService",
        "contacts.v1.ExtendedFieldsService",
        "contacts.v1.LabelsService",
        "contacts.v1.WebhooksService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]),
    );
    expect(services.filter((s) => s.startsWith("contacts.v1."))).toHaveLength(5);
  });

  it("--list-methods lists LabelsService's six methods", async () => {
    const run = await bufCurl("--protocol", "grpc", "--http2-prior-knowledge", "--list-methods", grpcUrl);
    expect(run.stderr).toBe("");
    const methods = run.stdout.trim().split("\n");
    expect(methods).toContain("grpc.health.v1.Health/Watch");
    expect(methods.filter((m) => m.startsWith("contacts.v1.ExtendedFieldsService/"))).toHaveLength(6);
    expect(methods.filter((m) => m.startsWith("contacts.v1.LabelsService/")).sort()).toEqual([
      "contacts.v1.LabelsService/DeleteLabel",
      "contacts.v1.LabelsService/FindOrCreateLabel",
      "contacts.v1.LabelsService/GetLabel",
      "contacts.v1.LabelsService/ListLabels",
      "contacts.v1.LabelsService/QueryLabels",
      "contacts.v1.LabelsService/RenameLabel",
    ]);
  });

  it("works with the v1alpha reflection protocol too", async () => {
    const list = await bufCurl("--protocol", "grpc", "--http2-prior-knowledge", "--reflect-protocol", "grpc-v1alpha", "--list-services", grpcUrl);
    expect(list.stderr).toBe("");
    expect(list.stdout.trim().split("\n")).toContain("contacts.v1.ExtendedFieldsService");
    const call = await bufCurl(
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--reflect-protocol",
      "grpc-v1alpha",
      "-H",
      "x-tenant-id: curl-alpha",
      "-d",
      '{"key": "contacts.customers"}',
      `${grpcUrl}/contacts.v1.LabelsService/GetLabel`,
    );
    expect(call.stderr).toBe("");
    expect(JSON.parse(call.stdout)).toEqual({
      label: {
        namespace: "contacts",
        namespaceDisplayName: "Contacts",
        key: "contacts.customers",
        displayName: "Customers",
        labelType: "LABEL_TYPE_SYSTEM",
      },
    });
  });

  it("does a FindOrCreate → Query → Rename → Delete round trip by reflection alone", async () => {
    const created = await grpcCall("contacts.v1.LabelsService/FindOrCreateLabel", { displayName: "Curl Made Me" });
    expect(created).toMatchObject({
      newLabel: true,
      label: { key: "custom.curl-made-me", displayName: "Curl Made Me", labelType: "LABEL_TYPE_USER_DEFINED", namespace: "custom" },
    });
    // Timestamps print in their JSON form.
    expect((created.label as { createdDate: string }).createdDate).toMatch(/^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/);
    const found = await grpcCall("contacts.v1.LabelsService/FindOrCreateLabel", { displayName: "curl made me" });
    // proto3 JSON leaves out false: `newLabel` is absent.
    expect(found.newLabel).toBeUndefined();

    const queried = await grpcCall("contacts.v1.LabelsService/QueryLabels", {
      query: { filter: { displayName: { $startsWith: "curl" } }, sort: [{ fieldName: "displayName", order: "SORT_ORDER_ASC" }] },
    });
    expect((queried.labels as { key: string }[]).map((l) => l.key)).toEqual(["custom.curl-made-me"]);
    expect(queried.pagingMetadata).toMatchObject({ count: 1, total: 1 });

    const renamed = await grpcCall("contacts.v1.LabelsService/RenameLabel", {
      label: { key: "custom.curl-made-me", displayName: "Renamed By Curl" },
    });
    expect(renamed).toMatchObject({ label: { key: "custom.curl-made-me", displayName: "Renamed By Curl" } });

    expect(await grpcCall("contacts.v1.LabelsService/DeleteLabel", { key: "custom.curl-made-me" })).toEqual({});

    // The error afterwards: status and details, decoded by buf curl through reflection.
    const gone = await bufCurl(
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-H",
      `x-tenant-id: ${TENANT}`,
      "-d",
      '{"key": "custom.curl-made-me"}',
      `${grpcUrl}/contacts.v1.LabelsService/GetLabel`,
    );
    // buf curl exits with the gRPC code shifted three bits left.
    expect(gone.exitCode).toBe(5 << 3);
    expect(gone.stdout).toBe("");
    const error = JSON.parse(gone.stderr) as { code: string; message: string; details: { type: string; value: string }[] };
    expect(error.code).toBe("not_found");
    expect(error.message).toContain("custom.curl-made-me");
    const detail = error.details.find((d) => d.type === "google.rpc.ErrorInfo");
    const info = fromBinary(ErrorInfoSchema, Buffer.from(detail?.value ?? "", "base64"));
    expect(info).toMatchObject({ reason: "LABEL_NOT_FOUND", domain: "contacts.v1", metadata: { key: "custom.curl-made-me" } });
  });

  it("works for ExtendedFieldsService too", async () => {
    const created = await grpcCall("contacts.v1.ExtendedFieldsService/FindOrCreateExtendedField", {
      displayName: "Curl Field",
      dataType: "FIELD_DATA_TYPE_URL",
    });
    expect(created).toMatchObject({ newField: true, field: { key: "custom.curl-field", dataType: "FIELD_DATA_TYPE_URL" } });
    const list = await grpcCall("contacts.v1.ExtendedFieldsService/ListExtendedFields", { fieldType: "FIELD_TYPE_SYSTEM" });
    expect(list.fields).toHaveLength(SYSTEM_FIELDS.length);
  });

  it("grpc.health.v1.Health/Check returns SERVING", async () => {
    expect(await grpcCall("grpc.health.v1.Health/Check")).toEqual({ status: "SERVING" });
    expect(await grpcCall("grpc.health.v1.Health/Check", { service: "contacts.v1.LabelsService" })).toEqual({ status: "SERVING" });
  });

  it("speaks Connect over h2c on the HTTP port", async () => {
    const run = await bufCurl(
      "--protocol",
      "connect",
      "--http2-prior-knowledge",
      "-H",
      "x-tenant-id: curl-connect",
      "-d",
      '{"key": "contacts.contacted-me"}',
      `${httpUrl}/contacts.v1.LabelsService/GetLabel`,
    );
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toMatchObject({ label: { key: "contacts.contacted-me", displayName: "Contacted Me" } });
    const health = await bufCurl("--protocol", "grpc", "--http2-prior-knowledge", `${httpUrl}/grpc.health.v1.Health/Check`);
    expect(health.stderr).toBe("");
    expect(JSON.parse(health.stdout)).toEqual({ status: "SERVING" });
  });

  it("speaks Connect JSON over plain HTTP/1.1 with fetch, errors included", async () => {
    const post = (method: string, body: unknown) =>
      fetch(`${httpUrl}/contacts.v1.LabelsService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-tenant-id": "curl-fetch" },
        body: JSON.stringify(body),
      });
    const ok = await post("GetLabel", { key: "contacts.customers" });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await ok.json()).toMatchObject({ label: { key: "contacts.customers", labelType: "LABEL_TYPE_SYSTEM" } });

    const missing = await post("GetLabel", { key: "custom.nope" });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await missing.json()) as { code: string; message: string; details: { type: string; value: string }[] };
    expect(body.code).toBe("not_found");
    expect(body.message).toContain("custom.nope");
    const detail = body.details.find((d) => d.type === "google.rpc.ErrorInfo");
    expect(detail).toBeDefined();
    const info = fromBinary(ErrorInfoSchema, Buffer.from(detail?.value ?? "", "base64"));
    expect(info).toMatchObject({ reason: "LABEL_NOT_FOUND", domain: "contacts.v1", metadata: { key: "custom.nope" } });

    const blank = await post("FindOrCreateLabel", { displayName: " " });
    expect(blank.status).toBe(400);
    const blankBody = (await blank.json()) as { code: string; details: { type: string }[] };
    expect(blankBody.code).toBe("invalid_argument");
    expect(blankBody.details.map((d) => d.type).sort()).toEqual(["google.rpc.BadRequest", "google.rpc.ErrorInfo"]);
  });
});
