/**
 * `npm run import -- contacts.csv [flags]`: imports a CRM's CSV export (HubSpot, Salesforce,
 * Google Contacts, Outlook, Mailchimp, or this project's own export) with
 * `contacts.importContacts`, streaming the file.
 *
 * Rows that cannot be imported go to `<file>.rejects.csv`: `row, column, reason, code`, then the
 * row as it was, so a person can fix that file and import it the same way.
 *
 * `<file>.import-state.json` records, after each batch, the file's hash and the last row of the
 * last batch the server answered. A killed import run again with the same file continues after
 * that row; the batch that was in flight is resent with its same request id (derived from the
 * file's hash), which the server answers with its first answer, so nothing is created twice. The
 * state file is deleted when the import finishes.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { type FileHandle, open, readFile, rename, rm, truncate, writeFile } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { parse } from "csv-parse";
import { stringify } from "csv-stringify/sync";
import type { ImportProgress, ImportReject } from "../sdk/src/index.js";
import { CONNECTION_HELP, CONNECTION_OPTIONS, clientFrom, count, fail, ProgressLine } from "./cli.js";

const USAGE = `Usage: npm run import -- FILE.csv [flags]

Imports contacts from a CSV file. Columns are recognised by their headers (First Name, Email,
E-mail 2 Address, Mobile Phone, Company, Job Title, City, Birthday, Labels, Tags, …: see the SDK
README); a column named like an extended field fills it.

  --map "Column=TARGET"   read a column as TARGET (repeatable): info.name.first, info.name.last,
                          info.name, info.emails[.work|.home], info.phones[.mobile|.work|.home|.fax],
                          info.company, info.jobTitle, info.birthdate, info.locale,
                          info.addresses[.home|.work].{addressLine1,addressLine2,city,subdivision,
                          postalCode,country}, labels, extendedField:NAME, ignore
  --labels create|refuse  unknown labels: create them (default) or reject their rows
  --fields create|refuse  unknown extended fields named by --map: create them as TEXT fields, or
                          reject the rows that use them (default)
  --batch N               rows per call, 1-100 (default 100)
  --date-order MDY|DMY    how to read 03/04/1990 (default MDY)
  --default-country CC    country of phone numbers without +, when a row has none (e.g. US)
  --restart               ignore an interrupted import's state and start from the first row
${CONNECTION_HELP}

Writes FILE.csv.rejects.csv for rows that were not imported, and keeps FILE.csv.import-state.json
while it runs: run the same command again after an interruption to continue where it stopped.
`;

/** What the state file holds between runs. */
interface ImportState {
  version: 1;
  /** SHA-256 of the file: a changed file starts over. */
  fileHash: string;
  /** The batch size of the run that wrote this; a resumed run keeps it, so its batches (and their request ids) are the same. */
  batchSize: number;
  /** The last row of the last batch the server answered. */
  committedRow: number;
  /** Bytes of the rejects file that belong to committed batches; the rest is cut on resume. */
  rejectsBytes: number;
  /** Counts of the committed batches, for the final summary. */
  totals: { created: number; updated: number; unchanged: number; rejected: number };
}

async function sha256(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(file), hash);
  return hash.digest("hex");
}

