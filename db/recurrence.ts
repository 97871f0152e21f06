// Recurring deliveries: the schedule, and producing each occurrence's execution exactly once.
import { randomBytes } from 'node:crypto';
import type postgres from 'postgres';
import type { QuarantineRules } from '../shared/rules/quarantine-rules';
import {
  type AggregationPeriod,
  nextOccurrence,
  occurrencesBetween,
  periodKey,
  type Recurrence,
} from '../shared/rules/recurrence';
import { quarantinedCondition } from './quarantine';

/** A schedule as `delivery create --recurrence …` gives it. */
export interface ScheduleInput extends Recurrence {
  aggregate: AggregationPeriod;
  confirmEach: boolean;
}

/** Writes a template's schedule (inside the transaction that creates the template). */
export async function createSchedule(
  tx: postgres.TransactionSql,
  templateId: string,
  s: ScheduleInput,
  now: Date,
): Promise<void> {
  const [schedule] = await tx`
    insert into recurring_schedules (cron, timezone, until, aggregate, confirm_each, template_id, next_occurrence_at)
    values (${s.cron}, ${s.timezone}, ${s.until}, ${s.aggregate}, ${s.confirmEach}, ${templateId},
      ${nextOccurrence(s, now)})
    returning id`;
  await tx`update deliveries set schedule_id = ${schedule!.id} where id = ${templateId}`;
}

/** An execution produced by a sweep: its delivery, and whether it starts by itself. */
export interface Produced {
  deliveryId: string;
  occurrenceAt: Date;
  autoStart: boolean;
}

interface DueSchedule {
  id: string;
  cron: string;
  timezone: string;
  until: Date | null;
  aggregate: AggregationPeriod;
  confirm_each: boolean;
  next_occurrence_at: Date;
  template_id: string;
  validity_seconds: number;
}

/** Occurrences produced per schedule and sweep: a long outage is caught up over several sweeps. */
const MAX_OCCURRENCES = 100;

/**
 * Marks executions still waiting for a confirm, and matching `condition`, as skipped with the reason (the
 * delivery and its execution row together); returns how many.
 */
async function skipUnconfirmed(
  tx: postgres.TransactionSql,
  condition: postgres.PendingQuery<postgres.Row[]>,
  reason: string,
): Promise<number> {
  const skipped = await tx`
    update deliveries set state = 'skipped', state_reason = ${reason}
    where state = 'prepared' and occurrence_at is not null and ${condition}
    returning id`;
  if (skipped.length > 0)
    await tx`
      update executions set state = 'skipped', reason = ${reason}
      where delivery_id = any(${skipped.map((r) => r.id)}::bigint[])`;
  return skipped.length;
}

/** The period's delivery an execution adds to, created by the period's first execution. */
async function periodDelivery(tx: postgres.TransactionSql, s: DueSchedule, key: string): Promise<string> {
  await tx`
    insert into deliveries (label, efs, validity_seconds, retry_interval_seconds, sender, return_path_domain,
      subject, text_body, html_body, columns, token, state, schedule_id, period_key)
    select label || ' (' || ${key} || ')', efs, validity_seconds, retry_interval_seconds, sender, return_path_domain,
      subject,
      text_body, html_body, columns, ${randomBytes(6).toString('hex')}, 'sending', ${s.id}, ${key}
    from deliveries where id = ${s.template_id}
    on conflict (schedule_id, period_key) do nothing`;
  const [row] = await tx`select id from deliveries where schedule_id = ${s.id} and period_key = ${key}`;
  await tx`insert into delivery_kpis (delivery_id) values (${row!.id}) on conflict do nothing`;
  return String(row!.id);
}

/** One execution's delivery: the template's content, and its audience minus the addresses quarantined now. */
async function executionDelivery(
  tx: postgres.TransactionSql,
  s: DueSchedule,
  at: Date,
  parentId: string | null,
  now: Date,
  rules: Pick<QuarantineRules, 'mailboxFullReleaseMs'>,
): Promise<string> {
  const [created] = await tx`
    insert into deliveries (label, efs, validity_seconds, retry_interval_seconds, contact_date, sender,
      return_path_domain, subject, text_body, html_body, columns, token, state, schedule_id, occurrence_at, parent_id)
    select label || ' (' || ${at.toISOString()} || ')', efs, validity_seconds, retry_interval_seconds, ${at},
      sender, return_path_domain, subject, text_body, html_body, columns, ${randomBytes(6).toString('hex')}, 'prepared', ${s.id},
      ${at}, ${parentId}
    from deliveries where id = ${s.template_id}
    returning id`;
  const id = String(created!.id);
  const [copied] = await tx`
    with inserted as (
      insert into delivery_targets (delivery_id, seq, email, data)
      select ${id}, (row_number() over (order by t.seq) - 1)::int, t.email, t.data
      from delivery_targets t
      where t.delivery_id = ${s.template_id} and not exists (
        select 1 from quarantine q where q.email = t.email and ${quarantinedCondition(tx, now.getTime(), rules)})
      returning 1
    ) select count(*)::int as n from inserted`;
  await tx`update deliveries set to_send = ${copied!.n} where id = ${id}`;
  await tx`insert into delivery_kpis (delivery_id) values (${id})`;
  return id;
}

/**
 * Produces the due occurrences of one schedule, in one transaction holding its row (other replicas skip
 * it). The executions table's unique (schedule, occurrence) makes each occurrence produce one execution
 * whatever runs twice. An occurrence whose validity period is over by now (every process was down) is
 * recorded as missed. With confirm-each, an execution still unconfirmed at the next occurrence is skipped.
 */
