/**
 * Running contact queries: one page (offset or keyset), capped counts and facet counts. The
 * page is found on index columns first (ids and sort values only) and the documents are fetched
 * by primary key afterwards, so deep offsets do not drag whole rows along.
 *
 * Some query shapes are planned here rather than left to the generic filter compiler, because the
 * optimizer cannot find a good plan for them on its own: a label, a custom field's range, a short
 * search word or name prefix under the creation-date sort; several search words; company
 * equality under a sort by first name; capped counts; and, on MariaDB, the count-first path of a
 * selective filter. README "Performance" says what each does and why (bench/RESULTS.md has the
 * plans); planQuery and the functions it calls say how. The rewrites are exact (a contact has one
 * contact_labels row per label and one contact_field_values row per field; the created_at of
 * both is the contact's created_at).
 */
import type { Knex } from "knex";
import { extendedFieldKeyOf } from "../domain/contact-query.js";
import type { StoredContact } from "../domain/contacts.js";
import type { Filter, Scalar, Sort } from "../domain/query.js";
import { isPrefix, PREFIX_MAX, searchTerms } from "../domain/search.js";
import { applyContactFilter, CMP, type CompileContext, equalityThenSortOf, namePrefixOf, sortExpression } from "./filter-compiler.js";
import { type NameField, SORT_KEY_LENGTH } from "./contact-index.js";
import { getContacts } from "./contacts.js";
import { isMysql, likeEscape, whereStartsWith, whereStartsWithRange } from "./db.js";
import { whereAfter } from "./keyset.js";

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

type Comparison = Extract<Filter, { kind: "compare" }>;

/** Comparisons on one custom NUMBER or DATE field, merged into one range of its value rows. */
export interface FieldRange {
  key: string;
  column: "num_value" | "date_value";
  conditions: Comparison[];
}

/** How a query is run: what drives it, and what is left for the filter compiler. */
export interface Plan {
  /**
   * The page comes from one key's rows of a table that holds them in creation order: a label's
   * rows of contact_labels, or a short search word's rows of contact_search_prefixes.
   */
  keyed?: KeyRows;
  /** The page comes from this range's rows of contact_field_values, sorted by creation date. */
  driver?: FieldRange;
  /** The page comes from this search word's rows of contact_search_tokens, sorted by creation date. */
  word?: string;
  /** Further ranges: `c.id in (one range over contact_field_values)` each. */
  ranges: FieldRange[];
  /** The rest of the filter. */
  rest: Filter;
  search: string[];
  /** The search words are matched together on the token table, the first (the rarest) driving. */
  intersect?: boolean;
  /** The contacts the search words match, found first (then `search` is empty). */
  ids?: string[];
  /**
   * Search words alone under the creation-date sort: every contact they match, with its creation
   * date, found first (then `search` is empty); the page is sorted from these.
   */
  known?: Match[];
  /** The matches, counted up to the count's cap (and one more) while the search was planned. */
  found?: number;
}

/** A contact a query matches, with its creation date. */
export interface Match {
  id: string;
  createdAt: number;
}

/**
 * One key's rows of a per-contact table indexed (tenant_id, [field,] key, created_at, contact_id),
 * as `l`.
 */
export interface KeyRows {
  table: "contact_labels" | "contact_search_prefixes" | "contact_name_prefixes";
  column: "label_key" | "prefix";
  key: string;
  /** contact_name_prefixes: which name. */
  field?: NameField;
}

/** The filter as a list of conditions that must all hold (nested `and`s flattened). */
function conjuncts(f: Filter): Filter[] {
  return f.kind === "and" ? f.filters.flatMap(conjuncts) : [f];
}

