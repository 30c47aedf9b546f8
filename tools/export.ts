/**
 * `npm run export -- --format csv|vcard [--filter JSON] [--search TEXT] [--out FILE]`: streams
 * `contacts.exportContacts` to CSV (the columns `npm run import` reads, so an export re-imports)
 * or to vCard 4.0.
 *
 * Memory stays constant however many contacts there are: each stage pulls from the one before it
 * only as fast as the output is written (stream.pipeline over an async generator), and the SDK
 * reads the server's stream only as the generator asks for contacts.
 */
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { stringify } from "csv-stringify";
import { type Contact, type ContactLabel, type ContactsClient, contactRowHeaders, contactToRow, type ExtendedField } from "../sdk/src/index.js";
import { CONNECTION_HELP, CONNECTION_OPTIONS, clientFrom, count, fail, ProgressLine } from "./cli.js";
import { contactToVcard } from "./vcard.js";

const USAGE = `Usage: npm run export -- --format csv|vcard [flags]

Writes the tenant's contacts, newest first, as CSV (the columns npm run import reads) or vCard 4.0.

  --format csv|vcard   the output format (default csv)
  --filter JSON        only contacts matching this filter, e.g. '{"info.labelKeys":{"$hasSome":["custom.vip"]}}'
  --search TEXT        only contacts whose names, emails or phones match TEXT
  --out FILE           write to FILE (default: standard output)
${CONNECTION_HELP}
`;

async function allLabels(client: ContactsClient): Promise<ContactLabel[]> {
  const out: ContactLabel[] = [];
  for (;;) {
    const { labels, metadata } = await client.labels.listLabels({ paging: { limit: 1000, offset: out.length } });
    out.push(...labels);
    if (!metadata.hasNext || labels.length === 0) return out;
  }
}

async function userFields(client: ContactsClient): Promise<ExtendedField[]> {
  const out: ExtendedField[] = [];
  for (;;) {
    const { fields, metadata } = await client.extendedFields.listExtendedFields({ fieldType: "USER_DEFINED", paging: { limit: 1000, offset: out.length } });
    out.push(...fields);
    if (!metadata.hasNext || fields.length === 0) return out;
  }
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli();
  } catch (err) {
    fail((err as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const format = values.format ?? "csv";
  if (format !== "csv" && format !== "vcard") fail(`--format takes csv or vcard; got ${format}`);
  let filter: Record<string, unknown> | undefined;
  if (values.filter !== undefined) {
    try {
      filter = JSON.parse(values.filter) as Record<string, unknown>;
    } catch (err) {
      fail(`--filter must be JSON: ${(err as Error).message}`);
    }
  }

  const client = clientFrom(values);
  const progressLine = new ProgressLine();
  const started = Date.now();
  let exported = 0;
  // Into FILE.partial, renamed when complete: a failed export never looks like a finished one.
  const partial = values.out ? `${values.out}.partial` : undefined;
  try {
    const labels = await allLabels(client);
    const fields = format === "csv" ? await userFields(client) : [];
    const source = client.contacts.exportContacts({ ...(filter ? { filter } : {}), ...(values.search ? { search: values.search } : {}) });
    async function* counted(): AsyncGenerator<Contact> {
      for await (const contact of source) {
        exported++;
        progressLine.update(() => `exported ${count(exported)} contacts · ${count(Math.round(exported / Math.max((Date.now() - started) / 1000, 0.001)))}/s`);
        yield contact;
      }
    }
    const out: Writable = partial ? createWriteStream(partial) : process.stdout;
    if (format === "csv") {
      const options = { labels, extendedFields: fields };
      async function* rows() {
        for await (const contact of counted()) yield contactToRow(contact, options);
      }
      // RFC 4180 line ends, and a BOM so that spreadsheet programs read the file as UTF-8.
      const csv = stringify({ header: true, columns: contactRowHeaders(options), bom: true, record_delimiter: "windows" });
      await pipeline(Readable.from(rows()), csv, out);
    } else {
      const names = new Map(labels.map((l) => [l.key, l.displayName]));
      async function* cards() {
        for await (const contact of counted()) yield contactToVcard(contact, names);
      }
      await pipeline(Readable.from(cards()), out);
    }
    if (partial && values.out) await rename(partial, values.out);
    progressLine.clear();
    process.stderr.write(`exported ${count(exported)} contact${exported === 1 ? "" : "s"}${values.out ? ` to ${values.out}` : ""}.\n`);
  } catch (err) {
    progressLine.clear();
    if (partial) await rm(partial, { force: true });
    fail(`export failed after ${count(exported)} contacts: ${(err as Error).message}`);
  } finally {
    client.close();
  }
}

function parseCli() {
  return parseArgs({
    args: process.argv.slice(2),
    options: {
      format: { type: "string" },
      filter: { type: "string" },
      search: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
      ...CONNECTION_OPTIONS,
    },
  });
}

await main();