async function produceForOneSchedule(
  sql: postgres.Sql,
  now: Date,
  rules: Pick<QuarantineRules, 'mailboxFullReleaseMs'>,
): Promise<{ found: boolean; produced: Produced[]; missed: number }> {
  return sql.begin(async (tx) => {
    const [row] = await tx`
      select s.id, s.cron, s.timezone, s.until, s.aggregate, s.confirm_each, s.next_occurrence_at, s.template_id,
             t.validity_seconds
      from recurring_schedules s join deliveries t on t.id = s.template_id
      where not s.paused and s.next_occurrence_at <= ${now}
      order by s.next_occurrence_at limit 1
      for update of s skip locked`;
    if (!row) return { found: false, produced: [], missed: 0 };
    const s = { ...row, id: String(row.id), template_id: String(row.template_id) } as DueSchedule;
    const due = [
      s.next_occurrence_at,
      ...occurrencesBetween(s, s.next_occurrence_at, now, MAX_OCCURRENCES - 1),
    ];
    const produced: Produced[] = [];
    let missed = 0;
    for (const at of due) {
      if (s.confirm_each)
        await skipUnconfirmed(
          tx,
          tx`schedule_id = ${s.id} and occurrence_at < ${at}`,
          `not confirmed before the next occurrence (${at.toISOString()}); never sent late`,
        );
      const validUntil = new Date(at.getTime() + s.validity_seconds * 1000);
      if (validUntil <= now) {
        const reason = `no process was running at the occurrence, and its validity period ended at ${validUntil.toISOString()}`;
        const inserted = await tx`
          insert into executions (schedule_id, occurrence_at, state, reason) values (${s.id}, ${at}, 'missed', ${reason})
          on conflict (schedule_id, occurrence_at) do nothing returning id`;
        missed += inserted.length;
        continue;
      }
      const [execution] = await tx`
        insert into executions (schedule_id, occurrence_at, state) values (${s.id}, ${at}, 'produced')
        on conflict (schedule_id, occurrence_at) do nothing returning id`;
      if (!execution) continue;
      const parent =
        s.aggregate === 'none' ? null : await periodDelivery(tx, s, periodKey(at, s.timezone, s.aggregate));
      const deliveryId = await executionDelivery(tx, s, at, parent, now, rules);
      await tx`update executions set delivery_id = ${deliveryId} where id = ${execution.id}`;
      produced.push({ deliveryId, occurrenceAt: at, autoStart: !s.confirm_each });
    }
    const last = due[due.length - 1]!;
    await tx`
      update recurring_schedules set next_occurrence_at = ${nextOccurrence(s, last)} where id = ${s.id}`;
    return { found: true, produced, missed };
  });
}

/** Produces every due occurrence of every schedule, then skips confirm-each executions past their validity. */
export async function produceDueOccurrences(
  sql: postgres.Sql,
  now: Date,
  rules: Pick<QuarantineRules, 'mailboxFullReleaseMs'>,
): Promise<{ produced: Produced[]; missed: number; skipped: number }> {
  const produced: Produced[] = [];
  let missed = 0;
  for (;;) {
    const one = await produceForOneSchedule(sql, now, rules);
    if (!one.found) break;
    produced.push(...one.produced);
    missed += one.missed;
  }
  // Without a next occurrence (the schedule ended, or is paused), the validity end is the deadline.
  const skipped = await sql.begin((tx) =>
    skipUnconfirmed(
      tx,
      tx`occurrence_at + make_interval(secs => validity_seconds) <= ${now}`,
      'not confirmed within its validity period; never sent late',
    ),
  );
  return { produced, missed, skipped };
}

/**
 * Executions that start by themselves but are still `prepared`: those just produced, and any whose start
 * a crash interrupted after the production committed. Starting is idempotent, so a repeat is harmless.
 */
export async function unstartedAutoExecutions(sql: postgres.Sql, now: Date): Promise<string[]> {
  const rows = await sql`
    select d.id from deliveries d join recurring_schedules s on s.id = d.schedule_id
    where d.occurrence_at is not null and not s.confirm_each
      and d.occurrence_at + make_interval(secs => d.validity_seconds) > ${now}
      and (d.state = 'prepared'
        -- Confirmed by the sweep, but its batches were never planned (a crash in between).
        or (d.state = 'sending' and d.batches_total is null and d.confirm_job_id = 'recurrence-' || d.id))
    order by d.id`;
  return rows.map((r) => String(r.id));
}

/** Pauses or resumes a recurring delivery; a resumed schedule goes on from its next occurrence after now. */
export async function setPaused(
  sql: postgres.Sql,
  templateId: string,
  paused: boolean,
  now: Date,
): Promise<{ paused: boolean; nextOccurrenceAt: Date | null } | { refused: string }> {
  return sql.begin(async (tx) => {
    const [row] = await tx`
      select d.state, s.id, s.cron, s.timezone, s.until from deliveries d
      left join recurring_schedules s on s.id = d.schedule_id and s.template_id = d.id
      where d.id = ${templateId} for update of d`;
    if (!row) return { refused: `delivery ${templateId} not found` };
    if (row.state !== 'recurring' || !row.id)
      return { refused: `delivery ${templateId} is not a recurring delivery (it is ${row.state})` };
    const next = paused ? null : nextOccurrence(row as unknown as Recurrence, now);
    await tx`
      update recurring_schedules set paused = ${paused},
        next_occurrence_at = case when ${paused} then next_occurrence_at else ${next} end
      where id = ${row.id}`;
    return { paused, nextOccurrenceAt: paused ? null : next };
  });
}
