// Read and small write queries of the CLI, named by intent.
import type postgres from 'postgres';
import { type KpiTile, kpiTile } from '../shared/kpi';
import type { QuarantineRules } from '../shared/quarantine-rules';
import { quarantinedCondition } from './quarantine';

/** `campaign status --json`, exactly as CONTRACT.md shows it (plus label). */
export interface DeliveryStatus extends KpiTile {
  id: string;
  label: string;
  state: string;
  efs: boolean;
  validUntil: string | null;
  statsComputedAt: string | null;
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
  const [row] = await sql`
    select d.id, d.label, d.state, d.efs, d.to_send, d.valid_until,
           k.sent, k.delivered, k.failed, k.opens, k.clicks, k.complaints, k.stats_computed_at
    from deliveries d join delivery_kpis k on k.delivery_id = d.id
    where d.id = ${id}`;
  if (!row) return null;
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
    ['sent', 'finished'].includes(row.state),
  );
  return {
    id: String(row.id),
    label: row.label,
    state: row.state,
    efs: row.efs,
    ...tile,
    validUntil: iso(row.valid_until),
    statsComputedAt: iso(row.stats_computed_at),
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

/** Streams a delivery's logs in recipient order, a page at a time, so a million rows never sit in memory. */
export async function* deliveryLogs(sql: postgres.Sql, id: string, pageSize = 5000): AsyncGenerator<LogLine> {
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
