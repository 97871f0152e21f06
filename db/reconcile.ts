// SQL of the reconciler: the pending work PostgreSQL records, one indexed query per kind, each cheap when idle.
import type postgres from 'postgres';

/** A dispatch batch of a `sending` delivery that no finished batch row covers yet. */
export interface OpenBatch {
  deliveryId: string;
  batch: number;
}

/**
 * Batches of deliveries `sending` since before `before` that are not done (deliveries_state_idx). A delivery
 * sending with no batch plan yet (its confirm lost before planning) comes back with batch null.
 */
export async function openDispatchBatches(
  sql: postgres.Sql,
  before: Date,
): Promise<{ batches: OpenBatch[]; unplanned: string[] }> {
  const rows = await sql`
    select d.id, b.batch
    from deliveries d
    left join lateral generate_series(0, d.batches_total - 1) as b(batch) on true
    where d.state = 'sending' and coalesce(d.sending_at, d.confirmed_at) <= ${before}
      and (b.batch is null or not exists (
        select 1 from dispatch_batches x where x.delivery_id = d.id and x.batch = b.batch))`;
  const batches: OpenBatch[] = [];
  const unplanned: string[] = [];
  for (const r of rows) {
    if (r.batch === null) unplanned.push(String(r.id));
    else batches.push({ deliveryId: String(r.id), batch: r.batch as number });
  }
  return { batches, unplanned };
}

/** Deliveries waiting in `scheduled` for their contact date, confirmed before `before`, with that date. */
export async function scheduledStarts(
  sql: postgres.Sql,
  before: Date,
): Promise<{ deliveryId: string; startAt: Date }[]> {
  const rows = await sql`
    select id, greatest(coalesce(contact_date, confirmed_at), confirmed_at) as start_at
    from deliveries where state = 'scheduled' and confirmed_at <= ${before}`;
  return rows.map((r) => ({ deliveryId: String(r.id), startAt: r.start_at }));
}

/** Deliveries whose validity ended before `before` and that are not finished (deliveries_open_valid_until_idx). */
export async function overdueFinalizations(sql: postgres.Sql, before: Date): Promise<string[]> {
  const rows = await sql`
    select id from deliveries
    where state in ('scheduled', 'sending', 'sent') and valid_until <= ${before}`;
  return rows.map((r) => String(r.id));
}

/** Per delivery, the earliest retry due before `before` (delivery_logs_retry_due_idx). */
export async function earliestDueRetries(
  sql: postgres.Sql,
  before: Date,
): Promise<{ deliveryId: string; at: Date }[]> {
  const rows = await sql`
    select delivery_id, min(retry_at) as at from delivery_logs
    where retry_at is not null and retry_at <= ${before}
    group by delivery_id`;
  return rows.map((r) => ({ deliveryId: String(r.delivery_id), at: r.at }));
}

/** Whether the aggregation tick at `scheduledAt` has started (its row is inserted when its run begins). */
export async function aggregationTickRan(sql: postgres.Sql, scheduledAt: Date): Promise<boolean> {
  const [row] = await sql`select 1 from aggregation_runs where scheduled_at = ${scheduledAt}`;
  return row !== undefined;
}

/** The earliest occurrence due before `before` that no sweep has produced (recurring_schedules_due_idx). */
export async function earliestDueOccurrence(sql: postgres.Sql, before: Date): Promise<Date | null> {
  const [row] = await sql`
    select min(next_occurrence_at) as at from recurring_schedules
    where next_occurrence_at <= ${before} and not paused`;
  return row?.at ?? null;
}
