// The dead-letter table: payloads and events that could not be applied, listed and replayed after a fix.
import type postgres from 'postgres';
import { parseMessageId } from '../shared/message-id';
import { storable, storableText } from '../shared/storable';

/** One kept payload, with why it was not applied. */
export interface DeadLetter {
  id: string;
  queue: string;
  jobId: string | null;
  reason: string;
  payload: unknown;
  createdAt: string;
  replayedAt: string | null;
}

export interface DeadLetterEntry {
  queue: string;
  jobId: string | null;
  reason: string;
  payload: unknown;
}

/**
 * Dead letters kept for one request or job: beyond this, the rest go into one more entry that holds them
 * all, so that a huge bad request costs a few rows, not one per event (a 7 MB one made a million).
 */
export const MAX_DEAD_LETTERS_PER_BATCH = 100;

/** At most `max` entries: the first max - 1 as they are, then one holding the others' payloads as `events`. */
export function capDeadLetters(
  entries: DeadLetterEntry[],
  max = MAX_DEAD_LETTERS_PER_BATCH,
): DeadLetterEntry[] {
  if (entries.length <= max) return entries;
  const rest = entries.slice(max - 1);
  return [
    ...entries.slice(0, max - 1),
    {
      queue: rest[0]!.queue,
      jobId: rest[0]!.jobId,
      reason: `${rest.length} more refused events of one batch, kept together (the first: ${rest[0]!.reason})`,
      payload: { events: rest.map((e) => e.payload), reasons: rest.map((e) => e.reason) },
    },
  ];
}

/**
 * Keeps many entries in one statement; an entry already kept for the same job (a retried job) is not kept
 * twice. Whatever the payload holds is stored (NULs escaped, deep nesting cut: see `storable`), so that
 * writing the dead letter of a value PostgreSQL refused never fails on the same value.
 */
export async function recordDeadLetters(
  sql: postgres.Sql | postgres.TransactionSql,
  all: DeadLetterEntry[],
): Promise<string[]> {
  if (all.length === 0) return [];
  const entries = all.map((e) => ({
    queue: storableText(e.queue),
    jobId: e.jobId === null ? null : storableText(e.jobId),
    reason: storableText(e.reason),
    payload: storable(e.payload),
  }));
  const rows = await sql`
    insert into dead_letters (queue, job_id, reason, payload)
    select u.queue, u.job_id, u.reason, u.payload::jsonb
    from unnest(${entries.map((e) => e.queue)}::text[], ${entries.map((e) => e.jobId) as string[]}::text[],
      -- Passed as text and cast here: a jsonb[] parameter would store each payload as a JSON string.
      ${entries.map((e) => e.reason)}::text[], ${entries.map((e) => JSON.stringify(e.payload ?? null))}::text[])
      as u(queue, job_id, reason, payload)
    where u.job_id is null or not exists (
      -- One already replayed does not count: the same payload refused again by its replay is a new letter.
      select 1 from dead_letters d
      where d.job_id = u.job_id and d.queue = u.queue and d.reason = u.reason and d.payload = u.payload::jsonb
        and d.replayed_at is null)
    returning id`;
  return rows.map((r) => String(r.id));
}

const toDeadLetter = (r: postgres.Row): DeadLetter => ({
  id: String(r.id),
  queue: r.queue,
  jobId: r.job_id,
  reason: r.reason,
  payload: r.payload,
  createdAt: r.created_at.toISOString(),
  replayedAt: r.replayed_at ? r.replayed_at.toISOString() : null,
});

export async function listDeadLetters(
  sql: postgres.Sql,
  filter: { queue?: string; includeReplayed?: boolean; limit: number },
): Promise<DeadLetter[]> {
  const rows = await sql`
    select * from dead_letters
    where (${filter.queue ?? null}::text is null or queue = ${filter.queue ?? null})
      and (${filter.includeReplayed ?? false} or replayed_at is null)
    order by id desc limit ${filter.limit}`;
  return rows.map(toDeadLetter);
}

export async function getDeadLetter(
  sql: postgres.Sql | postgres.TransactionSql,
  id: string,
): Promise<DeadLetter | null> {
  const [row] = await sql`select * from dead_letters where id = ${id}`;
  return row ? toDeadLetter(row) : null;
}

/**
 * Marks an entry replayed if no one has: the conditional update takes the row's lock, so a second replay at
 * the same time waits for the first one's transaction and then finds it replayed (null). Rolled back, the
 * letter is kept as it was.
 */
export async function claimDeadLetter(tx: postgres.TransactionSql, id: string): Promise<DeadLetter | null> {
  const [row] = await tx`
    update dead_letters set replayed_at = now() where id = ${id} and replayed_at is null returning *`;
  return row ? toDeadLetter(row) : null;
}

/**
 * For an MTA event, its earlier audit row (outcome `unknown`) is removed so that the replay is not taken for a
 * duplicate. Committed on its own before the event is enqueued again, so the worker never sees it still there.
 */
export async function forgetUnknownOutcome(sql: postgres.Sql, letter: DeadLetter): Promise<void> {
  const { eventId, messageId } = (letter.payload ?? {}) as { eventId?: unknown; messageId?: unknown };
  if (letter.queue !== 'mta-feedback' || typeof eventId !== 'string') return;
  // By its delivery when the message id names one: that delivery's partition only (migration 0010).
  const ref = typeof messageId === 'string' ? parseMessageId(messageId) : null;
  await sql`
    delete from feedback_events where event_id = ${eventId} and outcome = 'unknown'
      ${ref ? sql`and delivery_id = ${ref.deliveryId}` : sql``}`;
}

/** The payload to enqueue again: an MTA event goes back as a one-event job, anything else as it was. */
export function replayPayload(letter: DeadLetter): unknown {
  const payload = letter.payload as Record<string, unknown> | null;
  if (
    letter.queue === 'mta-feedback' &&
    payload &&
    typeof payload === 'object' &&
    !Array.isArray(payload) &&
    !('events' in payload)
  ) {
    return { events: [payload] };
  }
  return payload;
}
