// A delivery's state and KPI tile, as `campaign status`, the tile page and the demo show it.
import type postgres from 'postgres';
import { type KpiTile, kpiTile } from '../shared/rules/kpi';

/** `campaign status --json`, exactly as docs/CONTRACT.md shows it (plus label). */
export interface DeliveryStatus extends KpiTile {
  id: string;
  label: string;
  state: string;
  efs: boolean;
  validUntil: string | null;
  statsComputedAt: string | null;
  /** Why the delivery was stopped or skipped; present only then. */
  stateReason?: string;
  /** When `campaign purge` (or RETENTION) dropped its logs and events; present only then. The tile is final. */
  logsPurgedAt?: string;
}

const iso = (value: Date | null | undefined) => (value ? value.toISOString() : null);

export async function deliveryStatus(sql: postgres.Sql, id: string): Promise<DeliveryStatus | null> {
  // A period's delivery (recurring, with --aggregate) holds no messages itself: its figures are the sum
  // of its executions', and it is sending while one of them is.
  const [row] = await sql`
    select d.id, d.label, d.state, d.state_reason, d.efs, d.period_key, d.logs_purged_at,
           case when d.period_key is null then d.to_send else c.to_send end as to_send,
           case when d.period_key is null then d.valid_until else c.valid_until end as valid_until,
           case when d.period_key is null then k.sent else c.sent end as sent,
           case when d.period_key is null then k.delivered else c.delivered end as delivered,
           case when d.period_key is null then k.failed else c.failed end as failed,
           case when d.period_key is null then k.opens else c.opens end as opens,
           case when d.period_key is null then k.clicks else c.clicks end as clicks,
           case when d.period_key is null then k.complaints else c.complaints end as complaints,
           case when d.period_key is null then k.stats_computed_at else c.stats_computed_at end as stats_computed_at,
           c.active, c.unfinished
    from deliveries d join delivery_kpi_totals k on k.delivery_id = d.id
    left join lateral (
      select coalesce(sum(e.to_send), 0)::int as to_send, max(e.valid_until) as valid_until,
             coalesce(sum(ck.sent), 0)::int as sent, coalesce(sum(ck.delivered), 0)::int as delivered,
             coalesce(sum(ck.failed), 0)::int as failed, coalesce(sum(ck.opens), 0)::int as opens,
             coalesce(sum(ck.clicks), 0)::int as clicks, coalesce(sum(ck.complaints), 0)::int as complaints,
             max(ck.stats_computed_at) as stats_computed_at,
             count(*) filter (where e.state in ('prepared', 'scheduled', 'sending'))::int as active,
             count(*) filter (where e.state not in ('finished', 'stopped', 'skipped'))::int as unfinished
      from deliveries e join lateral (
        select * from delivery_kpi_totals t where t.delivery_id = e.id offset 0
      ) ck on true
      where e.parent_id = d.id
    ) c on d.period_key is not null
    where d.id = ${id}`;
  if (!row) return null;
  const state =
    row.period_key === null
      ? row.state
      : row.active > 0
        ? 'sending'
        : row.unfinished > 0
          ? 'sent'
          : 'finished';
  const tile = kpiTile(
    {
      toSend: row.to_send,
      sent: row.sent,
      delivered: row.delivered,
      failed: row.failed,
      opens: row.opens,
      clicks: row.clicks,
      complaints: row.complaints,
    },
    ['sent', 'finished'].includes(state),
  );
  return {
    id: String(row.id),
    label: row.label,
    state,
    efs: row.efs,
    ...tile,
    validUntil: iso(row.valid_until),
    statsComputedAt: iso(row.stats_computed_at),
    // Why a delivery was stopped or skipped (an additive field; absent otherwise).
    ...(row.state_reason && row.period_key === null ? { stateReason: row.state_reason as string } : {}),
    ...(row.logs_purged_at ? { logsPurgedAt: iso(row.logs_purged_at)! } : {}),
  };
}
