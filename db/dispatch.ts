// SQL of the dispatch: planning batches, reading a batch's recipients, writing its logs exactly once.
import type postgres from 'postgres';
import type { FailureReason } from '../shared/rules/classify';
import { ERASED_DOMAIN } from '../shared/rules/erasure';
import {
  type FailureType,
  type FinalCause,
  isFinalCause,
  type LogStatus,
  type OutcomeKind,
} from '../shared/rules/log-values';
import type { QuarantineRules } from '../shared/rules/quarantine-rules';
import { scaleDelta, statusDelta } from '../shared/rules/status-moves';
import { addKpiDeltas } from './kpi';
import { recordAddressOutcomes } from './quarantine';

/**
 * Moves a confirmed delivery to `sending` (from `scheduled`, or again from `sending` on a retry) and fixes
 * its batch plan once. A delivery with nobody to send to goes straight to `sent`. Null when the delivery
 * is in no state to send (stopped meanwhile, or already sent).
 */
export async function beginSending(
  sql: postgres.Sql,
  deliveryId: string,
  batchSize: number,
  now: Date,
): Promise<{ batchesTotal: number } | null> {
  const [row] = await sql`
    update deliveries set
      state = (case when to_send = 0 then 'sent' else 'sending' end)::delivery_state,
      sending_at = coalesce(sending_at, ${now}),
      sent_at = case when to_send = 0 then ${now}::timestamptz else sent_at end,
      batch_size = coalesce(batch_size, ${batchSize}),
      batches_total = coalesce(batches_total, ceil(to_send::numeric / ${batchSize})::int)
    where id = ${deliveryId} and state in ('scheduled', 'sending')
    returning batches_total`;
  return row ? { batchesTotal: row.batches_total } : null;
}

/** What every message of a delivery shares. */
export interface DispatchDelivery {
  id: string;
  state: string;
  efs: boolean;
  token: string;
  /** The key of its message tokens; null on deliveries made before keys (see messageToken). */
  messageKey: string | null;
  sender: string;
  returnPathDomain: string | null;
  subject: string;
  textBody: string | null;
  htmlBody: string | null;
  batchSize: number;
  retryIntervalSeconds: number;
  validUntil: Date | null;
}

/** The delivery's state alone: a running batch reads it between chunks to see a stop. */
export async function dispatchState(sql: postgres.Sql, deliveryId: string): Promise<string | null> {
  const [d] = await sql`select state from deliveries where id = ${deliveryId}`;
  return d ? (d.state as string) : null;
}

export async function loadDispatchDelivery(
  sql: postgres.Sql,
  deliveryId: string,
): Promise<DispatchDelivery | null> {
  const [d] = await sql`
    select id, state, efs, token, message_key, sender, return_path_domain, subject, text_body, html_body, batch_size, retry_interval_seconds, valid_until
    from deliveries where id = ${deliveryId}`;
  if (!d) return null;
  return {
    id: String(d.id),
    state: d.state,
    efs: d.efs,
    token: d.token,
    messageKey: d.message_key,
    sender: d.sender,
    returnPathDomain: d.return_path_domain,
    subject: d.subject,
    textBody: d.text_body,
    htmlBody: d.html_body,
    batchSize: d.batch_size,
    retryIntervalSeconds: d.retry_interval_seconds,
    validUntil: d.valid_until,
  };
}

/** A recipient of a batch, with its personalization values. */
export interface BatchTarget {
  seq: number;
  email: string;
  data: Record<string, string>;
}

/**
 * The batch's recipients that have no log yet (a retried batch skips what it already logged). An address
 * erased before its batch ran gets no message: it has no log, and the batch ends without it.
 */
export async function pendingBatchTargets(
  sql: postgres.Sql,
  deliveryId: string,
  batch: number,
  batchSize: number,
): Promise<{ done: boolean; targets: BatchTarget[] }> {
  const from = batch * batchSize;
  const to = from + batchSize;
  const [done] =
    await sql`select 1 from dispatch_batches where delivery_id = ${deliveryId} and batch = ${batch}`;
  if (done) return { done: true, targets: [] };
  // The logs are bounded by the batch's range too, not only through the join: a plan chosen while the delivery
  // had no logs yet (a merge anti join, say, cached by the connection's prepared statement, with no ANALYZE
  // since) then still reads one batch of logs, not every log of the delivery so far for every batch (a 10M
  // dispatch fell from 21k to 4k msg/s that way, each batch's read reaching 1.4 s).
  const targets = await sql<BatchTarget[]>`
    select t.seq, t.email, t.data from delivery_targets t
    where t.delivery_id = ${deliveryId} and t.seq >= ${from} and t.seq < ${to}
      and not exists (select 1 from delivery_logs l where l.delivery_id = t.delivery_id and l.seq = t.seq
        and l.seq >= ${from} and l.seq < ${to})
      and t.email not like ${`%@${ERASED_DOMAIN}`}
    order by t.seq`;
  return { done: false, targets };
}

