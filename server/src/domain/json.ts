/**
 * JSON that keeps `Date`s: stored event payloads and idempotent responses are plain domain
 * objects, and must come back exactly as they went in.
 */
export function encodeJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
    const raw = this[key];
    return raw instanceof Date ? { $date: raw.getTime() } : v;
  });
}

export function decodeJson<T>(text: string): T {
  return JSON.parse(text, (_key, v) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === "$date" && typeof v.$date === "number") return new Date(v.$date);
    }
    return v;
  }) as T;
}
