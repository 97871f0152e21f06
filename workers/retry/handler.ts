// The retry handler: hands due soft-bounce retries to the MTA as new attempts, never after the validity end,
// and the finalize handler that ends the validity period.

import type { Queue } from 'bullmq';
import { DelayedError, UnrecoverableError } from 'bullmq';
import type postgres from 'postgres';
import { loadDispatchDelivery } from '../../db/dispatch';
import { quarantinedAmong, recordAddressOutcomes } from '../../db/quarantine';
import {
  type DueRetry,
  deliveriesWithDueRetries,
  finalizeDelivery,
  leaseRetries,
  lockDueRetries,
  RETRY_LEASE_MS,
  type RetryHandOff,
  recordRetries,
} from '../../db/retry';
import { enqueueBulk } from '../../shared/enqueue';
import { retriesExpiredTotal, retriesScheduledTotal, retriesSentTotal } from '../../shared/metrics';
import { type FinalizePayload, jobIds, type RetryPayload, retryQueue } from '../../shared/queues';
import { isErasedAddress } from '../../shared/rules/erasure';
import { FINAL_CAUSES } from '../../shared/rules/log-values';
import type { AddressOutcome, QuarantineRules } from '../../shared/rules/quarantine-rules';
import { retryEnded } from '../../shared/rules/status-moves';
import type { JobContext } from '../../shared/worker';
import { createHandOff } from '../mta/hand-off';
import type { RateLimiter } from '../mta/rate-limit';
import { refusal } from '../mta/refusal';
import type { MtaTransport } from '../mta/transport';

export interface RetryDeps {
  sql: postgres.Sql;
  transport: MtaTransport;
  rateLimiter: RateLimiter | null;
  retryQueue: Queue;
  quarantine: QuarantineRules;
  now: () => Date;
}

/** Retries claimed at a time: their lease keeps a concurrent retry job off the same messages. */
const CHUNK = 200;

