// The retry handler: hands due soft-bounce retries to the MTA as new attempts, never after the validity end,
// and the finalize handler that ends the validity period.

import type { Queue } from 'bullmq';
import { DelayedError, UnrecoverableError } from 'bullmq';
import type postgres from 'postgres';
import { loadDispatchDelivery } from '../../db/dispatch';
import { quarantinedAmong, recordAddressOutcomes } from '../../db/quarantine';
import {
  deliveriesWithDueRetries,
  finalizeDelivery,
  lockDueRetries,
  type RetryHandOff,
  recordRetries,
} from '../../db/retry';
import { dsnRequest, envelopeSender, formatMessageId, messageIdDomain } from '../../shared/message-id';
import { retriesExpiredTotal, retriesScheduledTotal, retriesSentTotal } from '../../shared/metrics';
import { type FinalizePayload, jobIds, type RetryPayload, retryQueue } from '../../shared/queues';
import { FINAL_CAUSES } from '../../shared/rules/log-values';
import type { AddressOutcome, QuarantineRules } from '../../shared/rules/quarantine-rules';
import { retryEnded, retryHandedOver } from '../../shared/rules/status-moves';
import type { JobContext } from '../../shared/worker';
import { BuilderCache } from '../mta/builders';
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

/** Retries handed over per transaction: its row locks keep a concurrent retry job off the same messages. */
const CHUNK = 200;

export function retryHandler(deps: RetryDeps) {
  const builders = new BuilderCache();
  return async (payload: RetryPayload, { job, log }: JobContext) => {
    if ('sweep' in payload) {
      // The safety net: any delivery with due retries gets a job (deterministic id: no doubles).
      const due = await deliveriesWithDueRetries(deps.sql, deps.now());
      await deps.retryQueue.addBulk(
        due.map((d) => ({
          name: 'retry',
          data: { deliveryId: d.deliveryId },
          // Named after this sweep's second, not the due time: a kept failed job must not hide new work.
          opts: { ...retryQueue.jobOptions, jobId: jobIds.retry(d.deliveryId, deps.now()) },
        })),
      );
      return { deliveries: due.length };
    }
    const { deliveryId } = payload;
    const delivery = await loadDispatchDelivery(deps.sql, deliveryId);
    if (!delivery) throw new UnrecoverableError(`delivery ${deliveryId} not found`);
    const build = builders.get(delivery);
    const domain = messageIdDomain(delivery.sender);
    let handedOver = 0;
    let deferred = 0;
    for (;;) {
      const now = deps.now();
      const result = await deps.sql.begin(async (tx) => {
        const due = await lockDueRetries(tx, deliveryId, now, CHUNK);
        if (due.length === 0) return null;
        const handOffs: RetryHandOff[] = [];
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
        if (!closed) await deps.rateLimiter?.take(due.length - blocked.size);
        const addressOutcomes: AddressOutcome[] = [];
        let deferredHere = 0;
        let sentHere = 0;
        await Promise.all(
          due.map(async (row) => {
            const attempt = row.attempts + 1;
            const messageId = formatMessageId(
              { deliveryId, seq: row.seq, attempt, token: delivery.token },
              domain,
            );
            const base = { seq: row.seq, previousStatus: row.status };
            const stopped = delivery.state === 'stopped';
            if (closed || blocked.has(row.email)) {
              // No new attempt. Stopped or quarantined: the message ends failed now, for good (kind hard).
              // Past the validity end: the finalization makes it failed (its latest attempt soft-bounced).
              const move = retryEnded(
                row.status,
                stopped ? FINAL_CAUSES.stopped : blocked.has(row.email) ? FINAL_CAUSES.quarantined : null,
              );
              handOffs.push({
                ...base,
                attempt: row.attempts,
                messageId: row.message_id,
                status: move.status,
                failureType: null,
                failureReason: move.failureReason,
                outcomeKind: move.outcomeKind,
                retryAt: null,
              });
              return;
            }
            const sent = await deps.transport.send(
              {
                from: envelopeSender(delivery.sender, delivery.returnPathDomain, messageId),
                to: row.email,
                dsn: dsnRequest(messageId, row.email, delivery.efs),
              },
              build(row, messageId, now),
            );
            if (sent.ok) {
              sentHere++;
              // A retry's hand-off leaves the status alone: its feedback moves it (DESIGN.md's tables).
              handOffs.push({
                ...base,
                attempt,
                messageId,
                status: retryHandedOver(row.status).status,
                failureType: null,
                failureReason: null,
                outcomeKind: null,
                retryAt: null,
              });
            } else if (sent.temporary && sent.code === null) {
              // The MTA could not be reached: nothing was said of this address; the job retries later.
              deferredHere++;
            } else {
              // Refused, for now or for good: that decides this attempt like a bounce (a 4xx is soft, with
              // its next retry), so one greylisting recipient never blocks the others' retries.
              const r = refusal(sent, true, delivery, now);
              handOffs.push({ ...base, attempt, messageId, ...r });
              addressOutcomes.push({
                email: row.email,
                deliveryId,
                at: now.getTime(),
                kind: r.outcomeKind,
                reason: r.failureReason,
              });
            }
          }),
        );
        // Quarantine before the KPI row that recordRetries takes: one lock order in every transaction.
        await recordAddressOutcomes(tx, addressOutcomes, deps.quarantine);
        await recordRetries(tx, deliveryId, handOffs, now);
        return {
          handed: handOffs.length,
          deferred: deferredHere,
          sent: sentHere,
          rescheduled: handOffs.filter((h) => h.retryAt !== null).length,
        };
      });
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