/** One message's hand-off, as the log will record it. */
export interface HandOff {
  seq: number;
  email: string;
  messageId: string;
  status: LogStatus;
  failureType: Exclude<FailureType, 'ignored'> | null;
  failureReason: FailureReason | FinalCause | null;
  /** Set when the hand-off itself decided the attempt (a refusal); null when the MTA took the message. */
  outcomeKind: Extract<OutcomeKind, 'soft' | 'hard'> | null;
  retryAt: Date | null;
}

/**
 * Inserts the logs of handed-off messages and counts them into the KPIs, in one transaction. Rows that
 * exist already (a batch retried after a crash) are neither inserted nor counted again. With `finished`,
 * the batch is marked done and the delivery becomes `sent` when it was the last one.
 */
export async function recordHandOffs(
  sql: postgres.Sql,
  deliveryId: string,
  batch: number,
  handOffs: HandOff[],
  finished: boolean,
  now: Date,
  quarantine: QuarantineRules,
): Promise<{ inserted: number; deliverySent: boolean }> {
  return sql.begin(async (tx) => {
    let inserted = 0;
    // Quarantine before the KPI row, as every transaction does (log rows, quarantine, KPIs): no deadlock.
    // A refusal at hand-off counts for the address as a bounce would (a 550 user unknown quarantines).
    await recordAddressOutcomes(
      tx,
      handOffs
        .filter((h) => h.outcomeKind !== null && !isFinalCause(h.failureReason))
        .map((h) => ({
          email: h.email,
          deliveryId,
          at: now.getTime(),
          kind: h.outcomeKind!,
          reason: h.failureReason,
        })),
      quarantine,
    );
    if (handOffs.length > 0) {
      const byStatus = await tx`
        with ins as (
          insert into delivery_logs (delivery_id, seq, email, status, attempts, message_id, failure_type,
            failure_reason, outcome_attempt, outcome_kind, outcome_at, outcome_event_id, retry_at,
            handed_off_at, updated_at)
          select ${deliveryId}, h.seq, h.email, h.status::log_status, 1, h.message_id, h.failure_type::failure_type,
                 h.failure_reason,
                 -- A refusal at hand-off decides the attempt as a bounce would (feedback-state.ts).
                 case when h.outcome_kind is not null then 1 end, h.outcome_kind,
                 case when h.outcome_kind is not null then ${now}::timestamptz end,
                 case when h.outcome_kind is not null then 'hand-off' end, h.retry_at, ${now}, ${now}
          from unnest(${handOffs.map((h) => h.seq)}::int[], ${handOffs.map((h) => h.email)}::text[],
                      ${handOffs.map((h) => h.status)}::text[], ${handOffs.map((h) => h.messageId)}::text[],
                      ${handOffs.map((h) => h.failureType) as string[]}::text[],
                      ${handOffs.map((h) => h.failureReason) as string[]}::text[],
                      ${handOffs.map((h) => h.outcomeKind) as string[]}::text[],
                      ${handOffs.map((h) => h.retryAt?.toISOString() ?? null) as string[]}::timestamptz[])
               as h(seq, email, status, message_id, failure_type, failure_reason, outcome_kind, retry_at)
          on conflict (delivery_id, seq) do nothing
          returning status
        )
        select status, count(*)::int as n from ins group by status`;
      inserted = byStatus.reduce((sum, r) => sum + (r.n as number), 0);
      await addKpiDeltas(
        tx,
        byStatus.map((r) => [
          deliveryId,
          scaleDelta(statusDelta(null, r.status as LogStatus), r.n as number),
        ]),
      );
    }
    if (!finished) return { inserted, deliverySent: false };
    const [marked] = await tx`
      insert into dispatch_batches (delivery_id, batch) values (${deliveryId}, ${batch})
      on conflict do nothing returning batch`;
    if (!marked) return { inserted, deliverySent: false };
    const [delivery] = await tx`
      update deliveries set
        batches_done = batches_done + 1,
        state = (case when batches_done + 1 >= batches_total and state = 'sending' then 'sent' else state end)::delivery_state,
        sent_at = case when batches_done + 1 >= batches_total and state = 'sending' then ${now}::timestamptz else sent_at end
      where id = ${deliveryId}
      returning state`;
    return { inserted, deliverySent: delivery?.state === 'sent' };
  });
}