export function retryHandler(deps: RetryDeps) {
  const handOff = createHandOff(deps);
  return async (payload: RetryPayload, { job, log }: JobContext) => {
    if ('sweep' in payload) {
      // The safety net: any delivery with due retries gets a job (deterministic id: no doubles).
      const due = await deliveriesWithDueRetries(deps.sql, deps.now());
      await enqueueBulk(
        deps.retryQueue,
        retryQueue,
        due.map((d) => ({
          payload: { deliveryId: d.deliveryId },
          // Named after this sweep's second, not the due time: a kept failed job must not hide new work.
          options: { name: 'retry', jobId: jobIds.retry(d.deliveryId, deps.now()) },
        })),
      );
      return { deliveries: due.length };
    }
    const { deliveryId } = payload;
    const delivery = await loadDispatchDelivery(deps.sql, deliveryId);
    if (!delivery) throw new UnrecoverableError(`delivery ${deliveryId} not found`);
    let handedOver = 0;
    let deferred = 0;
    for (;;) {
      const now = deps.now();
      // 1. A short transaction claims due retries: those that may get no new attempt end at once, the
      //    others are leased. No row lock is held across the SMTP sends that follow.
      const claim = await deps.sql.begin(async (tx) => {
        const due = await lockDueRetries(tx, deliveryId, now, CHUNK);
        if (due.length === 0) return null;
        // No attempt is ever handed over after the validity period, whatever delayed this job.
        const closed =
          delivery.state === 'finished' ||
          delivery.state === 'stopped' ||
          !delivery.validUntil ||
          now >= delivery.validUntil;
        // An address quarantined meanwhile gets no new attempt: its message ends failed with that reason.
        const blocked = closed
          ? new Set<string>()
          : await quarantinedAmong(
              tx,
              due.map((r) => r.email),
              now.getTime(),
              deps.quarantine,
            );
        // An erased address (its pseudonym) is never mailed again either.
        if (!closed) for (const row of due) if (isErasedAddress(row.email)) blocked.add(row.email);
        const stopped = delivery.state === 'stopped';
        const ended: RetryHandOff[] = [];
        const toSend: DueRetry[] = [];
        for (const row of due) {
          if (!closed && !blocked.has(row.email)) {
            toSend.push(row);
            continue;
          }
          // Stopped or quarantined: the message ends failed now, for good (kind hard). Past the validity
          // end: the finalization makes it failed (its latest attempt soft-bounced).
          const move = retryEnded(
            row.status,
            stopped ? FINAL_CAUSES.stopped : blocked.has(row.email) ? FINAL_CAUSES.quarantined : null,
          );
          ended.push({
            seq: row.seq,
            previousAttempts: row.attempts,
            attempt: row.attempts,
            messageId: row.message_id,
            status: move.status,
            failureType: null,
            failureReason: move.failureReason,
            outcomeKind: move.outcomeKind,
            retryAt: null,
          });
        }
        await recordRetries(tx, deliveryId, ended, now);
        await leaseRetries(
          tx,
          deliveryId,
          toSend.map((r) => r.seq),
          new Date(now.getTime() + RETRY_LEASE_MS),
        );
        return { ended: ended.length, toSend };
      });
      if (!claim) break;

      // 2. The hand-off, outside any transaction.
      const { at, handed } = await handOff(
        delivery,
        // Object literals, not spreads of the driver's rows (a slow path a message; see the dispatch handler).
        claim.toSend.map((row) => ({
          seq: row.seq,
          email: row.email,
          data: row.data,
          attempts: row.attempts,
          status: row.status,
          message_id: row.message_id,
          retry_at: row.retry_at,
          attempt: row.attempts + 1,
        })),
      );
      const handOffs: RetryHandOff[] = [];
      const addressOutcomes: AddressOutcome[] = [];
      let deferredHere = 0;
      let sentHere = 0;
      for (const { item: row, messageId, result: sent } of handed) {
        if (sent === null || (!sent.ok && sent.temporary && sent.code === null)) {
          // Not attempted (the validity end came during the wait), or the MTA could not be reached: nothing
          // was said of this address. The retry is due again as it was; the job retries later.
          if (sent !== null) deferredHere++;
          handOffs.push({
            seq: row.seq,
            previousAttempts: row.attempts,
            attempt: row.attempts,
            messageId: row.message_id,
            status: null,
            failureType: null,
            failureReason: null,
            outcomeKind: null,
            retryAt: row.retry_at,
          });
        } else if (sent.ok) {
          sentHere++;
          // A retry's hand-off leaves the status alone: its feedback moves it (DESIGN.md's tables).
          handOffs.push({
            seq: row.seq,
            previousAttempts: row.attempts,
            attempt: row.attempt,
            messageId,
            status: null,
            failureType: null,
            failureReason: null,
            outcomeKind: null,
            retryAt: null,
          });
        } else {
          // Refused, for now or for good: that decides this attempt like a bounce (a 4xx is soft, with
          // its next retry), so one greylisting recipient never blocks the others' retries.
          const r = refusal(sent, true, delivery, at);
          handOffs.push({
            seq: row.seq,
            previousAttempts: row.attempts,
            attempt: row.attempt,
            messageId,
            ...r,
          });
          addressOutcomes.push({
            email: row.email,
            deliveryId,
            at: at.getTime(),
            kind: r.outcomeKind,
            reason: r.failureReason,
          });
        }
      }
      // 3. One transaction records them. Quarantine before the KPI row that recordRetries takes: one lock
      //    order in every transaction.
      await deps.sql.begin(async (tx) => {
        await recordAddressOutcomes(tx, addressOutcomes, deps.quarantine);
        await recordRetries(tx, deliveryId, handOffs, at);
      });
      const result = {
        handed: claim.ended + handOffs.filter((h) => h.attempt !== h.previousAttempts).length,
        deferred: deferredHere,
        sent: sentHere,
        rescheduled: handOffs.filter((h) => h.retryAt !== null && h.status !== null).length,
      };
      if (!result) break;
      retriesSentTotal.inc(result.sent);
      retriesScheduledTotal.inc(result.rescheduled);
      handedOver += result.handed;
      deferred += result.deferred;
      if (result.deferred > 0) break;
    }
    if (deferred > 0) throw new Error(`${deferred} retries deferred by the MTA; retrying the job`);
    log.info({ handedOver, attemptsMade: job.attemptsMade }, 'Retries handed over.');
    return { handedOver };
  };
}

export function finalizeHandler(deps: { sql: postgres.Sql; now: () => Date }) {
  return async ({ deliveryId }: FinalizePayload, { job, log, token }: JobContext) => {
    let expired = 0;
    const result = await finalizeDelivery(deps.sql, deliveryId, deps.now(), (n) => {
      expired = n;
    });
    if (result === null) throw new UnrecoverableError(`delivery ${deliveryId} not found`);
    if (result === 'done') return { already: true };
    if (result === 'not-yet') {
      // Still sending at the end of its validity (or the clock is early): look again in a minute. The job
      // keeps its id while it waits, so the reconciler can tell a waiting finalization from a lost one.
      if (!token) throw new Error('a finalization cannot be postponed without its job lock');
      await job.moveToDelayed(Date.now() + 60_000, token);
      log.info('Validity end reached while the delivery is still sending: finalization postponed a minute.');
      throw new DelayedError();
    }
    retriesExpiredTotal.inc(expired);
    log.info(
      { failed: result.failed, expired },
      'Validity period over: the delivery is finished and its figures are final.',
    );
    return result;
  };
}