/** The first step of the planner (a pure function): what drives the query and what is left for the filter compiler. */
export function planQuery(q: Pick<ContactPageQuery, "filter" | "sort" | "search">, cx: Pick<CompileContext, "customTypes">): Plan {
  let parts = conjuncts(q.filter);
  let keyed: KeyRows | undefined;
  const search = q.search ? searchTerms(q.search) : [];
  if (q.sort?.field.path === "createdDate") {
    const i = parts.findIndex((f) => f.kind === "has" && f.field.path === "info.labelKeys" && f.values.length > 0 && (f.all || f.values.length === 1));
    const has = parts[i];
    if (has?.kind === "has") {
      keyed = { table: "contact_labels", column: "label_key", key: String(has.values[0]) };
      parts = parts.filter((_, j) => j !== i);
      if (has.values.length > 1) parts.push({ ...has, values: has.values.slice(1) });
    }
  }
  const byField = new Map<string, Comparison[]>();
  for (const f of parts) {
    if (f.kind !== "compare" || !(f.op in CMP)) continue;
    const key = extendedFieldKeyOf(f.field.path);
    const type = key ? cx.customTypes.get(key) : undefined;
    if (!key || (type !== "NUMBER" && type !== "DATE")) continue;
    byField.set(key, [...(byField.get(key) ?? []), f]);
  }
  const ranges: Plan["ranges"] = [];
  for (const [key, conditions] of byField) {
    ranges.push({ key, column: cx.customTypes.get(key) === "NUMBER" ? "num_value" : "date_value", conditions });
    parts = parts.filter((f) => !conditions.includes(f as Comparison));
  }
  const rest: Filter = parts.length === 1 ? (parts[0] as Filter) : { kind: "and", filters: parts };
  // Alone under the creation-date sort, a short search word or name prefix is one key of a prefix
  // table: its contacts, each once, in page order. With other conditions it is one of them:
  // walking its rows in page order while testing a rare condition would read most of them.
  const short = !keyed && ranges.length === 0 && q.sort?.field.path === "createdDate" ? prefixKey(parts, search) : undefined;
  // The key is the whole query: no condition is left to test.
  if (short) return { keyed: short, ranges, rest: { kind: "and", filters: [] }, search: [] };
  return { ...(keyed ? { keyed } : {}), ranges, rest, search };
}

/**
 * False for a prefix ending in a space or a control character (or empty), which is left to the
 * filter compiler (MariaDB's PAD SPACE comparison).
 */
function endsAboveSpace(prefix: string): boolean {
  return prefix !== "" && (prefix.codePointAt(prefix.length - 1) as number) > 0x20;
}

/**
 * The prefix-table key of a query that is one search word of up to PREFIX_MAX characters
 * (contact_search_prefixes, migration 010), or one name `$startsWith` that short (its lower-case
 * form in contact_name_prefixes, migration 011), and nothing else.
 */
function prefixKey(parts: readonly Filter[], search: readonly string[]): KeyRows | undefined {
  const [term] = search;
  const [only] = parts;
  if (parts.length === 0 && search.length === 1 && term !== undefined && isPrefix(term)) {
    return { table: "contact_search_prefixes", column: "prefix", key: term };
  }
  if (search.length > 0 || parts.length !== 1 || only?.kind !== "startsWith") return undefined;
  const field = namePrefixOf(only.field.path);
  const lp = only.prefix.toLowerCase();
  return field && [...lp].length <= PREFIX_MAX && endsAboveSpace(lp) ? { table: "contact_name_prefixes", column: "prefix", key: lp, field } : undefined;
}

/** The contact_field_values rows (as `v`) of one field within its merged range. */
function rangeQuery(db: Knex, tenantId: string, r: FieldRange): Knex.QueryBuilder {
  const qb = db("contact_field_values as v").where("v.tenant_id", tenantId).where("v.field_key", r.key);
  for (const f of r.conditions) qb.whereRaw(`v.${r.column} ${CMP[f.op as keyof typeof CMP]} ?`, [f.value]);
  return qb;
}

/** The search tokens starting with one search word. */
function tokenQuery(db: Knex, tenantId: string, term: string, as = "t"): Knex.QueryBuilder {
  const qb = db(`contact_search_tokens as ${as}`).where(`${as}.tenant_id`, tenantId);
  whereStartsWith(qb, `${as}.token`, term);
  return qb;
}

/** The contacts of one search prefix (a word of up to PREFIX_MAX characters): one row each. */
function prefixQuery(db: Knex, tenantId: string, prefix: string): Knex.QueryBuilder {
  return db("contact_search_prefixes as p").where("p.tenant_id", tenantId).where("p.prefix", prefix);
}

/** The ids of the contacts one search word matches (a contact may come more than once). */
function termContacts(db: Knex, tenantId: string, term: string): Knex.QueryBuilder {
  return isPrefix(term) ? prefixQuery(db, tenantId, term).select("p.contact_id") : tokenQuery(db, tenantId, term).select("t.contact_id");
}

/**
 * The contacts with a token starting with each search word, found on the token table alone: the
 * first word's rows, each checked for the other words in the contact's word list it carries
 * (migration 009) — a read of one index range instead of an index probe per contact and word.
 * A row without the list (a contact with more words than it holds) has the word looked up.
 */
function tokenIntersection(db: Knex, tenantId: string, terms: readonly string[], withCreated = false): Knex.QueryBuilder {
  const [first = "", ...others] = terms;
  const q = tokenQuery(db, tenantId, first).distinct(withCreated ? ["t.contact_id", "t.created_at"] : ["t.contact_id"]);
  // Compared as bytes: MariaDB's LIKE in a character set costs several times more per row.
  const words = isMysql(db) ? "cast(t.words as binary)" : "t.words";
  others.forEach((term, i) => {
    const t = `t${i}`;
    const lookup = tokenQuery(db, tenantId, term, t).whereRaw(`${t}.contact_id = t.contact_id`).select(db.raw("1"));
    q.where((w) => w.whereRaw(`${words} like ? escape '!'`, [`% ${likeEscape(term)}%`]).orWhere((n) => n.whereNull("t.words").whereExists(lookup)));
  });
  return q;
}

