// SQL of retries and of the end of the validity period.
import type postgres from 'postgres';
import { formatMessageId, messageIdDomain, messageToken } from '../shared/message-id';
import type { LogStatus, OutcomeKind } from '../shared/rules/log-values';
import { neverAttempted, scaleDelta, statusDelta, validityEnd } from '../shared/rules/status-moves';
import type { HandOff } from './dispatch';
import { addKpiDeltas } from './kpi';

/** A soft-bounced message whose retry is due, locked by the transaction that claims it. */
export interface DueRetry {
  seq: number;
  email: string;
  data: Record<string, string>;
  attempts: number;
  status: LogStatus;
  message_id: string;
  retry_at: Date;
}

/**
 * How long a claimed retry is kept from other retry jobs while it is handed over outside any transaction.
 * A job that dies meanwhile leaves it due again once this has passed (the same attempt, the same id).
 */
export const RETRY_LEASE_MS = 120_000;

/** Deliveries with retries due now (the partial index makes this cheap): the sweeper's work list. */
export async function deliveriesWithDueRetries(
  sql: postgres.Sql,
  now: Date,
): Promise<{ deliveryId: string; at: Date }[]> {
  const rows = await sql`
    select delivery_id, min(retry_at) as at from delivery_logs where retry_at is not null and retry_at <= ${now}
    group by delivery_id`;
  return rows.map((r) => ({ deliveryId: String(r.delivery_id), at: r.at }));
}

/** Locks up to `limit` due retries of a delivery; rows locked by another retry job are skipped, never sent twice. */
export async function lockDueRetries(
  tx: postgres.TransactionSql,
  deliveryId: string,
  now: Date,
  limit: number,
): Promise<DueRetry[]> {
  return tx<DueRetry[]>`
    select l.seq, l.email, t.data, l.attempts, l.status, l.message_id, l.retry_at
    from delivery_logs l join delivery_targets t on t.delivery_id = l.delivery_id and t.seq = l.seq
    where l.delivery_id = ${deliveryId} and l.retry_at is not null and l.retry_at <= ${now}
    order by l.retry_at, l.seq
    limit ${limit}
    for update of l skip locked`;
}

/**
 * Claims locked due retries for a hand-off outside the transaction: their retry time moves to the lease's
 * end, so no other retry job takes them meanwhile, and no row lock is held across the SMTP sends.
 */
export async function leaseRetries(
  tx: postgres.TransactionSql,
  deliveryId: string,
  seqs: number[],
  until: Date,
): Promise<void> {
  if (seqs.length === 0) return;
  await tx`update delivery_logs set retry_at = ${until}
    where delivery_id = ${deliveryId} and seq = any(${seqs}::int[])`;
}

/** A retry's hand-off: a new attempt and message id; a refusal decides that attempt like a bounce. */
export interface RetryHandOff
  extends Pick<HandOff, 'seq' | 'messageId' | 'failureType' | 'failureReason' | 'outcomeKind' | 'retryAt'> {
  /** null: the status stays as it is when recorded (a retry handed over; its feedback moves it). */
  status: LogStatus | null;
  attempt: number;
  /** The attempts the row had when claimed: a row another job has retried since is left alone. */
  previousAttempts: number;
}

