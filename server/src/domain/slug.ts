/**
 * Keys of labels and extended fields: `<namespace>.<slug>` where the slug is the display name
 * lower-cased, with runs of non-alphanumerics turned into one `-` and trimmed of `-`.
 * "Barking Intensive (long weekend)" → `barking-intensive-long-weekend`.
 */
export function slugify(displayName: string): string {
  const slug = displayName
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, "-")
    .replace(/^-+|-+$/g, "");
  // A name of only punctuation still needs a key.
  return slug === "" ? "item" : slug;
}

/** The candidate key for the n-th collision: n = 1 → `custom.x`, n = 2 → `custom.x-2`, … */
export function keyCandidate(namespace: string, slug: string, maxLength: number, n: number): string {
  const suffix = n === 1 ? "" : `-${n}`;
  const room = maxLength - namespace.length - 1 - suffix.length;
  return `${namespace}.${slug.slice(0, room).replace(/-+$/, "")}${suffix}`;
}

/** How display names are compared by FindOrCreate: case-insensitively after trimming. */
export function nameKey(displayName: string): string {
  return displayName.trim().toLowerCase();
}
