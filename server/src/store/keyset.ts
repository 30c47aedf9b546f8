/**
 * The keyset condition of cursor paging, in one place: rows strictly after a cursor's values in
 * the order of `keys` (the last key the tie-breaker, e.g. the id). Written as an OR of prefixes —
 * `k1 > a or (k1 = a and k2 > b) or …` — so every mix of directions works; with one sort key and
 * the id it is `(s > a) or (s = a and id > b)`, the form MariaDB turns into one index range.
 */
import type { Knex } from "knex";
import type { Scalar } from "../domain/query.js";

/** One key of the order: a column name or an SQL expression, and its direction. */
export interface KeysetKey {
  key: string | Knex.Raw;
  descending: boolean;
}

export function whereAfter(qb: Knex.QueryBuilder, keys: readonly KeysetKey[], after: readonly Scalar[]): void {
  qb.where((outer) => {
    keys.forEach((k, i) => {
      outer.orWhere((sub) => {
        // Two arguments: a null value compares as IS NULL.
        for (let j = 0; j < i; j++) sub.where((keys[j] as KeysetKey).key as string, after[j] as Knex.Value);
        sub.where(k.key as string, k.descending ? "<" : ">", after[i] as Knex.Value);
      });
    });
  });
}
