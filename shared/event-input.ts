// Reading one untrusted event (MTA feedback or tracking) the same way in the HTTP receiver and in the workers:
// storable by PostgreSQL, of the contract's shape, and dated within the window this system accepts.
import type { z } from 'zod';
import { EVENT_MAX_AHEAD_MS } from './event-window';
import { describeInvalid } from './queues';
import { unstorable } from './storable';

/** An event read: the parsed value, or the sentence saying why it is refused. */
export type EventReading<T> = { ok: true; event: T } | { ok: false; reason: string };

/** Validates one raw event against its schema, refusing what PostgreSQL cannot store and dates too far ahead. */
export function readEvent<S extends z.ZodType<{ occurredAt: string }>>(
  schema: S,
  raw: unknown,
  now: Date,
): EventReading<z.output<S>> {
  const problem = unstorable(raw);
  if (problem) return { ok: false, reason: `invalid event: ${problem}` };
  const parsed = schema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: `invalid event: ${describeInvalid(parsed.error)}` };
  if (Date.parse(parsed.data.occurredAt) > now.getTime() + EVENT_MAX_AHEAD_MS)
    return {
      ok: false,
      reason: `invalid event: occurredAt ${parsed.data.occurredAt} is more than an hour ahead of this system's clock (${now.toISOString()})`,
    };
  return { ok: true, event: parsed.data };
}
