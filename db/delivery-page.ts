// Reads of the delivery tile page (and the demo's final tiles): the list of deliveries, a delivery's failures.
import type postgres from 'postgres';

/** One line of `/deliveries`: no recipient, no content, only what the list shows. */
export interface DeliveryListItem {
  id: string;
  label: string;
  state: string;
  efs: boolean;
  toSend: number;
  sent: number;
  progress: number;
}

/** The newest deliveries first; a period's delivery of a recurring schedule shows with its own counters. */
export function listDeliveries(sql: postgres.Sql, limit = 200): Promise<DeliveryListItem[]> {
  return findDeliveries(sql, { limit });
}

/** Failed messages of one delivery by failure type and reason, most first. */
export interface FailureCount {
  type: string | null;
  reason: string | null;
  count: number;
}

// A scan of one delivery's logs (its primary key prefix): fine for a page read by people, not for a scrape.
export async function failuresByReason(sql: postgres.Sql, deliveryId: string): Promise<FailureCount[]> {
  const rows = await sql`
    select failure_type, failure_reason, count(*)::int as n
    from delivery_logs where delivery_id = ${deliveryId} and status = 'failed'
    group by failure_type, failure_reason order by n desc, failure_reason`;
  return rows.map((r) => ({ type: r.failure_type, reason: r.failure_reason, count: r.n }));
}

/**
 * Messages still `sent` whose latest attempt's soft failure (by its reason, whatever the event's declared type) came after the delivery finished: DESIGN.md keeps
 * them as they were (without EFS, counted delivered). The demo names them, since its simulator bounced them.
 */
export async function softBouncedAfterTheEnd(sql: postgres.Sql, deliveryId: string): Promise<number> {
  const [row] = await sql`
    select count(*)::int as n from delivery_logs l
    where l.delivery_id = ${deliveryId} and l.status = 'sent' and exists (
      select 1 from feedback_events e
      where e.delivery_id = l.delivery_id and e.seq = l.seq and e.attempt = l.attempts
        and e.failure_type = 'soft' and e.outcome = 'after-finish')`;
  return row!.n as number;
}

/** One message of a delivery as the demo's report shows it: where it ended, and when its latest attempt was answered. */
export interface LogOutcome {
  seq: number;
  status: string;
  attempts: number;
  failureReason: string | null;
  /** when the deciding soft bounce happened (ms), null when the row's outcome is not a soft bounce */
  softAt: number | null;
  /** when that soft bounce was applied (ms): a retry is made only after it */
  softAppliedAt: number | null;
  /** feedback on the latest attempt: some applied before the finish, only after it (changed nothing), none */
  latestFeedback: 'before' | 'after' | 'none';
}

/** Every message of one delivery with its latest attempt's feedback timing: the demo's test reads it per recipient. */
export async function logOutcomes(sql: postgres.Sql, deliveryId: string): Promise<LogOutcome[]> {
  const rows = await sql`
    select l.seq, l.status, l.attempts, l.failure_reason, l.outcome_kind, l.outcome_at,
      (select s.received_at from feedback_events s
        where s.delivery_id = l.delivery_id and s.event_id = l.outcome_event_id) as soft_applied_at,
      case when bool_or(e.outcome <> 'after-finish') then 'before'
           when bool_or(e.outcome = 'after-finish') then 'after' else 'none' end as latest
    from delivery_logs l
    left join feedback_events e on e.delivery_id = l.delivery_id and e.seq = l.seq and e.attempt = l.attempts
    where l.delivery_id = ${deliveryId}
    group by l.delivery_id, l.seq order by l.seq`;
  return rows.map((r) => ({
    seq: r.seq as number,
    status: r.status as string,
    attempts: r.attempts as number,
    failureReason: r.failure_reason as string | null,
    softAt: r.outcome_kind === 'soft' ? (r.outcome_at as Date).getTime() : null,
    softAppliedAt:
      r.outcome_kind === 'soft' && r.soft_applied_at ? (r.soft_applied_at as Date).getTime() : null,
    latestFeedback: r.latest as LogOutcome['latestFeedback'],
  }));
}

/** The console's filters of the deliveries list. */
export interface DeliveryFilter {
  state?: string;
  /** A part of the label, case-insensitive. */
  label?: string;
  limit?: number;
}

/** The newest deliveries matching the filter (the console's list). */
export async function findDeliveries(sql: postgres.Sql, f: DeliveryFilter): Promise<DeliveryListItem[]> {
  const label = f.label ? `%${f.label.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
  const rows = await sql`
    select d.id, d.label, d.state, d.efs, d.to_send, coalesce(k.sent, 0)::int as sent
    from deliveries d left join lateral (
      select t.sent from delivery_kpi_totals t where t.delivery_id = d.id offset 0
    ) k on true
    where (${f.state ?? null}::text is null or d.state::text = ${f.state ?? null})
      and (${label}::text is null or d.label ilike ${label})
    order by d.id desc limit ${f.limit ?? 200}`;
  return rows.map((r) => ({
    id: String(r.id),
    label: r.label as string,
    state: r.state as string,
    efs: r.efs as boolean,
    toSend: r.to_send as number,
    sent: r.sent as number,
    progress: r.to_send > 0 ? Math.min(1, r.sent / r.to_send) : 0,
  }));
}
