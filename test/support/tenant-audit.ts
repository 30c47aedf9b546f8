/**
 * RELIABILITY scenario 9, the SQL tenant audit: a knex `query` hook that records every statement
 * the server sends, and a checker that every statement touching a tenant table names the tenant.
 *
 * - select / update / delete: each reference to a tenant table (FROM, JOIN, UPDATE, DELETE FROM,
 *   also inside subqueries) needs a `tenant_id` predicate in a WHERE or ON clause: qualified
 *   (`alias.tenant_id`) anywhere in those clauses, or bare (`tenant_id = …`) in the same
 *   (sub)query when that (sub)query reads only that one table.
 * - insert: the column list carries `tenant_id`.
 * Transaction control, session settings, `select 1` pings, DDL and knex_migrations are ignored.
 *
 * The checker is textual on purpose (it sees exactly what the driver sees) and errs on the side
 * of flagging: an alias it cannot resolve, or a bare predicate shared by several tables, is a
 * violation to look at rather than a pass.
 */
import type { Knex } from "knex";

export const TENANT_TABLES = [
  "tenants",
  "labels",
  "extended_fields",
  "events",
  "idempotency_keys",
  "contacts",
  "contact_emails",
  "contact_phones",
  "contact_addresses",
  "contact_labels",
  "contact_locations",
  "contact_field_values",
  "contact_search_tokens",
  "contact_search_prefixes",
  "contact_name_prefixes",
  "dedupe_locks",
  "contact_redirects",
  "cleanup_jobs",
  "bulk_jobs",
  "bulk_job_items",
  "webhooks",
  "webhook_attempts",
] as const;

/**
 * Statements that span tenants by design, each with its reason. They run in the background, never
 * for a call.
 */
const CROSS_TENANT: readonly { sql: RegExp; why: string }[] = [
  {
    sql: /^select tenant_id, id from bulk_jobs where status in \(\?, \?, \?\) and lease_until < \? order by created_at asc limit \?$/,
    why: "a bulk job runner looks for unfinished jobs of any tenant whose lease has run out (store/bulk-jobs.ts claimableJobs)",
  },
  {
    sql: /^select tenant_id, id from bulk_jobs where status in \(\?, \?, \?\) and finished_at < \? limit \?$/,
    why: "a bulk job runner looks for finished jobs of any tenant past retention (store/bulk-jobs.ts expiredJobs)",
  },
  {
    sql: /^select tenant_id, kind, key from cleanup_jobs where lease_until < \? order by lease_until asc limit \?$/,
    why: "a cleanup runner looks for label and field removals of any tenant whose server died (store/cleanup-jobs.ts expiredCleanupJobs)",
  },
  {
    sql: /^select distinct tenant_id from webhooks where status = \?$/,
    why: "a webhook dispatcher learns which tenants have subscriptions, to wake only for their commits (store/webhooks.ts subscribedTenants)",
  },
  {
    sql: /^select id from webhook_attempts where at < \? order by at asc limit \?$/,
    why: "a webhook dispatcher looks for delivery attempts of any tenant past retention (store/webhooks.ts pruneAttempts)",
  },
  {
    sql: /^delete from webhook_attempts where id in \((\?, )*\?\)$/,
    why: "a webhook dispatcher removes those attempts, by their ids (store/webhooks.ts pruneAttempts)",
  },
];

const TABLE_SET = new Set<string>(TENANT_TABLES);

/** Words that can follow a table name and are not its alias. */
const NOT_ALIAS = new Set([
  "where",
  "on",
  "set",
  "inner",
  "left",
  "right",
  "cross",
  "join",
  "values",
  "order",
  "group",
  "limit",
  "for",
  "using",
  "union",
  "having",
  "offset",
  "as",
  "select",
  "default",
  "lock",
  "force",
  "use",
  "ignore",
  "natural",
  "straight_join",
  "returning",
]);

export type Verdict =
  | { kind: "ignored" }
  | { kind: "untenanted" }
  | { kind: "tenant"; tables: string[] }
  | { kind: "violation"; tables: string[]; problem: string };

