// Read and small write queries of the CLI, named by intent.
import type postgres from 'postgres';
import { type KpiTile, kpiTile } from '../shared/rules/kpi';
import type { QuarantineRules } from '../shared/rules/quarantine-rules';
import { quarantinedCondition } from './quarantine';

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
}

export async function addOperator(
  sql: postgres.Sql,
  login: string,
  roles: string[],
): Promise<{ created: boolean; roles: string[] }> {
  return sql.begin(async (tx) => {
    const inserted =
      await tx`insert into operators (login) values (${login}) on conflict (login) do nothing returning id`;
    const [operator] = await tx`select id from operators where login = ${login}`;
    for (const role of roles) {
      await tx`insert into operator_roles (operator_id, role) values (${operator!.id}, ${role}) on conflict do nothing`;
    }
    const all = await tx`select role from operator_roles where operator_id = ${operator!.id} order by role`;
    return { created: inserted.length > 0, roles: all.map((r) => r.role as string) };
  });
}

export async function operatorRoles(sql: postgres.Sql, login: string): Promise<string[] | null> {
  const rows = await sql`
    select r.role from operators o left join operator_roles r on r.operator_id = o.id where o.login = ${login}`;
  if (rows.length === 0) return null;
  return rows.map((r) => r.role as string | null).filter((r): r is string => r !== null);
}

const iso = (value: Date | null | undefined) => (value ? value.toISOString() : null);

export async function deliveryStatus(sql: postgres.Sql, id: string): Promise<DeliveryStatus | null> {
  // A period's delivery (recurring, with --aggregate) holds no messages itself: its figures are the sum
  // of its executions', and it is sending while one of them is.
  const [row] = await sql`
    select d.id, d.label, d.state, d.state_reason, d.efs, d.period_key,
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
    from deliveries d join delivery_kpis k on k.delivery_id = d.id
    left join lateral (
      select coalesce(sum(e.to_send), 0)::int as to_send, max(e.valid_until) as valid_until,
             coalesce(sum(ck.sent), 0)::int as sent, coalesce(sum(ck.delivered), 0)::int as delivered,
             coalesce(sum(ck.failed), 0)::int as failed, coalesce(sum(ck.opens), 0)::int as opens,
             coalesce(sum(ck.clicks), 0)::int as clicks, coalesce(sum(ck.complaints), 0)::int as complaints,
             max(ck.stats_computed_at) as stats_computed_at,
             count(*) filter (where e.state in ('prepared', 'scheduled', 'sending'))::int as active,
             count(*) filter (where e.state not in ('finished', 'stopped', 'skipped'))::int as unfinished
      from deliveries e join delivery_kpis ck on ck.delivery_id = e.id
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
  };
}

/** One line of `campaign logs`. */
export interface LogLine {
  email: string;
  status: string;
  failureType: string | null;
  failureReason: string | null;
  attempts: number;
  messageId: string;
}

/**
 * Streams a delivery's logs in recipient order, a page at a time, so a million rows never sit in memory. A
 * period's delivery (recurring, with --aggregate) streams its executions' logs, one execution after another.
 */
export async function* deliveryLogs(sql: postgres.Sql, id: string, pageSize = 5000): AsyncGenerator<LogLine> {
  const executions = await sql`
    select e.id from deliveries d join deliveries e on e.parent_id = d.id
    where d.id = ${id} and d.period_key is not null order by e.occurrence_at, e.id`;
  if (executions.length > 0) {
    for (const e of executions) yield* ownLogs(sql, String(e.id), pageSize);
    return;
  }
  yield* ownLogs(sql, id, pageSize);
}

async function* ownLogs(sql: postgres.Sql, id: string, pageSize: number): AsyncGenerator<LogLine> {
  let after = -1;
  for (;;) {
    const rows = await sql`
      select seq, email, status, failure_type, failure_reason, attempts, message_id
      from delivery_logs where delivery_id = ${id} and seq > ${after} order by seq limit ${pageSize}`;
    for (const r of rows) {
      yield {
        email: r.email,
        status: r.status,
        failureType: r.failure_type,
        failureReason: r.failure_reason,
        attempts: r.attempts,
        messageId: r.message_id,
      };
    }
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.seq as number;
  }
}

export async function deliveryExists(sql: postgres.Sql, id: string): Promise<boolean> {
  return (await sql`select 1 from deliveries where id = ${id}`).length > 0;
}

/** One delivery in a recipient's history. */
export interface ProfileEntry {
  deliveryId: string;
  label: string;
  deliveryState: string;
  status: string;
  failureType: string | null;
  failureReason: string | null;
  attempts: number;
  messageId: string;
  handedOffAt: string;
}

export interface Profile {
  email: string;
  quarantine: {
    errorCount: number;
    quarantined: boolean;
    reason: string | null;
    quarantinedAt: string | null;
  } | null;
  deliveries: ProfileEntry[];
}

/** `quarantine.quarantined` follows the quarantine rules at `now` (released entries are not quarantined). */
export async function recipientProfile(
  sql: postgres.Sql,
  email: string,
  now: number,
  rules: Pick<QuarantineRules, 'mailboxFullReleaseMs'>,
): Promise<Profile> {
  const rows = await sql`
    select l.delivery_id, d.label, d.state, l.status, l.failure_type, l.failure_reason, l.attempts,
           l.message_id, l.handed_off_at
    from delivery_logs l join deliveries d on d.id = l.delivery_id
    where l.email = ${email} order by l.handed_off_at desc, l.delivery_id desc`;
  const [q] = await sql`
    select error_count, reason, quarantined_at, ${quarantinedCondition(sql, now, rules)} as quarantined
    from quarantine q where email = ${email}`;
  return {
    email,
    quarantine: q
      ? {
          errorCount: q.error_count,
          quarantined: q.quarantined,
          reason: q.reason,
          quarantinedAt: iso(q.quarantined_at),
        }
      : null,
    deliveries: rows.map((r) => ({
      deliveryId: String(r.delivery_id),
      label: r.label,
      deliveryState: r.state,
      status: r.status,
      failureType: r.failure_type,
      failureReason: r.failure_reason,
      attempts: r.attempts,
      messageId: r.message_id,
      handedOffAt: iso(r.handed_off_at)!,
    })),
  };
}
