// SQL of the confirm step: the one conditional update that lets exactly one confirm win.
import type postgres from 'postgres';
import { type ConfirmableRow, deliveryRefusal, operatorRefusal } from '../shared/rules/confirm';
import { operatorRoles } from './operators';
import { ensureHistoryPartitions } from './partitions';

/** The outcome of a confirm request against the database. */
export type ConfirmOutcome =
  | { kind: 'confirmed'; state: 'scheduled' | 'sending'; startAt: Date; validUntil: Date; resumed: boolean }
  | { kind: 'refused'; reason: string };

export async function recordConfirmAttempt(
  sql: postgres.Sql | postgres.TransactionSql,
  a: {
    deliveryId: string;
    operator: string;
    outcome: 'accepted' | 'refused';
    reason: string | null;
    jobId: string | null;
  },
): Promise<void> {
  await sql`
    insert into confirm_attempts (delivery_id, operator, outcome, reason, job_id)
    values (${a.deliveryId}, ${a.operator}, ${a.outcome}, ${a.reason}, ${a.jobId})`;
}

/**
 * Moves a delivery from `prepared` to `scheduled` (contact date in the future) or `sending`, in one
 * statement guarded by `state = 'prepared'`: of two racing confirms, one updates a row and the other
 * none. The validity period starts when sending may start. A retry of the winning job (same job id)
 * finds its own confirmation and resumes the follow-up work.
 */
export async function confirmDelivery(
  sql: postgres.Sql,
  c: { deliveryId: string; operator: string; jobId: string; now: Date },
): Promise<ConfirmOutcome> {
  const outcome = await confirmOnce(sql, c);
  // Its logs are written from now on: their partition (and the next one) exist before the first hand-off.
  if (outcome.kind === 'confirmed') await ensureHistoryPartitions(sql, c.deliveryId, c.now);
  return outcome;
}

async function confirmOnce(
  sql: postgres.Sql,
  c: { deliveryId: string; operator: string; jobId: string; now: Date },
): Promise<ConfirmOutcome> {
  return sql.begin(async (tx) => {
    const [updated] = await tx`
      update deliveries set
        state = (case when contact_date > ${c.now} then 'scheduled' else 'sending' end)::delivery_state,
        confirmed_at = ${c.now}, confirmed_by = ${c.operator}, confirm_job_id = ${c.jobId},
        -- An execution of a recurring delivery: its validity period starts at its occurrence.
        valid_until = coalesce(occurrence_at, greatest(coalesce(contact_date, ${c.now}), ${c.now}))
          + make_interval(secs => validity_seconds),
        sending_at = case when contact_date > ${c.now} then null else ${c.now}::timestamptz end
      where id = ${c.deliveryId} and state = 'prepared'
        and (occurrence_at is null or occurrence_at + make_interval(secs => validity_seconds) > ${c.now})
        -- With confirm-each, an execution is confirmable until the next occurrence comes (while not paused).
        and not exists (
          select 1 from recurring_schedules s
          where s.id = deliveries.schedule_id and deliveries.occurrence_at is not null and s.confirm_each
            and not s.paused and s.next_occurrence_at <= ${c.now})
      returning state, valid_until, greatest(coalesce(contact_date, ${c.now}), ${c.now}) as start_at`;
    if (updated) {
      await recordConfirmAttempt(tx, { ...c, outcome: 'accepted', reason: null });
      return {
        kind: 'confirmed',
        state: updated.state,
        startAt: updated.start_at,
        validUntil: updated.valid_until,
        resumed: false,
      };
    }
    const [current] = await tx`
      select state, confirm_job_id, valid_until, greatest(contact_date, confirmed_at) as start_at
      from deliveries where id = ${c.deliveryId}`;
    if (current && current.confirm_job_id === c.jobId) {
      // The winner's own retry (its completion was lost): resume; the follow-up steps are idempotent.
      return {
        kind: 'confirmed',
        state: current.state,
        startAt: current.start_at,
        validUntil: current.valid_until,
        resumed: true,
      };
    }
    const reason =
      deliveryRefusal(c.deliveryId, await confirmableRow(tx, c.deliveryId, c.now), c.now) ??
      `delivery ${c.deliveryId} could not be confirmed at ${c.now.toISOString()}; nothing was changed`;
    await recordConfirmAttempt(tx, { ...c, outcome: 'refused', reason });
    return { kind: 'refused', reason };
  });
}

/** The delivery's row as `deliveryRefusal` reads it; undefined when there is no such delivery. */
export async function confirmableRow(
  sql: postgres.Sql | postgres.TransactionSql,
  deliveryId: string,
  now: Date,
): Promise<ConfirmableRow | undefined> {
  const [row] = await sql`
    select state, confirmed_by, confirmed_at, state_reason,
      occurrence_at + make_interval(secs => validity_seconds) as execution_ends,
      (select s.next_occurrence_at from recurring_schedules s
        where s.id = deliveries.schedule_id and occurrence_at is not null and s.confirm_each and not s.paused
          and s.next_occurrence_at <= ${now}) as superseded_at
    from deliveries where id = ${deliveryId}`;
  if (!row) return undefined;
  return {
    state: row.state,
    confirmedBy: row.confirmed_by,
    confirmedAt: row.confirmed_at,
    stateReason: row.state_reason,
    supersededAt: row.superseded_at,
    executionEnds: row.execution_ends,
  };
}

/**
 * What the confirm worker would refuse, checked without changing anything (for `campaign confirm` before it
 * enqueues): the operator's role, a recurring delivery's waiting execution, the delivery's state. Null when
 * the confirm would be accepted now; the worker checks again, since the queue is the contract.
 */
export async function confirmRefusal(
  sql: postgres.Sql,
  deliveryId: string,
  operator: string,
  now: Date,
): Promise<string | null> {
  const refused = operatorRefusal(operator, await operatorRoles(sql, operator));
  if (refused) return refused;
  const target = await resolveConfirmTarget(sql, deliveryId, null);
  if ('refused' in target) return target.refused;
  return deliveryRefusal(target.id, await confirmableRow(sql, target.id, now), now);
}

/**
 * A confirm of a recurring delivery means its execution waiting for one: returns that execution's id,
 * the id itself when it is not a recurring delivery, or a refusal when none is waiting.
 */
export async function resolveConfirmTarget(
  sql: postgres.Sql,
  deliveryId: string,
  jobId: string | null,
): Promise<{ id: string } | { refused: string }> {
  const [template] =
    await sql`select schedule_id from deliveries where id = ${deliveryId} and state = 'recurring'`;
  if (!template) return { id: deliveryId };
  // A retry of the job that confirmed an execution resumes that execution, whatever came since.
  const [own] = await sql`
    select id from deliveries where schedule_id = ${template.schedule_id} and confirm_job_id = ${jobId}`;
  if (own) return { id: String(own.id) };
  const [waiting] = await sql`
    select id from deliveries where schedule_id = ${template.schedule_id} and state = 'prepared'
      and occurrence_at is not null
    order by occurrence_at desc limit 1`;
  return waiting
    ? { id: String(waiting.id) }
    : {
        refused: `delivery ${deliveryId} is a recurring delivery with no execution waiting for confirmation; each execution is confirmed when its occurrence comes`,
      };
}
