// What PostgreSQL can store: finding the values it refuses (NUL, unpaired surrogates, deep nesting) before they
// reach a statement, and turning any value into one it stores, so that a dead letter can always be written.

/** Deeper than this, an input is refused (and cut in a dead letter): contract events are flat, provider payloads ~6. */
export const MAX_NESTING = 32;

const NUL = '\u0000';
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why PostgreSQL would refuse this string (in text or jsonb), or null. */
export function textProblem(value: string): string | null {
  if (value.includes(NUL)) return 'contains a NUL character (\\u0000), which PostgreSQL cannot store';
  if (LONE_SURROGATE.test(value)) return 'contains an unpaired UTF-16 surrogate, which is no Unicode text';
  return null;
}

const where = (path: (string | number)[]) => (path.length === 0 ? 'the value' : path.join('.'));

/**
 * The first reason PostgreSQL (or a JSON round trip) would refuse this value, naming the field; null when it
 * is storable. Walks with its own stack: a 100,000-deep value costs no call stack.
 */
export function unstorable(value: unknown, maxNesting = MAX_NESTING): string | null {
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value, path: [] }];
  while (stack.length > 0) {
    const { value: v, path } = stack.pop()!;
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) return `${where(path)} ${problem}`;
    } else if (typeof v === 'object' && v !== null) {
      if (path.length >= maxNesting)
        return `${where(path.slice(0, 3))}… is nested deeper than ${maxNesting} levels`;
      const entries: [string | number, unknown][] = Array.isArray(v)
        ? v.map((x, i) => [i, x])
        : Object.entries(v);
      for (const [k, child] of entries) {
        if (typeof k === 'string') {
          const problem = textProblem(k);
          if (problem) return `the key ${JSON.stringify(k)} in ${where(path)} ${problem}`;
        }
        stack.push({ value: child, path: [...path, k] });
      }
    }
  }
  return null;
}

/** The text with each NUL written as the six characters `\u0000` and each unpaired surrogate as U+FFFD. */
export function storableText(value: string): string {
  if (textProblem(value) === null) return value;
  return value.replaceAll(NUL, '\\u0000').replace(new RegExp(LONE_SURROGATE.source, 'g'), '\uFFFD');
}

/**
 * A copy PostgreSQL's jsonb stores whatever it was given: texts escaped as `storableText` does, what is nested
 * deeper than MAX_NESTING replaced by a note, what JSON cannot hold (functions, undefined) left out as JSON does.
 */
export function storable(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return storableText(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_NESTING) return `[cut: nested deeper than ${MAX_NESTING} levels]`;
  const json = value as { toJSON?: unknown };
  if (typeof json.toJSON === 'function') return storable((json.toJSON as () => unknown)(), depth);
  if (Array.isArray(value)) return value.map((v) => storable(v, depth + 1) ?? null);
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(value)) out[storableText(k)] = storable(v, depth + 1);
  return out;
}