/** Most token rows counted per word to find the rarest one. */
const WORD_COUNT_CAP = 1_000;
/** Most token rows a word's page is sorted from (beyond: creation order is walked instead). */
const WORD_SORT_CAP = 50_000;

/** A word's token rows, counted up to `cap` (an index-only read of its token range). */
async function tokenRows(cx: CompileContext, term: string, cap: number): Promise<number> {
  const capped = tokenQuery(cx.db, cx.tenantId, term).select(cx.db.raw("1")).limit(cap);
  const row = (await cx.db.count({ n: "*" }).from(capped.as("w")).first()) as { n: number | string } | undefined;
  return Number(row?.n ?? 0);
}

/**
 * Several search words on MariaDB: they are intersected on the token table, led by the word with
 * the fewest tokens (capped counts of each word's token range, an index-only read). When they
 * match few contacts, those are found here, once, and the query takes them by id. When they are
 * the whole query, under the creation-date sort, their matches are found here with their creation
 * dates (the token rows carry it) up to the count's cap: then the page is sorted from those and
 * the count is theirs, instead of a count and a page that each intersect the words again.
 */
async function intersectSearch(cx: CompileContext, plan: Plan, q: Pick<ContactPageQuery, "sort" | "countUpTo">): Promise<Plan> {
  if (!isMysql(cx.db) || plan.search.length < 2) return plan;
  const counts = await Promise.all(plan.search.map(async (term) => ({ term, n: await tokenRows(cx, term, WORD_COUNT_CAP) })));
  // Equal counts (both at the cap): the longer word first, the likelier to be the rarer.
  counts.sort((a, b) => a.n - b.n || [...b.term].length - [...a.term].length);
  const search = counts.map((c) => c.term);
  const alone = q.sort?.field.path === "createdDate" && plan.keyed === undefined && plan.ranges.length === 0 && conjuncts(plan.rest).length === 0;
  if (alone) {
    const cap = Math.max(q.countUpTo ?? 0, SELECTIVE);
    const rows = (await tokenIntersection(cx.db, cx.tenantId, search, true).limit(cap + 1)) as { contact_id: string; created_at: number | string }[];
    if (rows.length > cap) return { ...plan, search, intersect: true, found: rows.length };
    return { ...plan, search: [], known: rows.map((r) => ({ id: r.contact_id, createdAt: Number(r.created_at) })) };
  }
  const found = (await tokenIntersection(cx.db, cx.tenantId, search).limit(SELECTIVE + 1)) as { contact_id: string }[];
  if (found.length > SELECTIVE) return { ...plan, search, intersect: true };
  return { ...plan, search: [], ids: found.map((r) => r.contact_id) };
}

/** `where` of every contact query: the tenant, the filter and the search. */
function matching(qb: Knex.QueryBuilder, plan: Plan, cx: CompileContext): void {
  qb.where("c.tenant_id", cx.tenantId);
  qb.where((sub) => applyContactFilter(sub, plan.rest, cx));
  for (const r of plan.ranges) qb.whereIn("c.id", rangeQuery(cx.db, cx.tenantId, r).select("v.contact_id"));
  if (plan.ids) qb.whereIn("c.id", plan.ids);
  if (plan.intersect) qb.whereIn("c.id", tokenIntersection(cx.db, cx.tenantId, plan.search));
  else for (const term of plan.search) qb.whereIn("c.id", termContacts(cx.db, cx.tenantId, term));
}

/** At most this many matches: find them all by the filter's index and sort them. */
const SELECTIVE = 5000;

/** True when the plan tests more than its driving index (a label's rows, or all contacts). */
function filtered(plan: Plan): boolean {
  return plan.ranges.length > 0 || plan.search.length > 0 || plan.ids !== undefined || conjuncts(plan.rest).length > 0;
}

/**
 * The rows a query reads, from its page source's table: `contacts as c`, a key's rows as `l`, a
 * field range's `contact_field_values as v` or a word's `contact_search_tokens as t` (joined to
 * `c` only when the filter needs the contact row). A "contacts" source's `avoidIndex`: the
 * matches are few; MariaDB is told not to walk the sort order's index instead (which reads rows
 * in page order and tests each against the filter: cheap when matches are dense, a scan of most
 * of the tenant when they are rare).
 */