/** Replaces the state file whole (write, then rename), so a kill never leaves half of one. */
async function saveState(path: string, state: ImportState): Promise<void> {
  await writeFile(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}

async function loadState(path: string): Promise<ImportState | undefined> {
  try {
    const state = JSON.parse(await readFile(path, "utf8")) as ImportState;
    return state.version === 1 ? state : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli();
  } catch (err) {
    fail((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const file = positionals[0];
  if (!file || positionals.length > 1) fail("give one CSV file to import");
  if (!existsSync(file)) fail(`no such file: ${file}`);
  const mapping: Record<string, string> = {};
  for (const m of values.map ?? []) {
    const eq = m.lastIndexOf("=");
    if (eq <= 0) fail(`--map takes "Column=TARGET"; got ${JSON.stringify(m)}`);
    mapping[m.slice(0, eq).trim()] = m.slice(eq + 1).trim();
  }
  const labels = values.labels ?? "create";
  const fields = values.fields ?? "refuse";
  if (labels !== "create" && labels !== "refuse") fail(`--labels takes create or refuse; got ${labels}`);
  if (fields !== "create" && fields !== "refuse") fail(`--fields takes create or refuse; got ${fields}`);
  const dateOrder = values["date-order"] ?? "MDY";
  if (dateOrder !== "MDY" && dateOrder !== "DMY") fail(`--date-order takes MDY or DMY; got ${dateOrder}`);
  let batchSize = values.batch === undefined ? 100 : Number(values.batch);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100) fail(`--batch takes a number from 1 to 100; got ${values.batch}`);

  const statePath = `${file}.import-state.json`;
  const rejectsPath = `${file}.rejects.csv`;
  const fileHash = await sha256(file);
  let state = values.restart ? undefined : await loadState(statePath);
  if (state && state.fileHash !== fileHash) {
    process.stderr.write(`${file} changed since the interrupted import; starting from the first row.\n`);
    state = undefined;
  }
  if (state) {
    if (values.batch !== undefined && batchSize !== state.batchSize) {
      process.stderr.write(`continuing with --batch ${state.batchSize}, the interrupted import's, so its batches are resent as they were.\n`);
    }
    batchSize = state.batchSize;
    // Rejects written after the last committed batch belong to the batch being redone.
    if (state.rejectsBytes === 0) await rm(rejectsPath, { force: true });
    else await truncate(rejectsPath, state.rejectsBytes);
    process.stderr.write(`continuing the interrupted import of ${file} after row ${count(state.committedRow)}.\n`);
  } else {
    await rm(rejectsPath, { force: true });
    state = {
      version: 1,
      fileHash,
      batchSize,
      committedRow: 0,
      rejectsBytes: 0,
      totals: { created: 0, updated: 0, unchanged: 0, rejected: 0 },
    };
    await saveState(statePath, state);
  }
  const st: ImportState = state;
  const base = { ...st.totals };
  const resumedAt = st.committedRow;

  let headers: string[] = [];
  const rows = createReadStream(file).pipe(
    parse({
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
      columns: (header: string[]) => {
        headers = header;
        return header;
      },
    }),
  );

  let rejects: FileHandle | undefined;
  let pendingRejects: ImportReject[] = [];
  const writeRejects = async () => {
    if (pendingRejects.length === 0) return;
    rejects ??= await open(rejectsPath, "a");
    let text = st.rejectsBytes === 0 ? stringify([["row", "column", "reason", "code", ...headers]]) : "";
    for (const r of pendingRejects) text += stringify([[String(r.row), r.column, r.reason, r.code, ...headers.map((h) => r.values[h] ?? "")]]);
    await rejects.write(text);
    // On disk before the state file says these rows are done.
    await rejects.datasync();
    st.rejectsBytes += Buffer.byteLength(text);
    pendingRejects = [];
  };

  const progressLine = new ProgressLine();
  const started = Date.now();
  let latest: ImportProgress = { rowsRead: resumedAt, created: 0, updated: 0, unchanged: 0, rejected: 0, committedRow: resumedAt };
  const totals = () => ({
    created: base.created + latest.created,
    updated: base.updated + latest.updated,
    unchanged: base.unchanged + latest.unchanged,
    rejected: base.rejected + latest.rejected,
  });
  const line = () => {
    const t = totals();
    const rate = (latest.rowsRead - resumedAt) / Math.max((Date.now() - started) / 1000, 0.001);
    return `${file}: ${count(latest.rowsRead)} rows · ${count(t.created)} created · ${count(t.updated)} updated · ${count(t.unchanged)} unchanged · ${count(t.rejected)} rejected · ${count(Math.round(rate))} rows/s`;
  };
  process.once("SIGINT", () => {
    progressLine.clear();
    process.stderr.write(`interrupted after row ${count(st.committedRow)}; run the same command again to continue.\n`);
    process.exit(130);
  });

  const client = clientFrom(values);
  try {
    const summary = await client.contacts.importContacts(rows, {
      mapping,
      labels,
      fields,
      dateOrder,
      batchSize,
      importId: fileHash,
      startAtRow: resumedAt + 1,
      ...(values["default-country"] ? { defaultCountry: values["default-country"] } : {}),
      onReject: (reject) => {
        pendingRejects.push(reject);
      },
      onProgress: async (progress) => {
        latest = progress;
        await writeRejects();
        st.committedRow = progress.committedRow;
        st.totals = totals();
        await saveState(statePath, st);
        progressLine.update(line);
      },
    });
    latest = summary;
    await rejects?.close();
    await rm(statePath, { force: true });
    progressLine.clear();
    const t = totals();
    process.stderr.write(
      `imported ${file}: ${count(summary.rowsRead)} rows, ${count(t.created)} created, ${count(t.updated)} updated, ${count(t.unchanged)} unchanged, ${count(t.rejected)} rejected` +
        (t.rejected > 0 ? ` (see ${rejectsPath})` : "") +
        ".\n",
    );
    if (summary.ignoredColumns.length > 0) {
      process.stderr.write(`ignored columns: ${summary.ignoredColumns.join(", ")} (to keep one, --map "Column=extendedField:Name" --fields create)\n`);
    }
  } catch (err) {
    progressLine.clear();
    await rejects?.close();
    fail(`import stopped after row ${count(st.committedRow)}: ${(err as Error).message}\nRun the same command again to continue.`);
  } finally {
    client.close();
  }
}

function parseCli() {
  return parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      map: { type: "string", multiple: true },
      labels: { type: "string" },
      fields: { type: "string" },
      batch: { type: "string" },
      "date-order": { type: "string" },
      "default-country": { type: "string" },
      restart: { type: "boolean" },
      help: { type: "boolean", short: "h" },
      ...CONNECTION_OPTIONS,
    },
  });
}

await main();
