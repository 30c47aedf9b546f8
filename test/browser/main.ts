/**
 * The page test/browser.test.ts builds with Vite and opens in headless Chromium: the SDK's
 * browser build (chosen by the bundler through the package's `browser` export condition) against
 * the server named by `?server=` (its Connect port, another origin than the page's: CORS).
 * Each step is shown in the page's table; the results, as JSON, in #result once all are done.
 */
import { type Contact, ContactsApiError, createClient, NotFoundError } from "@contacts-api/sdk";

const params = new URLSearchParams(location.search);
const server = params.get("server") ?? "";
const tenantId = params.get("tenant") ?? "browser";
const results: Record<string, unknown> = {};

function show(step: string, ok: boolean, detail: string): void {
  const row = document.createElement("tr");
  for (const [text, cls] of [
    [step, ""],
    [ok ? "ok" : "failed", ok ? "ok" : "bad"],
    [detail, ""],
  ] as const) {
    const cell = document.createElement("td");
    cell.textContent = text;
    if (cls) cell.className = cls;
    row.append(cell);
  }
  document.getElementById("steps")?.append(row);
}

async function main(): Promise<void> {
  (document.getElementById("server") as HTMLElement).textContent = `server ${server}, tenant ${tenantId}, page ${location.origin}`;
  const { contacts, events } = createClient({ baseUrl: server, tenantId, retry: false });

  // An event subscription from the tenant's first event: it sees the contact created below.
  let heard: (c: Contact) => void = () => {};
  const created = new Promise<Contact>((resolve) => {
    heard = resolve;
  });
  const sub = events.onContactCreated((e) => heard(e.entity), { start: "OLDEST" });

  const { contact } = await contacts.createContact({
    name: { first: "Ada", last: "Lovelace" },
    emails: { items: [{ email: "ada@example.com", tag: "WORK" }] },
  });
  results.create = { id: contact._id, first: contact.info?.name?.first, createdIsDate: contact._createdDate instanceof Date };
  show("createContact", true, `${contact._id} · ${contact._createdDate?.toISOString()}`);

  const page = await contacts.queryContacts().eq("info.name.last", "Lovelace").find();
  results.query = { total: page.totalCount, first: page.items[0]?._id };
  show("queryContacts().eq(info.name.last)", page.items[0]?._id === contact._id, `${page.totalCount} found`);

  try {
    await contacts.getContact("00000000-0000-4000-8000-000000000000");
    results.error = { thrown: false };
    show("getContact(unknown id)", false, "no error");
  } catch (err) {
    const typed = err instanceof NotFoundError && err instanceof ContactsApiError;
    results.error = { typed, code: err instanceof ContactsApiError ? err.code : String(err) };
    show("getContact(unknown id)", typed, `${(err as Error).name}: ${err instanceof ContactsApiError ? err.code : ""}`);
  }

  const event = await Promise.race([created, new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000))]);
  results.event = { id: event?._id ?? null };
  show("events.onContactCreated", event?._id === contact._id, event ? `contact_created ${event._id}` : "nothing within 10 s");
  await sub.close();
}

main().then(
  () => {
    const out = document.getElementById("result") as HTMLElement;
    out.textContent = JSON.stringify(results);
    out.dataset.done = "true";
  },
  (err: unknown) => {
    const out = document.getElementById("result") as HTMLElement;
    show("page", false, String(err));
    out.textContent = JSON.stringify({ ...results, failure: String(err) });
    out.dataset.done = "true";
  },
);
