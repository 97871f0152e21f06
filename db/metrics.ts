// SQL of the metrics role: the figures every replica shares, read from counters and small tables only.
// delivery_logs (millions of rows, no status index on purpose) is never scanned: message counts by status
// come from the delivery_kpis counters (summed over their stripes), which feedback keeps equal to a recount
// of the log statuses.
import type postgres from 'postgres';
import type { KpiCounters } from '../shared/rules/kpi';
import type { QuarantineRules } from '../shared/rules/quarantine-rules';
import { quarantinedCondition } from './quarantine';
import { deliveryState } from './schema';

/** One delivery within its validity period, with the counters its KPI tile is made of. */
export interface RunningDelivery extends KpiCounters {
  id: string;
  state: string;
}

/** Dead letters not yet replayed, by queue and kind of reason (never the reason's free text). */
export interface DeadLetterCount {
  queue: string;
  kind: DeadLetterKind;
  count: number;
}

export type DeadLetterKind = 'invalid_payload' | 'invalid_event' | 'unknown_message' | 'other';

/** What the metrics role reads from PostgreSQL in one go. */
export interface DatabaseFigures {
  deliveriesByState: Record<string, number>;
  messagesByStatus: { pending: number; sent: number; failed: number };
  /** Newest first, at most `maxDeliveries`. */
  running: RunningDelivery[];
  /** Every delivery within its validity period, including those left out of `running`. */
  runningTotal: number;
  quarantined: number;
  retriesPending: number;
  deadLetters: DeadLetterCount[];
  /** When the hourly aggregation last succeeded; null while it never has. */
  aggregationLastSuccessAt: Date | null;
}

/** The pipeline_state row the aggregation writes after each successful run. */
export const AGGREGATION_STATE_KEY = 'tracking-aggregation';

const RUNNING = ['sending', 'sent'];

/** Reads every shared figure; each statement is an index or a small-table read (see the file's header). */
export async function readDatabaseFigures(
  sql: postgres.Sql,
  options: { now: Date; maxDeliveries: number; quarantine: Pick<QuarantineRules, 'mailboxFullReleaseMs'> },
): Promise<DatabaseFigures> {
  const { now } = options;
  const [states, sums, running, [runningTotal], [quarantined], [retries], deadLetters, [aggregation]] =
    await Promise.all([
      sql`select state, count(*)::int as n from deliveries group by state`,
      sql`select coalesce(sum(sent), 0)::bigint as sent, coalesce(sum(delivered), 0)::bigint as delivered,
            coalesce(sum(failed), 0)::bigint as failed from delivery_kpis`,
      sql`select d.id, d.state, d.to_send, coalesce(k.sent, 0) as sent, coalesce(k.delivered, 0) as delivered,
            coalesce(k.failed, 0) as failed, coalesce(k.opens, 0) as opens, coalesce(k.clicks, 0) as clicks
          from deliveries d left join lateral (
            select * from delivery_kpi_totals t where t.delivery_id = d.id offset 0
          ) k on true
          where d.state = any(${RUNNING}::delivery_state[]) and d.valid_until > ${now}
          order by d.id desc limit ${options.maxDeliveries}`,
      sql`select count(*)::int as n from deliveries
          where state = any(${RUNNING}::delivery_state[]) and valid_until > ${now}`,
      sql`select count(*)::int as n from quarantine q
          where ${quarantinedCondition(sql, now.getTime(), options.quarantine)}`,
      // The partial index delivery_logs_retry_idx holds exactly these rows.
      sql`select count(*)::int as n from delivery_logs where retry_at is not null`,
      sql`select queue, case
              when reason like 'invalid payload:%' then 'invalid_payload'
              when reason like 'invalid event:%' then 'invalid_event'
              when reason like 'unknown message:%' then 'unknown_message'
              else 'other' end as kind, count(*)::int as n
          from dead_letters where replayed_at is null group by 1, 2`,
      sql`select value->>'lastSuccessAt' as at from pipeline_state where key = ${AGGREGATION_STATE_KEY}`,
    ]);
  const deliveriesByState = Object.fromEntries(deliveryState.enumValues.map((s) => [s, 0]));
  for (const r of states) deliveriesByState[r.state] = r.n;
  const [sum] = sums;
  const sent = Number(sum!.sent);
  const delivered = Number(sum!.delivered);
  const failed = Number(sum!.failed);
  const lastSuccess = aggregation?.at ? new Date(aggregation.at) : null;
  return {
    deliveriesByState,
    // A handed-over message is pending until its feedback (EFS), else sent; the counters add up to that.
    messagesByStatus: { pending: Math.max(0, sent - delivered - failed), sent: delivered, failed },
    running: running.map((r) => ({
      id: String(r.id),
      state: r.state,
      toSend: r.to_send,
      sent: r.sent,
      delivered: r.delivered,
      failed: r.failed,
      opens: r.opens,
      clicks: r.clicks,
    })),
    runningTotal: runningTotal!.n,
    quarantined: quarantined!.n,
    retriesPending: retries!.n,
    deadLetters: deadLetters.map((r) => ({ queue: r.queue, kind: r.kind, count: r.n })),
    aggregationLastSuccessAt: lastSuccess && !Number.isNaN(lastSuccess.getTime()) ? lastSuccess : null,
  };
}
