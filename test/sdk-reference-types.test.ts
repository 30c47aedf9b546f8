/**
 * Code written for the reference SDK compiles and runs against ours. The programs in
 * test/reference-sdk type every argument with the reference's own declarations
 * (`@wix/auto_sdk_crm_contacts`, `…_labels`, `…_extended-fields`, pinned devDependencies) and
 * call every function of each module; they must compile against sdk/src. Then what those types
 * allow — `null` for "not set", merge options without `sourceContactIds` — through a real server,
 * and the typed error a bad argument raises before anything is sent.
 */
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import type { ContactInfo as ReferenceContactInfo } from "@wix/auto_sdk_crm_contacts";
import { describe, expect, it } from "vitest";
import { ContactsApiError, INVALID_SDK_ARGUMENT, InvalidSdkArgumentError } from "../sdk/src/index.js";
import { failure, suiteServer, tenant, unreachableClient } from "./support/sdk.js";
import { STORES } from "./support/server.js";

const root = resolve(import.meta.dirname, "..");

describe("programs typed with the reference SDK's declarations", () => {
  it("compile against the SDK, for contacts, labels and extended fields", async () => {
    const tsc = resolve(root, "node_modules/typescript/bin/tsc");
    const run = promisify(execFile);
    const result = await run(process.execPath, [tsc, "-p", "test/reference-sdk", "--noEmit", "--pretty", "false"], { cwd: root, timeout: 60_000 }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (err: { code?: number; stdout?: string }) => ({ code: err.code ?? 1, stdout: err.stdout ?? "" }),
    );
    expect(result.stdout).toBe("");
    expect(result.code).toBe(0);
  }, 120_000);
});

describe("SDK arguments: checks made before anything is sent", () => {
  const { contacts, labels } = unreachableClient();

  it("a bad argument rejects with an InvalidSdkArgumentError (a TypeError) whose code is INVALID_SDK_ARGUMENT", async () => {
    const err = await contacts.createContact({ name: { last: 42 as never } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidSdkArgumentError);
    expect(err).toBeInstanceOf(TypeError);
    expect(err).toMatchObject({ code: INVALID_SDK_ARGUMENT, message: "createContact(): info.name.last must be a string; got number 42" });
    await expect(labels.getLabel("")).rejects.toMatchObject({ code: INVALID_SDK_ARGUMENT });
    await expect(contacts.listContacts({ sort: { fieldName: "info.nickname" } })).rejects.toMatchObject({ code: INVALID_SDK_ARGUMENT });
    expect(() => contacts.queryContacts().limit(0)).toThrow(expect.objectContaining({ code: INVALID_SDK_ARGUMENT }));
  });
});

describe.each(STORES)("reference-typed arguments through a real server on %s", (store) => {
  const { clientFor } = suiteServer(store);

  it("createContact takes null as not set, where it used to throw `info.name.last must be a string; got null`", async () => {
    const { contacts } = clientFor(tenant("ref-null"));
    const info: ReferenceContactInfo = {
      name: { first: "Ada", last: null },
      company: null,
      emails: { items: [{ email: "ada@example.com", tag: "WORK", primary: null }] },
      // `addressLine` is the REST name the reference's Address type declares beside `addressLine1`.
      addresses: { items: [{ address: { city: "London", postalCode: null, addressLine: "12 St James's Square" } }] },
    };
    const { contact } = await contacts.createContact(info);
    expect(contact.info?.name).toEqual({ first: "Ada" });
    expect(contact.info?.company).toBeUndefined();
    expect(contact.info?.addresses?.items?.[0]?.address).toEqual({ city: "London", addressLine1: "12 St James's Square" });
  });

  it("null options are not set: labels and extended fields list everything, paging defaults", async () => {
    const client = clientFor(tenant("ref-null-options"));
    await client.labels.findOrCreateLabel("VIP", { language: null });
    const { labels } = await client.labels.listLabels({ namespace: null, startsWith: null, language: null, paging: { limit: null, offset: null } });
    expect(labels.map((l) => l.key)).toContain("custom.vip");
    const { fields } = await client.extendedFields.listExtendedFields({ namespace: null, startsWith: null });
    expect(fields.length).toBeGreaterThan(0);
    await expect(client.contacts.listFacets({ language: null })).resolves.toBeDefined();
  });

  it("mergeContacts and previewMergeContacts without sourceContactIds reach the server, which answers INVALID_ARGUMENT", async () => {
    const { contacts } = clientFor(tenant("ref-merge"));
    const { contact } = await contacts.createContact({ name: { first: "Target" } });
    for (const call of [contacts.mergeContacts(contact._id, contact.revision), contacts.previewMergeContacts(contact._id, {})]) {
      const err = await failure(call);
      expect(err).toBeInstanceOf(ContactsApiError);
      expect(err.grpcStatus).toBe("INVALID_ARGUMENT");
    }
  });
});
