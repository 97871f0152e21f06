// The dead-letter table: payloads and events that could not be applied, listed and replayed after a fix.
import type postgres from 'postgres';

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

/** Keeps many entries in one statement; an entry already kept for the same job (a retried job) is not kept twice. */
export async function recordDeadLetters(
  sql: postgres.Sql | postgres.TransactionSql,
  entries: DeadLetterEntry[],
): Promise<void> {
  if (entries.length === 0) return;
  await sql`
    insert into dead_letters (queue, job_id, reason, payload)
    select u.queue, u.job_id, u.reason, u.payload::jsonb
    from unnest(${entries.map((e) => e.queue)}::text[], ${entries.map((e) => e.jobId) as string[]}::text[],
      -- Passed as text and cast here: a jsonb[] parameter would store each payload as a JSON string.
      ${entries.map((e) => e.reason)}::text[], ${entries.map((e) => JSON.stringify(e.payload ?? null))}::text[])
      as u(queue, job_id, reason, payload)
    where u.job_id is null or not exists (
      select 1 from dead_letters d
      where d.job_id = u.job_id and d.queue = u.queue and d.reason = u.reason and d.payload = u.payload::jsonb)`;
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

export async function getDeadLetter(sql: postgres.Sql, id: string): Promise<DeadLetter | null> {
  const [row] = await sql`select * from dead_letters where id = ${id}`;
  return row ? toDeadLetter(row) : null;
}

/**
 * Marks an entry replayed. For an MTA event, its earlier audit row (outcome `unknown`) is removed so that
 * the replay is not taken for a duplicate.
 */
export async function markReplayed(sql: postgres.Sql, letter: DeadLetter): Promise<void> {
  await sql.begin(async (tx) => {
    const eventId = (letter.payload as { eventId?: unknown } | null)?.eventId;
    if (letter.queue === 'mta-feedback' && typeof eventId === 'string') {
      await tx`delete from feedback_events where event_id = ${eventId} and outcome = 'unknown'`;
    }
    await tx`update dead_letters set replayed_at = now() where id = ${letter.id}`;
  });
}
