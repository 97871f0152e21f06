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
export async function listDeliveries(sql: postgres.Sql, limit = 200): Promise<DeliveryListItem[]> {
  const rows = await sql`
    select d.id, d.label, d.state, d.efs, d.to_send, coalesce(k.sent, 0)::int as sent
    from deliveries d left join delivery_kpis k on k.delivery_id = d.id
    order by d.id desc limit ${limit}`;
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