/** Records handed-over retries, and ends (as failed, with a reason) the ones that may not be sent. */
export async function recordRetries(
  tx: postgres.TransactionSql,
  deliveryId: string,
  handOffs: RetryHandOff[],
  now: Date,
): Promise<void> {
  if (handOffs.length === 0) return;
  // The rows as they are now (feedback may have moved one while it was handed over), locked until commit.
  const current = await tx`
    select l.seq, l.status from delivery_logs l
    join unnest(${handOffs.map((h) => h.seq)}::int[], ${handOffs.map((h) => h.previousAttempts)}::smallint[])
      as p(seq, attempts) on l.seq = p.seq and l.attempts = p.attempts
    where l.delivery_id = ${deliveryId}
    order by l.seq
    for update of l`;
  const was = new Map(current.map((r) => [r.seq as number, r.status as LogStatus]));
  const kept = handOffs.filter((h) => was.has(h.seq));
  if (kept.length === 0) return;
  await tx`
    update delivery_logs l set attempts = u.attempt, message_id = u.message_id,
      status = coalesce(u.status::log_status, l.status),
      failure_type = coalesce(u.failure_type::failure_type, l.failure_type), failure_reason = coalesce(u.failure_reason, l.failure_reason),
      outcome_attempt = case when u.kind is null then l.outcome_attempt else u.attempt end,
      outcome_kind = coalesce(u.kind, l.outcome_kind),
      outcome_at = case when u.kind is null then l.outcome_at else ${now}::timestamptz end,
      outcome_event_id = case when u.kind is null then l.outcome_event_id else 'hand-off' end,
      retry_at = u.retry_at, updated_at = ${now}
    from unnest(${kept.map((h) => h.seq)}::int[], ${kept.map((h) => h.attempt)}::smallint[],
      ${kept.map((h) => h.messageId)}::text[], ${kept.map((h) => h.status) as string[]}::text[],
      ${kept.map((h) => h.failureType) as string[]}::text[], ${kept.map((h) => h.failureReason) as string[]}::text[],
      ${kept.map((h) => h.outcomeKind) as string[]}::text[],
      ${kept.map((h) => h.retryAt?.toISOString() ?? null) as string[]}::timestamptz[])
      as u(seq, attempt, message_id, status, failure_type, failure_reason, kind, retry_at)
    where l.delivery_id = ${deliveryId} and l.seq = u.seq`;
  await addKpiDeltas(
    tx,
    kept.map((h) => {
      const before = was.get(h.seq)!;
      return [deliveryId, statusDelta(before, h.status ?? before)];
    }),
  );
}

/** How long after the validity end a delivery may still be sending before the finalization closes it. */
const STUCK_DISPATCH_GRACE_MS = 3_600_000;

/** Unsent recipients logged per statement: a stuck delivery of a million never sits in memory at once. */
const UNSENT_PAGE = 10_000;

/**
 * Logs the recipients a dispatch never handed over as never attempted (failed, "validity period over") and
 * counts them, with the message id their first attempt would have had.
 */
async function failUnsentTargets(tx: postgres.TransactionSql, deliveryId: string, now: Date): Promise<void> {
  const [d] = await tx`select token, message_key, sender from deliveries where id = ${deliveryId}`;
  const domain = messageIdDomain(d!.sender as string);
  const move = neverAttempted();
  for (let after = -1; ; ) {
    // The logs bounded as the targets are (see pendingBatchTargets): no plan reads the pages before this one.
    const unsent = await tx<{ seq: number; email: string }[]>`
      select t.seq, t.email from delivery_targets t
      where t.delivery_id = ${deliveryId} and t.seq > ${after}
        and not exists (select 1 from delivery_logs l where l.delivery_id = t.delivery_id and l.seq = t.seq
          and l.seq > ${after})
      order by t.seq limit ${UNSENT_PAGE}`;
    if (unsent.length === 0) return;
    after = unsent[unsent.length - 1]!.seq;
    const messageIds = unsent.map((t) =>
      formatMessageId(
        {
          deliveryId,
          seq: t.seq,
          attempt: 1,
          token: messageToken({ token: d!.token, messageKey: d!.message_key }, deliveryId, t.seq, 1),
        },
        domain,
      ),
    );
    const [added] = await tx`
      with ins as (
        insert into delivery_logs (delivery_id, seq, email, status, attempts, message_id, failure_type, failure_reason,
          outcome_attempt, outcome_kind, outcome_at, outcome_event_id, handed_off_at, updated_at)
        select ${deliveryId}, u.seq, u.email, ${move.status}::log_status, 1, u.message_id, 'soft',
               ${move.failureReason}, 1, ${move.outcomeKind}, ${now}, 'hand-off', ${now}, ${now}
        from unnest(${unsent.map((t) => t.seq)}::int[], ${unsent.map((t) => t.email)}::text[],
          ${messageIds}::text[]) as u(seq, email, message_id)
        on conflict do nothing
        returning 1
      )
      select count(*)::int as n from ins`;
    await addKpiDeltas(tx, [[deliveryId, scaleDelta(move.delta, added!.n as number)]]);
  }
}

