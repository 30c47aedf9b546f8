/**
 * Running contact queries: one page (offset or keyset), capped counts and facet counts. The
 * page is found on index columns first (ids and sort values only) and the documents are fetched
 * by primary key afterwards, so deep offsets do not drag whole rows along.
 */
import type { Knex } from "knex";
import type { StoredContact } from "../domain/contacts.js";
import type { Filter, Scalar, Sort } from "../domain/query.js";
import { searchTerms } from "../domain/search.js";
import { applyContactFilter, type CompileContext, sortExpression } from "./contact-query-sql.js";

export interface ContactPageQuery {
  filter: Filter;
  sort: Sort;
  search?: string;
  limit: number;
  offset?: number;
  /** Keyset: the sort value and id of the last row of the previous page. */
  after?: readonly [Scalar, string];
  /** Count matches up to this many (offset paging); more is "too many to count". */
  countUpTo?: number;
}

export interface ContactPage {
  contacts: StoredContact[];
  /** Sort value and id of each contact, for cursors. */
  keys: [Scalar, string][];
  hasNext: boolean;
  total?: number;
  tooManyToCount?: boolean;
}

/** `where` of every contact query: the tenant, the filter and the search. */
function matching(qb: Knex.QueryBuilder, q: ContactPageQuery, cx: CompileContext): void {
  qb.where("c.tenant_id", cx.tenantId);
  qb.where((sub) => applyContactFilter(sub, q.filter, cx));
  for (const term of q.search ? searchTerms(q.search) : []) {
    qb.whereIn(
      "c.id",
      cx.db("contact_search_tokens")
        .select("contact_id")
        .where("contact_search_tokens.tenant_id", cx.tenantId)
        .whereRaw("token like ? escape '!'", [`${term.replace(/[!%_]/g, (ch) => `!${ch}`)}%`]),
    );
  }
}

export async function queryContactPage(cx: CompileContext, q: ContactPageQuery): Promise<ContactPage> {
  const { db, tenantId } = cx;
  const order = sortExpression(q.sort, cx);
  const dir = q.sort.descending ? "desc" : "asc";
  const inner = db("contacts as c").select("c.id", db.raw(`${order.sql} as sort_value`));
  if (order.join) {
    const key = order.join.key;
    inner.leftJoin("contact_field_values as sv", (j) => {
      j.on("sv.contact_id", "=", "c.id").andOn("sv.tenant_id", "=", "c.tenant_id").andOn("sv.field_key", "=", db.raw("?", [key]));
    });
  }
  matching(inner, q, cx);
  if (q.after) {
    const [value, id] = q.after;
    const cmp = q.sort.descending ? "<" : ">";
    inner.where((w) => w.whereRaw(`${order.sql} ${cmp} ?`, [value]).orWhere((e) => e.whereRaw(`${order.sql} = ?`, [value]).where("c.id", cmp, id)));
  }
  inner.orderByRaw(`${order.sql} ${dir}, c.id ${dir}`).limit(q.limit + 1);
  if (q.offset) inner.offset(q.offset);

  const rows = (await db
    .select("d.doc", "p.sort_value", "p.id")
    .from(inner.as("p"))
    .join("contacts as d", (j) => j.on("d.id", "=", "p.id").andOn("d.tenant_id", "=", db.raw("?", [tenantId])))
    .orderByRaw(`p.sort_value ${dir}, p.id ${dir}`)) as { doc: string; sort_value: Scalar; id: string }[];
  const hasNext = rows.length > q.limit;
  if (hasNext) rows.pop();

  let total: number | undefined;
  let tooManyToCount: boolean | undefined;
  if (q.countUpTo !== undefined) {
    const capped = db("contacts as c").select(db.raw("1"));
    matching(capped, q, cx);
    capped.limit(q.countUpTo + 1);
    const counted = await db.count({ n: "*" }).from(capped.as("m")).first();
    const n = Number(counted?.n ?? 0);
    tooManyToCount = n > q.countUpTo;
    total = Math.min(n, q.countUpTo);
  }
  return {
    contacts: rows.map((r) => JSON.parse(r.doc) as StoredContact),
    keys: rows.map((r) => [r.sort_value, r.id]),
    hasNext,
    ...(total === undefined ? {} : { total, tooManyToCount }),
  };
}

/** How many of the tenant's contacts match a filter (for facets). */
export async function countContacts(cx: CompileContext, filter: Filter): Promise<number> {
  const qb = cx.db("contacts as c").count({ n: "*" });
  matching(qb, { filter, sort: undefined as never, limit: 0 }, cx);
  const row = await qb.first();
  return Number(row?.n ?? 0);
}

/** Contacts per label among those matching `filter`. */
export async function countByLabel(cx: CompileContext, filter: Filter): Promise<Map<string, number>> {
  const matches = cx.db("contacts as c").select("c.id");
  matching(matches, { filter, sort: undefined as never, limit: 0 }, cx);
  const rows = await cx
    .db("contact_labels")
    .where("contact_labels.tenant_id", cx.tenantId)
    .whereIn("contact_id", matches)
    .groupBy("label_key")
    .select("label_key", cx.db.raw("count(*) as n"));
  return new Map(rows.map((r: { label_key: string; n: number | string }) => [r.label_key, Number(r.n)]));
}
