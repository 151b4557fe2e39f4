/** A parsed JSON object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How much of a request's value an error message shows (its fields' values; tensor data shows less). */
export const SHOWN_CHARS = 200;

/**
 * A parsed JSON value as JSON text for an error message, cut at `max` characters (`...` marks the
 * cut). It stops walking once `max` characters are written, so its depth and work are bounded by
 * `max` whatever the value holds: `JSON.stringify` of a value nested 100,000 deep overflows the
 * stack (a RangeError, which became a 500), and of a 60 MiB body writes 60 MiB to show 60
 * characters. Up to `max` characters it is exactly `JSON.stringify(value)`.
 */
export function preview(value: unknown, max = 60): string {
  let out = '';
  // false once the text is longer than max: every caller then stops.
  const emit = (text: string): boolean => {
    out += text;
    return out.length <= max;
  };
  const walk = (v: unknown): boolean => {
    if (Array.isArray(v)) {
      if (!emit('[')) return false;
      for (let i = 0; i < v.length; i++) if ((i > 0 && !emit(',')) || !walk(v[i])) return false;
      return emit(']');
    }
    if (isRecord(v)) {
      if (!emit('{')) return false;
      let first = true;
      for (const key of Object.keys(v)) {
        if (v[key] === undefined) continue;
        if (!emit(`${first ? '' : ','}${JSON.stringify(key.slice(0, max + 1))}:`) || !walk(v[key]))
          return false;
        first = false;
      }
      return emit('}');
    }
    if (typeof v === 'string') return emit(JSON.stringify(v.slice(0, max + 1)));
    // Numbers, booleans, null; undefined (a missing field) and the rest as JSON.stringify leaves them.
    return emit(JSON.stringify(v) ?? String(v));
  };
  walk(value);
  return out.length > max ? `${out.slice(0, max - 3)}...` : out;
}