function source(cx: CompileContext, plan: Plan, page: PageSource = pageSourceOf(plan)): Knex.QueryBuilder {
  const { db, tenantId } = cx;
  switch (page.kind) {
    case "word":
      return withContacts(tokenQuery(db, tenantId, page.word), "t", plan, cx);
    case "fieldRange":
      return withContacts(rangeQuery(db, tenantId, page.range), "v", plan, cx);
    case "keyed": {
      const { table, column, key, field } = page.rows;
      const qb = db(`${table} as l`).where("l.tenant_id", tenantId);
      if (field) qb.where("l.field", field);
      qb.where(`l.${column}`, key);
      // utf8mb4_bin pads with spaces ('a' = 'a '): compare the bytes too, as the filter compiler does.
      if (isMysql(db)) qb.whereRaw(`cast(l.${column} as binary) = ?`, [key]);
      return withContacts(qb, "l", plan, cx);
    }
    default: {
      // Only for ORDER BY: another index may still serve both the filter and the order.
      const avoidIndex = page.kind === "contacts" ? page.avoidIndex : undefined;
      const qb = avoidIndex ? db.from(db.raw(`contacts as c ignore index for order by (${avoidIndex})`)) : db("contacts as c");
      matching(qb, plan, cx);
      return qb;
    }
  }
}

/** The driving table's sort value (the creation date its rows carry) and contact id, by page source. */
const DRIVEN_BY: Partial<Record<PageSource["kind"], { sort: string; id: string }>> = {
  keyed: { sort: "l.created_at", id: "l.contact_id" },
  fieldRange: { sort: "v.created_at", id: "v.contact_id" },
  word: { sort: "t.created_at", id: "t.contact_id" },
};

/** A driving table's rows (aliased), joined to their contacts when the rest of the plan tests them. */
function withContacts(qb: Knex.QueryBuilder, alias: string, plan: Plan, cx: CompileContext): Knex.QueryBuilder {
  if (filtered(plan)) {
    qb.join("contacts as c", (j) => j.on("c.tenant_id", "=", `${alias}.tenant_id`).andOn("c.id", "=", `${alias}.contact_id`));
    matching(qb, plan, cx);
  }
  return qb;
}

/**
 * Index runs that hold matches in creation order, one per key: a name key's contacts in the
 * name+created index (migration 004), a search token's contacts in the token+created index
 * (migration 006).
 */
interface RunSource {
  /** The table, aliased, and the index to read it by. */
  from: string;
  alias: string;
  key: string;
  id: string;
  /** A contact may be in several runs (several of its tokens start with the word). */
  overlapping: boolean;
  /** Its runs, when found, are the page whatever the count: the page is read beside the count. */
  countFree: boolean;
}

/** A name's runs: its name+created index (migration 004). */
function nameRuns(n: NameField): RunSource {
  return {
    from: `contacts as c force index (contacts_${n}_name_created_idx)`,
    alias: "c",
    key: `c.${n}_name_key`,
    id: "c.id",
    overlapping: false,
    countFree: true,
  };
}
const TOKEN_RUNS: RunSource = {
  from: "contact_search_tokens as t force index (contact_search_tokens_created_idx)",
  alias: "t",
  key: "t.token",
  id: "t.contact_id",
  overlapping: true,
  // One word's few matches are sorted off its token rows instead (see queryContactPage).
  countFree: false,
};

export interface Runs extends RunSource {
  keys: string[];
}

/** Most distinct keys a merge reads a run of, and most it looks at to find them. */
const MERGE_MAX_KEYS = 100;
const MERGE_SCAN_KEYS = 200;
/** Deepest page (offset + limit) a merge serves: each run reads that many entries. */
const MERGE_MAX_DEPTH = 2000;

/**
 * A name prefix alone, or one search word alone, under the creation-date sort on MariaDB: the
 * distinct keys (names, tokens) with the prefix, found by a loose scan of the index, when there
 * are few. Each key's contacts are a run of that index already in page order, so the page is a
 * merge of those runs' heads instead of a sort of every match (tens of thousands for a
 * two-letter prefix) or a walk of every contact in creation order testing the search.
 */