/**
 * The end of the validity period, once: every message whose latest attempt soft-bounced, or never got past
 * `delayed` (the MTA was still retrying it: it is not delivered, whatever the MTA says later), becomes `failed`
 * (without EFS, delivered % goes down here), pending retries are dropped, and the delivery is `finished`.
 * Returns 'not-yet' when the delivery is not ready (still sending, within an hour of the end), 'done' when
 * it was finished already, null when it does not exist.
 */
export async function finalizeDelivery(
  sql: postgres.Sql,
  deliveryId: string,
  now: Date,
  /** Receives how many messages were still waiting for a retry (for the metrics). */
  onExpired: (count: number) => void = () => {},
): Promise<{ failed: number } | 'not-yet' | 'done' | null> {
  return sql.begin(async (tx) => {
    const [d] = await tx`select state, valid_until from deliveries where id = ${deliveryId} for update`;
    if (!d) return null;
    if (d.state === 'finished') return 'done';
    if (!d.valid_until || now < d.valid_until) return 'not-yet';
    if (d.state === 'sending' || d.state === 'scheduled') {
      // Batches still run just after the end (they log what they can no longer send); only a dispatch
      // that gave up for good leaves a delivery sending long after it, and that must not block the end.
      if (now.getTime() < d.valid_until.getTime() + STUCK_DISPATCH_GRACE_MS) return 'not-yet';
      await failUnsentTargets(tx, deliveryId, now);
    }
    // A retry claimed before the end is being handed over (its lease runs): its record comes first.
    const [inFlight] = await tx`
      select 1 from delivery_logs where delivery_id = ${deliveryId} and retry_at > ${now} limit 1`;
    if (inFlight) return 'not-yet';
    // Waits for the feedback transactions holding a row whose latest attempt has no delivered outcome yet.
    // Without this, the update below (reading its own snapshot) skips a row that a concurrent soft bounce
    // is just giving a soft outcome, and that row would stay `sent` in a finished delivery. Once locked, a
    // later event on it reads the state `finished` (after-finish), as DESIGN.md wants.
    await tx`
      select 1 from delivery_logs
      where delivery_id = ${deliveryId} and status <> 'failed'
        and (outcome_kind is distinct from 'delivered' or outcome_attempt is distinct from attempts)
      for update`;
    const [moved] = await tx`
      with changed as (
        -- validityEnd's set-wise twin (shared/rules/status-moves.ts); o is the row before the update.
        update delivery_logs l set status = 'failed', retry_at = null, updated_at = ${now}
        from delivery_logs o
        where l.delivery_id = ${deliveryId} and l.outcome_kind in ('soft', 'delayed') and l.outcome_attempt = l.attempts
          and l.status <> 'failed' and o.delivery_id = l.delivery_id and o.seq = l.seq
        returning o.status, o.attempts, o.outcome_kind, o.outcome_attempt
      ), moves as (
        select status, attempts, outcome_kind, outcome_attempt, count(*)::int as n from changed group by 1, 2, 3, 4
      ), cleared as (
        update delivery_logs set retry_at = null
        where delivery_id = ${deliveryId} and retry_at is not null and not (outcome_kind in ('soft', 'delayed') and outcome_attempt = attempts and status <> 'failed')
        returning 1
      ), expired as (
        -- Read from the statement's snapshot, before the updates: messages still waiting for a retry.
        select count(*)::int as n from delivery_logs
        where delivery_id = ${deliveryId} and (retry_at is not null or (outcome_kind in ('soft', 'delayed') and outcome_attempt = attempts))
      )
      select (select count(*) from changed)::int as failed, (select count(*) from cleared)::int as cleared,
        (select n from expired) as expired,
        (select coalesce(json_agg(moves), '[]') from moves) as moves`;
    const failed = moved!.failed as number;
    const moves = moved!.moves as {
      status: LogStatus;
      attempts: number;
      outcome_kind: OutcomeKind;
      outcome_attempt: number;
      n: number;
    }[];
    await addKpiDeltas(
      tx,
      moves.map((m) => {
        const move = validityEnd({
          status: m.status,
          attempts: m.attempts,
          outcomeKind: m.outcome_kind,
          outcomeAttempt: m.outcome_attempt,
        });
        return [deliveryId, move ? scaleDelta(move.delta, m.n) : {}];
      }),
    );
    await tx`update deliveries set state = 'finished', finished_at = ${now} where id = ${deliveryId}`;
    onExpired(moved!.expired as number);
    return { failed };
  });
}
