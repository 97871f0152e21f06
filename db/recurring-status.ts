// `campaign status` of a recurring delivery: its schedule, next occurrence and one line per execution.
import type postgres from 'postgres';
import { rate } from '../shared/rules/kpi';

/** One execution as the status shows it. */
export interface ExecutionLine {
  /** The execution's own delivery (null for a missed occurrence). */
  id: string | null;
  occurrenceAt: string;
  state: string;
  reason: string | null;
  sent: number;
  delivered: number;
  deliveredRate: number;
  /** With an aggregation period: the period's delivery it added to. */
  periodDeliveryId: string | null;
}

export interface RecurringStatus {
  id: string;
  label: string;
  state: 'recurring';
  efs: boolean;
  recipients: number;
  recurrence: {
    cron: string;
    timezone: string;
    until: string | null;
    aggregate: string;
    confirmEach: boolean;
    paused: boolean;
  };
  nextOccurrence: string | null;
  executions: ExecutionLine[];
}

/** The recurring view of a template; null when the id is not a recurring delivery. */
export async function recurringStatus(sql: postgres.Sql, id: string): Promise<RecurringStatus | null> {
  const [t] = await sql`
    select d.id, d.label, d.efs, d.to_send, s.id as schedule_id, s.cron, s.timezone, s.until, s.aggregate,
           s.confirm_each, s.paused, s.next_occurrence_at
    from deliveries d join recurring_schedules s on s.id = d.schedule_id and s.template_id = d.id
    where d.id = ${id} and d.state = 'recurring'`;
  if (!t) return null;
  const rows = await sql`
    select x.delivery_id, x.occurrence_at, coalesce(d.state::text, x.state) as state,
           coalesce(d.state_reason, x.reason) as reason, d.parent_id,
           coalesce(k.sent, 0)::int as sent, coalesce(k.delivered, 0)::int as delivered
    from executions x
    left join deliveries d on d.id = x.delivery_id
    left join lateral (
      select t.sent, t.delivered from delivery_kpi_totals t where t.delivery_id = x.delivery_id offset 0
    ) k on true
    where x.schedule_id = ${t.schedule_id}
    order by x.occurrence_at`;
  return {
    id: String(t.id),
    label: t.label,
    state: 'recurring',
    efs: t.efs,
    recipients: t.to_send,
    recurrence: {
      cron: t.cron,
      timezone: t.timezone,
      until: t.until ? t.until.toISOString() : null,
      aggregate: t.aggregate,
      confirmEach: t.confirm_each,
      paused: t.paused,
    },
    nextOccurrence: t.paused || !t.next_occurrence_at ? null : t.next_occurrence_at.toISOString(),
    executions: rows.map((r) => ({
      id: r.delivery_id === null ? null : String(r.delivery_id),
      occurrenceAt: r.occurrence_at.toISOString(),
      state: r.state,
      reason: r.reason,
      sent: r.sent,
      delivered: r.delivered,
      deliveredRate: rate(r.delivered, r.sent),
      periodDeliveryId: r.parent_id === null ? null : String(r.parent_id),
    })),
  };
}