async function prefixRuns(cx: CompileContext, plan: Plan, q: ContactPageQuery): Promise<Runs | undefined> {
  if (!isMysql(cx.db) || q.sort?.field.path !== "createdDate" || plan.keyed !== undefined || plan.driver !== undefined || plan.word !== undefined)
    return undefined;
  if (plan.ranges.length > 0 || plan.ids || (q.offset ?? 0) + q.limit + 1 > MERGE_MAX_DEPTH) return undefined;
  const f = plan.rest;
  let source: RunSource | undefined;
  let prefix: string;
  if (plan.search.length === 1 && !plan.intersect && conjuncts(f).length === 0) {
    source = TOKEN_RUNS;
    prefix = plan.search[0] as string;
  } else if (plan.search.length === 0 && f.kind === "startsWith") {
    const name = namePrefixOf(f.field.path);
    source = name ? nameRuns(name) : undefined;
    prefix = f.prefix.toLowerCase();
    // The name key holds the first SORT_KEY_LENGTH characters.
    if ([...prefix].length > SORT_KEY_LENGTH) return undefined;
  } else return undefined;
  if (!source || !endsAboveSpace(prefix)) return undefined;
  // One index entry per key: MariaDB's loose index scan ("Using index for group-by"), which a
  // condition beyond the key range would turn off; the keys are checked for the prefix here.
  const groups = cx.db
    .from(cx.db.raw(source.from))
    .where(`${source.alias}.tenant_id`, cx.tenantId)
    .select(`${source.alias}.tenant_id`, cx.db.raw(`${source.key} as k`))
    .groupByRaw(`${source.alias}.tenant_id, ${source.key}`);
  whereStartsWithRange(groups, source.key, prefix);
  const rows = (await groups.limit(MERGE_SCAN_KEYS)) as { k: string }[];
  const keys = rows.map((r) => r.k).filter((k) => k.startsWith(prefix));
  if (rows.length === MERGE_SCAN_KEYS || keys.length === 0 || keys.length > MERGE_MAX_KEYS) return undefined;
  return { ...source, keys };
}

/**
 * The filter is one equality (one value) on a field whose index continues with the sort's key
 * (equalityThenSortOf: company under a sort by first name, contacts_company_exact_idx): the index
 * serves the sort in index order however many contacts match.
 */
function sortedByEquality(plan: Plan, sort: Sort): boolean {
  const f = plan.rest;
  const single = (f.kind === "compare" && f.op === "$eq") || (f.kind === "in" && !f.negate && f.values.length === 1);
  if (!single || plan.ranges.length > 0 || plan.search.length > 0 || plan.ids !== undefined) return false;
  return equalityThenSortOf(f.field.path) === sort?.field.path;
}

/**
 * How a page of contacts is read: one variant per strategy, each the rows that come out in page
 * order (or are sorted) before the page's documents are fetched by id.
 */
export type PageSource =
  /** Search words alone under the creation-date sort: every match was found while planning, with its creation date; sorted in memory (knownPage). */
  | { kind: "known"; matches: readonly Match[] }
  /** One key's rows of a table that holds them in creation order: a label's contact_labels rows, a short word's or name prefix's prefix rows. */
  | { kind: "keyed"; rows: KeyRows }
  /** Few matches of a custom field's range: its contact_field_values rows, which carry the creation date, sorted. */
  | { kind: "fieldRange"; range: FieldRange }
  /** One search word: its contact_search_tokens rows, which carry the creation date, each contact once, sorted. */
  | { kind: "word"; word: string }
  /** A name prefix or one word with few distinct keys: a merge of each key's index run, already in creation order (mergedRuns). */
  | { kind: "runs"; runs: Runs }
  /** Everything else: the contacts rows, filtered and sorted; told not to walk the sort's index (`avoidIndex`) when the matches are few. */
  | { kind: "contacts"; avoidIndex?: string };

/** The strategy a chosen plan (and its runs, and the index to avoid) amounts to. */
export function pageSourceOf(plan: Plan, runs?: Runs, avoidIndex?: string): PageSource {
  if (plan.known) return { kind: "known", matches: plan.known };
  if (runs) return { kind: "runs", runs };
  if (plan.keyed) return { kind: "keyed", rows: plan.keyed };
  if (plan.driver) return { kind: "fieldRange", range: plan.driver };
  if (plan.word !== undefined) return { kind: "word", word: plan.word };
  return { kind: "contacts", ...(avoidIndex ? { avoidIndex } : {}) };
}

/** What probing the database found, for choosing how a page is read (choosePageSource). */
export interface Probes {
  /** The matches, counted up to the cap (absent: not counted). */
  counted?: number;
  /** Index runs whose merge can be the page (prefixRuns). */
  runs?: Runs;
  /** One search word's token rows, counted up to WORD_SORT_CAP (when wordRowsNeeded asks). */
  wordRows?: number;
}

/** The query facts the page source depends on. */
type SourceQuery = Pick<ContactPageQuery, "sort" | "countUpTo">;

/** The one search word that drives the page off its token rows, when it may (see choosePageSource). */
/**
 * Few matches of a field range under the creation-date sort: read them off the range's value
 * rows, which carry the creation date (migration 005), and sort those; no contact row is read.
 */
function withFieldDriver(plan: Plan, q: SourceQuery, counted: number | undefined): Plan {
  const [first, ...others] = plan.ranges;
  if (counted !== undefined && counted <= SELECTIVE && first && plan.keyed === undefined && q.sort?.field.path === "createdDate") {
    return { ...plan, driver: first, ranges: others };
  }
  return plan;
}

