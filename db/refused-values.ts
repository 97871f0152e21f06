// Applying a set of items when PostgreSQL may refuse one of them: the set is halved until the refused item is
// alone, so that one value PostgreSQL cannot take (a date, a text) costs only its own item, never its batch.
import postgres from 'postgres';

/**
 * PostgreSQL refused a value rather than failed: a data exception (class 22: bad date, NUL, out of range)
 * or a nesting too deep for it (54001). Retrying the same value fails the same way.
 */
export function isRefusedValue(error: unknown): error is postgres.PostgresError {
  return error instanceof postgres.PostgresError && (error.code.startsWith('22') || error.code === '54001');
}

/**
 * Runs `apply` on all items; when PostgreSQL refuses a value, on each half, down to the one item it refuses,
 * which goes to `refused` with the error. Other errors (the database down) are thrown as they are.
 */
export async function applySplitting<T>(
  items: T[],
  apply: (items: T[]) => Promise<void>,
  refused: (item: T, error: postgres.PostgresError) => Promise<void>,
): Promise<void> {
  if (items.length === 0) return;
  try {
    await apply(items);
  } catch (error) {
    if (!isRefusedValue(error)) throw error;
    if (items.length === 1) return refused(items[0]!, error);
    const half = Math.ceil(items.length / 2);
    await applySplitting(items.slice(0, half), apply, refused);
    await applySplitting(items.slice(half), apply, refused);
  }
}
