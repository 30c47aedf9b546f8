import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

export interface ExpectedError {
  code: Code;
  reason: string;
  /** The BadRequest field violation expected, if any. */
  field?: string;
  metadata?: Record<string, string>;
}

/** Awaits a call that must fail, and checks its status, ErrorInfo reason and field violation. */
export async function expectError(call: Promise<unknown>, expected: ExpectedError): Promise<ConnectError> {
  let caught: unknown;
  try {
    await call;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${Code[expected.code]} ${expected.reason}`).toBeInstanceOf(ConnectError);
  const err = caught as ConnectError;
  const info = err.findDetails(ErrorInfoSchema)[0];
  expect({ code: Code[err.code], reason: info?.reason, domain: info?.domain }).toEqual({
    code: Code[expected.code],
    reason: expected.reason,
    domain: "contacts.v1",
  });
  if (expected.field !== undefined) {
    const fields = err.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => v.field));
    expect(fields).toContain(expected.field);
  }
  if (expected.metadata) expect(info?.metadata).toMatchObject(expected.metadata);
  return err;
}