/**
 * The plan after withFieldDriver, and — when one search word may drive the page off its token
 * rows — that word, the runs still worth merging (none once its matches are few enough to
 * sort), and whether its matches are known to be few enough to sort without counting its rows.
 */
function wordChoice(plan: Plan, q: SourceQuery, probes: Probes) {
  const driven = withFieldDriver(plan, q, probes.counted);
  const [word] = driven.search;
  const createdOrder = q.sort?.field.path === "createdDate" && driven.keyed === undefined && driven.driver === undefined;
  const counted = probes.counted;
  if (counted === undefined || word === undefined || driven.search.length !== 1 || driven.intersect || !createdOrder) {
    return { driven, runs: probes.runs };
  }
  return { driven, word, runs: counted <= SELECTIVE ? undefined : probes.runs, known: counted <= Math.max(q.countUpTo ?? 0, SELECTIVE) };
}

/** The search word whose token rows choosePageSource needs counted, if any. */
export function wordRowsNeeded(plan: Plan, q: SourceQuery, probes: Probes): string | undefined {
  const c = wordChoice(plan, q, probes);
  return c.word !== undefined && !c.runs && !c.known ? c.word : undefined;
}

/**
 * How a page is read, once probing has found what it needs (a pure function: the planner's last
 * step). A field range's value rows drive it when its matches are few (withFieldDriver). One
 * search word's token rows drive it (migration 006: each contact once, sorted there) when its
 * matches are few enough to sort (SELECTIVE), or, without runs to merge, when they are counted
 * (at most 10,000, the count offset paging makes) or its token rows are fewer than
 * WORD_SORT_CAP; a word matching more is dense enough for walking the creation order to fill a
 * page soon, and a word with many matches and few distinct tokens merges their runs.
 */
export function choosePageSource(plan: Plan, q: SourceQuery, probes: Probes): { plan: Plan; runs?: Runs } {
  const c = wordChoice(plan, q, probes);
  if (c.word !== undefined && !c.runs && (c.known || (probes.wordRows ?? WORD_SORT_CAP) < WORD_SORT_CAP)) {
    return { plan: { ...c.driven, word: c.word, search: [] } };
  }
  return { plan: c.driven, ...(c.runs ? { runs: c.runs } : {}) };
}

