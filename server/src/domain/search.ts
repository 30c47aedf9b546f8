/**
 * Free-text search (reference §5.6) over names, emails and phones: a contact matches when every
 * word of the search is a prefix of one of its words. Words are lower-case runs of letters and
 * digits; an email also counts whole, and a phone also as its digits (so "+1 201" and
 * "2015550123" both find +1 201 555 0123).
 *
 * A whole email is kept as a token marked with a leading EMAIL_MARK, which no word starts with:
 * only an email-looking search (its term carries the mark too) reaches those tokens, and a
 * word's prefix range holds words alone. Unmarked, "john.smith@example.com" sat in the range of
 * every search for "john" beside the word "john" itself: up to twice the rows to read for a
 * first name, and thousands of distinct tokens where there are a few names (store/
 * contact-queries.ts merges one run per distinct token only when they are few).
 *
 * Each token row also carries the contact's words (wordList, migration 009), so that a search of
 * several words reads one word's rows and checks the others in those rows, instead of
 * intersecting each word's contacts (thousands of index probes for a first and a last name).
 *
 * And each contact has a row per distinct start, up to PREFIX_MAX characters, of its words
 * (searchPrefixes, migration 010): a short search word is one key of that table, its contacts
 * each once in creation order. Through the tokens, "edwa" read hundreds of distinct words
 * ("edward", "edwards", "edwards42", …) and the contacts each of them holds, thousands of rows
 * to count and sort; the short words are the ones that match most.
 */
import type { ContactInfoJson } from "../../../gen/contacts/v1/contact_pb.js";

export const SEARCH_MAX = 100;
const TOKEN_MAX = 100;
/** The first character of a whole-email token (migration 008). */
export const EMAIL_MARK = "@";

function words(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

/** The first TOKEN_MAX characters (code points: a surrogate pair is never cut in two). */
const clip = (t: string): string => [...t].slice(0, TOKEN_MAX).join("");

/**
 * The words a contact can be found by. Reads names, emails and phones only: store/contact-index.ts
 * searchSource, which decides when a change can leave the search rows alone, says the same.
 */
export function searchTokens(info: ContactInfoJson): string[] {
  const out = new Set<string>();
  for (const part of [info.name?.first, info.name?.last]) for (const w of words(part ?? "")) out.add(w);
  for (const e of info.emails?.items ?? []) {
    const email = (e.email ?? "").trim().toLowerCase();
    if (email) out.add(EMAIL_MARK + email);
    for (const w of words(email)) out.add(w);
  }
  for (const p of info.phones?.items ?? []) {
    for (const w of words(p.phone ?? "")) out.add(w);
    const digits = (p.phone ?? "").replace(/\D/g, "");
    if (digits) out.add(digits);
    const e164 = (p.e164Phone ?? "").replace(/\D/g, "");
    if (e164) out.add(e164);
  }
  return [...new Set([...out].map(clip))];
}

/** Longest word list a token row carries (beyond: none, and the words are looked up). */
export const WORDS_MAX = 1000;

/**
 * A contact's words as its token rows carry them: each preceded by a space (" john smith …"),
 * so a search word starts one of them exactly when the list contains " " + the word. Whole
 * emails are left out: no word of a search of several starts with EMAIL_MARK. Null when there
 * are none, or more than WORDS_MAX characters of them.
 */
export function wordList(tokens: readonly string[]): string | null {
  const list = tokens
    .filter((t) => !t.startsWith(EMAIL_MARK))
    .sort()
    .map((t) => ` ${t}`)
    .join("");
  return list !== "" && [...list].length <= WORDS_MAX ? list : null;
}

/** Longest search word looked up as a prefix (contact_search_prefixes). */
export const PREFIX_MAX = 4;

/** A search word found through the prefix rows: one of up to PREFIX_MAX characters, not an email. */
export function isPrefix(term: string): boolean {
  return term !== "" && !term.startsWith(EMAIL_MARK) && [...term].length <= PREFIX_MAX;
}

/** The starts of a text, 1 to PREFIX_MAX characters (code points) each, shortest first. */
export function starts(text: string): string[] {
  const chars = [...text].slice(0, PREFIX_MAX);
  return chars.map((_, i) => chars.slice(0, i + 1).join(""));
}

/** The distinct starts of a contact's words, 1 to PREFIX_MAX characters each, sorted. */
export function searchPrefixes(tokens: readonly string[]): string[] {
  return [...new Set(tokens.filter((t) => !t.startsWith(EMAIL_MARK)).flatMap(starts))].sort();
}

/** The words of a search string; a contact must have a token starting with each. */
export function searchTerms(search: string): string[] {
  const terms = new Set(words(search).map(clip));
  // An email-looking search also matches whole emails.
  const trimmed = search.trim().toLowerCase();
  if (trimmed.includes("@") && !/\s/.test(trimmed)) return [clip(EMAIL_MARK + trimmed)];
  return [...terms];
}