/** Lower-cased, identifier quotes removed, string literals blanked, whitespace collapsed. */
export function normaliseSql(sql: string): string {
  return sql
    .replace(/'(?:[^'\\]|\\.|'')*'/g, "''")
    .replace(/[`"]/g, "")
    .replace(/\s+/g, " ")
    .trim()
    .toLowerCase();
}

const IGNORED =
  /^(?:begin|commit|rollback|savepoint|release|start transaction|set |pragma|create |alter |drop |truncate |show |select 1(?: as \w+)?;?$|select 1 from dual)/;

interface Segment {
  /** The (sub)query's own text: nested parenthesised groups replaced by `(…)`. */
  text: string;
}

/** Splits a statement into its parenthesis levels: each group's own text, groups blanked. */
function segments(sql: string): Segment[] {
  const out: Segment[] = [];
  const stack: string[] = [""];
  for (const ch of sql) {
    if (ch === "(") {
      stack.push("");
    } else if (ch === ")") {
      const inner = stack.pop() ?? "";
      out.push({ text: inner });
      stack[stack.length - 1] += "(…)";
    } else {
      stack[stack.length - 1] += ch;
    }
  }
  while (stack.length > 0) out.push({ text: stack.pop() ?? "" });
  return out;
}

/** The part of a (sub)query's text where predicates live: from its first WHERE or ON onwards. */
function predicateText(text: string): string {
  const m = /\b(?:where|on(?! duplicate key| conflict))\b/.exec(text);
  return m ? text.slice(m.index) : "";
}

/** Checks one statement. */
export function auditStatement(rawSql: string): Verdict {
  const sql = normaliseSql(rawSql);
  if (IGNORED.test(sql) || sql.includes("knex_migrations")) return { kind: "ignored" };
  if (CROSS_TENANT.some((c) => c.sql.test(sql))) return { kind: "ignored" };

  const tables: string[] = [];
  const problems: string[] = [];

  // Inserts: the column list carries tenant_id.
  const insertRe = /\b(?:insert|replace)(?: ignore)? into (\w+)\s*(\(…\)|\([^)]*\))?/g;
  const isInsert = /^(?:insert|replace)\b/.test(sql);
  if (isInsert) {
    for (const m of sql.matchAll(insertRe)) {
      const table = m[1] ?? "";
      if (!TABLE_SET.has(table)) continue;
      tables.push(table);
      const cols = m[2] ?? "";
      if (!/\btenant_id\b/.test(cols)) problems.push(`insert into ${table} without a tenant_id column`);
    }
  }

  // Table references in every (sub)query. For an insert, only the SELECT part after the
  // column list reads tables.
  const qualified = new Set<string>();
  const segs = segments(sql);
  for (const seg of segs) {
    for (const m of predicateText(seg.text).matchAll(/(\w+)\.tenant_id\b/g)) qualified.add(m[1] ?? "");
  }
  for (const seg of segs) {
    const text = isInsert ? seg.text.replace(/^(?:insert|replace)(?: ignore)? into \w+\s*/, "") : seg.text;
    const refs: { table: string; name: string }[] = [];
    for (const m of text.matchAll(/\b(?:from|join|update)\s+(\w+)(?:\s+(?:as\s+)?(\w+))?/g)) {
      const table = m[1] ?? "";
      if (!TABLE_SET.has(table)) continue;
      const alias = m[2] && !NOT_ALIAS.has(m[2]) ? m[2] : undefined;
      refs.push({ table, name: alias ?? table });
    }
    // `from a, b` lists: flag them, the checker does not resolve them.
    if (/\bfrom \w+(?: (?:as )?\w+)?\s*,\s*\w+/.test(text) && refs.length > 0) {
      problems.push("comma join (not resolved by the audit)");
    }
    if (refs.length === 0) continue;
    const preds = predicateText(text);
    const bare = /(?<![.\w])tenant_id\s*(?:=|<=>|in\b)/.test(preds) || /(?:=|<=>)\s*tenant_id\b(?!\.)/.test(preds);
    for (const ref of refs) {
      tables.push(ref.table);
      if (qualified.has(ref.name)) continue;
      if (bare && refs.length === 1) continue;
      problems.push(bare ? `${ref.table} shares a bare tenant_id predicate with another table` : `${ref.table} has no tenant_id predicate`);
    }
  }

  if (tables.length === 0) return { kind: "untenanted" };
  const unique = [...new Set(tables)];
  return problems.length > 0 ? { kind: "violation", tables: unique, problem: problems.join("; ") } : { kind: "tenant", tables: unique };
}

export interface RecordedStatement {
  sql: string;
  verdict: Verdict;
}

export interface TenantAudit {
  /** Every statement seen since attach (ignored ones included). */
  readonly statements: RecordedStatement[];
  /** Statements touching tenant tables (checked). */
  checked(): RecordedStatement[];
  violations(): RecordedStatement[];
  /** Statements that touch no known table at all: worth a look when the schema grows. */
  untenanted(): RecordedStatement[];
  detach(): void;
}

/**
 * Starts recording every statement run through `db` (and its transactions); with `only`, just
 * the statements for which it returns true (e.g. those the server runs inside a call).
 */
export function attachTenantAudit(db: Knex, only?: () => boolean): TenantAudit {
  const statements: RecordedStatement[] = [];
  const onQuery = (q: { sql?: string }) => {
    if (typeof q.sql !== "string") return;
    if (only && !only()) return;
    // Statements sent together (store/db.ts sendTogether) are audited one by one.
    for (const sql of q.sql.split(";\n")) statements.push({ sql, verdict: auditStatement(sql) });
  };
  db.on("query", onQuery);
  return {
    statements,
    checked: () => statements.filter((s) => s.verdict.kind === "tenant" || s.verdict.kind === "violation"),
    violations: () => statements.filter((s) => s.verdict.kind === "violation"),
    untenanted: () => statements.filter((s) => s.verdict.kind === "untenanted"),
    detach: () => {
      db.off("query", onQuery);
    },
  };
}