export async function queryContactPage(cx: CompileContext, q: ContactPageQuery): Promise<ContactPage> {
  const { db, tenantId } = cx;
  let plan = await intersectSearch(cx, planQuery(q, cx), q);
  const found = pageSourceOf(plan);
  if (found.kind === "known") return knownPage(cx, found.matches, q);
  const dir = q.sort.descending ? "desc" : "asc";
  // A filtered query on MariaDB counts its matches first (up to what offset paging asks for, or
  // just far enough to tell): how many there are decides how the page is found. Not when one
  // index serves both the filter and the order: the page is read off it and counted beside it.
  // A name prefix or one search word with few distinct keys (names, tokens) may page as a merge
  // of their runs: the runs are found beside the count, and a name prefix's page is read beside
  // it too (its runs are its page whatever the count).
  let counted: number | undefined = plan.found;
  let runs: Runs | undefined;
  let counting: Promise<number> | undefined;
  if (isMysql(db) && counted === undefined && plan.keyed === undefined && filtered(plan) && !sortedByEquality(plan, q.sort)) {
    counting = countUpTo(cx, plan, Math.max(q.countUpTo ?? 0, SELECTIVE));
    // Handled where it is awaited; this only keeps a failure while the runs are looked for from
    // being reported as unhandled.
    counting.catch(() => undefined);
    runs = await prefixRuns(cx, plan, q);
    if (!runs?.countFree) {
      counted = await counting;
      counting = undefined;
    }
  }
  const wordProbe = wordRowsNeeded(plan, q, { counted, runs });
  const chosen = choosePageSource(plan, q, {
    counted,
    runs,
    ...(wordProbe !== undefined ? { wordRows: await tokenRows(cx, wordProbe, WORD_SORT_CAP) } : {}),
  });
  plan = chosen.plan;
  runs = chosen.runs;
  const drivenBy = DRIVEN_BY[pageSourceOf(plan).kind];
  const order = drivenBy === undefined ? sortExpression(q.sort, cx) : undefined;
  const page = pageSourceOf(plan, runs, counted !== undefined && counted <= SELECTIVE ? order?.index : undefined);
  const inner = source(cx, plan, page);
  // The sort value and the id, on the driving table's columns (a label's rows carry the
  // contact's created_at, so they come out of contact_labels_key_idx in page order).
  const key = order ? { sort: order.sql, id: "c.id" } : (drivenBy as { sort: string; id: string });
  if (order) {
    if (order.join) {
      const field = order.join.key;
      inner.leftJoin("contact_field_values as sv", (j) => {
        j.on("sv.contact_id", "=", "c.id")
          .andOn("sv.tenant_id", "=", "c.tenant_id")
          .andOn("sv.field_key", "=", db.raw("?", [field]));
      });
    }
  }
  // A contact has several tokens a word may match: the token rows give each contact once.
  if (page.kind === "word") inner.distinct(db.raw(`${key.id} as id`), db.raw(`${key.sort} as sort_value`));
  else inner.select(db.raw(`${key.id} as id`), db.raw(`${key.sort} as sort_value`));
  if (q.after) {
    const descending = q.sort.descending;
    whereAfter(
      inner,
      [
        { key: db.raw(key.sort), descending },
        { key: db.raw(key.id), descending },
      ],
      q.after,
    );
  }
  inner.orderByRaw(`${key.sort} ${dir}, ${key.id} ${dir}`).limit(q.limit + 1);
  if (q.offset) inner.offset(q.offset);

  const ids = page.kind === "runs" ? mergedRuns(cx, page.runs, q, dir) : inner;
  const pageQuery = db
    .select("d.doc", "p.sort_value", "p.id")
    .from(ids.as("p"))
    .join("contacts as d", (j) => j.on("d.id", "=", "p.id").andOn("d.tenant_id", "=", db.raw("?", [tenantId])))
    .orderByRaw(`p.sort_value ${dir}, p.id ${dir}`) as unknown as Promise<{ doc: string; sort_value: Scalar; id: string }[]>;
  // Otherwise the capped count runs beside the page (its own connection), not after it — unless
  // the page starts at or beyond the cap: a page there that has rows shows by itself that the
  // matches are more than the cap, and only an empty one needs counting (after it).
  const offset = q.offset ?? 0;
  const countIfEmpty = q.countUpTo !== undefined && counted === undefined && counting === undefined && offset >= q.countUpTo;
  const [rows, sideCount] = await Promise.all([
    pageQuery,
    counting ?? (q.countUpTo === undefined || counted !== undefined || countIfEmpty ? undefined : countUpTo(cx, plan, q.countUpTo)),
  ]);
  counted ??= sideCount;
  if (countIfEmpty && rows.length === 0) counted = await countUpTo(cx, plan, q.countUpTo as number);
  const hasNext = rows.length > q.limit;
  if (hasNext) rows.pop();

  let total: number | undefined;
  let tooManyToCount: boolean | undefined;
  if (q.countUpTo !== undefined) {
    // A page that has rows shows the exact total itself when it has no next page, and a lower
    // bound (its last row, and one more) when it has one.
    const n = rows.length > 0 && (!hasNext || counted === undefined) ? offset + rows.length + (hasNext ? 1 : 0) : (counted as number);
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

/**
 * A page of matches found with their creation dates (Plan.known): sorted here as the page query
 * sorts (creation date, then id: ids compare byte-wise, as their binary collation does), then
 * their documents read by id. A contact deleted since its match was read is left out, as if it
 * had gone before.
 */
async function knownPage(cx: CompileContext, known: readonly Match[], q: ContactPageQuery): Promise<ContactPage> {
  const sign = q.sort.descending ? -1 : 1;
  const order = (a: Match, b: Match) => sign * (a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const after = q.after ? { createdAt: Number(q.after[0]), id: q.after[1] } : undefined;
  const rest = (after ? known.filter((m) => order(m, after) > 0) : [...known]).sort(order);
  const offset = q.offset ?? 0;
  const page = rest.slice(offset, offset + q.limit + 1);
  const hasNext = page.length > q.limit;
  if (hasNext) page.pop();
  const ids = page.map((m) => m.id);
  const byId = new Map((await getContacts(cx.db, cx.tenantId, ids)).map((c) => [c.id, c]));
  const rows = page.filter((m) => byId.has(m.id));
  return {
    contacts: rows.map((m) => byId.get(m.id) as StoredContact),
    keys: rows.map((m) => [m.createdAt, m.id]),
    hasNext,
    ...(q.countUpTo === undefined ? {} : { total: Math.min(known.length, q.countUpTo), tooManyToCount: known.length > q.countUpTo }),
  };
}

/**
 * The page of a prefix merge (see prefixRuns): from each key's run the first rows after the
 * cursor, as deep as the page goes; then the page among those. Within a key (compared as MariaDB
 * does, trailing spaces aside: the prefix does not end in one, so those variants all match) the
 * index is in (created_at, id) order.
 */
function mergedRuns(cx: CompileContext, runs: Runs, q: ContactPageQuery, dir: "asc" | "desc"): Knex.QueryBuilder {
  const { db, tenantId } = cx;
  const depth = (q.offset ?? 0) + q.limit + 1;
  const created = `${runs.alias}.created_at`;
  const branches = runs.keys.map((k) => {
    const b = db.from(db.raw(runs.from)).where(`${runs.alias}.tenant_id`, tenantId).whereRaw(`${runs.key} = ?`, [k]);
    if (q.after) {
      const descending = q.sort.descending;
      whereAfter(
        b,
        [
          { key: created, descending },
          { key: db.raw(runs.id), descending },
        ],
        q.after,
      );
    }
    return b
      .select(db.raw(`${runs.id} as id`), db.raw(`${created} as sort_value`))
      .orderByRaw(`${created} ${dir}, ${runs.id} ${dir}`)
      .limit(depth);
  });
  // A contact in several runs is in each at its creation date: the union keeps it once, and a
  // run's first `depth` rows still hold every one of its contacts among the merge's first `depth`.
  const union = runs.overlapping ? db.queryBuilder().union(branches, true) : db.queryBuilder().unionAll(branches, true);
  return db
    .select("u.id", "u.sort_value")
    .from(union.as("u"))
    .orderByRaw(`u.sort_value ${dir}, u.id ${dir}`)
    .limit(q.limit + 1)
    .offset(q.offset ?? 0);
}

/**
 * How many contacts match, counting no further than `cap + 1`. A query read straight off one
 * index range (all the tenant's contacts, or one label's) probes for row `cap + 1` on that index
 * and counts exactly only when there is none; a filtered query counts its matches up to the cap
 * in one pass.
 */
async function countUpTo(cx: CompileContext, plan: Plan, cap: number): Promise<number> {
  const { db, tenantId } = cx;
  if (!filtered(plan)) {
    const probe = source(cx, plan).select(db.raw("1 as one"));
    // The narrow creation-date index, not the primary key (the whole rows), for the tenant's contacts.
    if (plan.keyed === undefined && plan.driver === undefined) probe.orderBy("c.created_at");
    const beyond = await probe.offset(cap).limit(1);
    if ((beyond as unknown[]).length > 0) return cap + 1;
    const exact = await source(cx, plan).count({ n: "*" }).first();
    return Number(exact?.n ?? 0);
  }
  const [range] = plan.ranges;
  const [term] = plan.search;
  const only = plan.keyed === undefined && plan.driver === undefined && conjuncts(plan.rest).length === 0;
  // The search's matches alone, already found.
  if (only && plan.ids && plan.ranges.length === 0 && plan.search.length === 0) return Math.min(plan.ids.length, cap + 1);
  const capped =
    only && range && plan.ranges.length === 1 && plan.search.length === 0
      ? // One field's range alone: its contact_field_values rows are the matches (one per contact).
        rangeQuery(db, tenantId, range).select(db.raw("1"))
      : only && term !== undefined && plan.search.length === 1 && plan.ranges.length === 0
        ? // One search word alone: the contacts with a token starting with it.
          isPrefix(term)
          ? prefixQuery(db, tenantId, term).select(db.raw("1"))
          : tokenQuery(db, tenantId, term).distinct("t.contact_id")
        : only && plan.intersect && plan.ranges.length === 0
          ? // Search words alone: their intersection on the token table.
            tokenIntersection(db, tenantId, plan.search)
          : source(cx, plan).select(db.raw("1"));
  capped.limit(cap + 1);
  const counted = await db.count({ n: "*" }).from(capped.as("m")).first();
  return Number(counted?.n ?? 0);
}

/** How many of the tenant's contacts match a filter (for facets). */
export async function countContacts(cx: CompileContext, filter: Filter): Promise<number> {
  const qb = cx.db("contacts as c").count({ n: "*" });
  matching(qb, planQuery({ filter, sort: undefined as never }, cx), cx);
  const row = await qb.first();
  return Number(row?.n ?? 0);
}

/** Contacts per label among those matching `filter`. */
export async function countByLabel(cx: CompileContext, filter: Filter): Promise<Map<string, number>> {
  const matches = cx.db("contacts as c").select("c.id");
  matching(matches, planQuery({ filter, sort: undefined as never }, cx), cx);
  const rows = await cx
    .db("contact_labels")
    .where("contact_labels.tenant_id", cx.tenantId)
    .whereIn("contact_id", matches)
    .groupBy("label_key")
    .select("label_key", cx.db.raw("count(*) as n"));
  return new Map(rows.map((r: { label_key: string; n: number | string }) => [r.label_key, Number(r.n)]));
}

/**
 * Which of `ids` match the filter and search, as a query would find them (a bulk job checks its
 * batch again: a contact changed since the job loaded it may no longer match).
 */
export async function matchingIds(cx: CompileContext, filter: Filter, search: string | undefined, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const qb = cx
    .db("contacts as c")
    .select("c.id")
    .whereIn("c.id", [...ids]);
  matching(qb, planQuery({ filter, search, sort: undefined as never }, cx), cx);
  const rows = (await qb) as { id: string }[];
  return new Set(rows.map((r) => r.id));
}
