/**
 * Optional TLS and mTLS on both ports, with certificates made by openssl in the test: with a
 * client CA configured, connections without a valid client certificate are refused.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabelsService } from "../gen/contacts/v1/labels_service_pb.js";
import { startTestServer, type TestServer } from "./support/server.js";

const dir = mkdtempSync(join(tmpdir(), "contacts-tls-"));
const file = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });

/** A CA, a server certificate for 127.0.0.1/localhost, a client certificate, and a stranger's. */
function makeCertificates(): void {
  const subj = (cn: string) => ["-subj", `/CN=${cn}`];
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", ...subj("test-ca"));
  writeFileSync(file("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", ...subj("localhost"));
  openssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "1",
    "-extfile",
    "server.ext",
  );
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", ...subj("client"));
  openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.pem", "-days", "1");
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue.key", "-out", "rogue.pem", "-days", "1", ...subj("rogue"));
}

const pem = (name: string) => readFileSync(file(name));

function grpcJsClient(port: number, creds: grpc.ChannelCredentials) {
  const def = protoLoader.loadSync("contacts/v1/labels_service.proto", { includeDirs: ["proto", "third_party"] });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { contacts: { v1: { LabelsService: grpc.ServiceClientConstructor } } };
  return new pkg.contacts.v1.LabelsService(`127.0.0.1:${port}`, creds);
}

function getLabel(client: grpc.Client): Promise<{ code: number; name?: string }> {
  return new Promise((resolve) => {
    const md = new grpc.Metadata();
    md.set("x-tenant-id", "tls");
    (
      client as unknown as {
        GetLabel: (r: object, m: grpc.Metadata, o: object, cb: (e: grpc.ServiceError | null, r?: { label: { displayName: string } }) => void) => void;
      }
    ).GetLabel({ key: "contacts.customers" }, md, { deadline: Date.now() + 5_000 }, (err, res) =>
      resolve(err ? { code: err.code } : { code: 0, name: res?.label.displayName }),
    );
  });
}

async function connectCall(baseUrl: string, nodeOptions: Record<string, unknown>, grpcProtocol: boolean): Promise<Code | 0> {
  const transport = grpcProtocol ? createGrpcTransport({ baseUrl, nodeOptions }) : createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions });
  try {
    await createClient(LabelsService, transport).getLabel({ key: "contacts.customers" }, { headers: { "x-tenant-id": "tls" }, timeoutMs: 5_000 });
    return 0;
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

beforeAll(() => makeCertificates());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mTLS (TLS_CERT, TLS_KEY, TLS_CLIENT_CA)", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer("sqlite", { tls: { certFile: file("server.pem"), keyFile: file("server.key"), clientCaFile: file("ca.pem") } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("gRPC port: a client certificate signed by the CA gets through; none, or a stranger's, is refused", async () => {
    const ok = grpcJsClient(t.server.grpcPort, grpc.credentials.createSsl(pem("ca.pem"), pem("client.key"), pem("client.pem")));
    expect(await getLabel(ok)).toEqual({ code: 0, name: "Customers" });
    const none = grpcJsClient(t.server.grpcPort, grpc.credentials.createSsl(pem("ca.pem")));
    expect((await getLabel(none)).code).toBe(grpc.status.UNAVAILABLE);
    const rogue = grpcJsClient(t.server.grpcPort, grpc.credentials.createSsl(pem("ca.pem"), pem("rogue.key"), pem("rogue.pem")));
    expect((await getLabel(rogue)).code).toBe(grpc.status.UNAVAILABLE);
    for (const c of [ok, none, rogue]) c.close();
  });

  it("HTTP port: Connect over HTTPS/1.1 and gRPC over h2 with TLS, same rule", async () => {
    const url = `https://127.0.0.1:${t.server.httpPort}`;
    const trusted = { ca: pem("ca.pem"), cert: pem("client.pem"), key: pem("client.key") };
    expect(await connectCall(url, trusted, false)).toBe(0);
    expect(await connectCall(url, trusted, true)).toBe(0);
    expect(await connectCall(url, { ca: pem("ca.pem") }, false)).not.toBe(0);
    expect(await connectCall(url, { ca: pem("ca.pem"), cert: pem("rogue.pem"), key: pem("rogue.key") }, true)).not.toBe(0);
  });

  it("a plaintext client cannot talk to a TLS port", async () => {
    const plain = grpcJsClient(t.server.grpcPort, grpc.credentials.createInsecure());
    expect((await getLabel(plain)).code).toBe(grpc.status.UNAVAILABLE);
    plain.close();
  });
});

describe("TLS without client certificates", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer("sqlite", { tls: { certFile: file("server.pem"), keyFile: file("server.key") } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("serves any client that trusts the server's certificate", async () => {
    const client = grpcJsClient(t.server.grpcPort, grpc.credentials.createSsl(pem("ca.pem")));
    expect(await getLabel(client)).toEqual({ code: 0, name: "Customers" });
    client.close();
    expect(await connectCall(`https://127.0.0.1:${t.server.httpPort}`, { ca: pem("ca.pem") }, false)).toBe(0);
  });
});
