// The dispatch handler: hands one batch of a delivery to the MTA and logs every message exactly once.
import { UnrecoverableError } from 'bullmq';
import type postgres from 'postgres';
import {
  dispatchState,
  type HandOff,
  loadDispatchDelivery,
  pendingBatchTargets,
  recordHandOffs,
} from '../../db/dispatch';
import type { DispatchPayload } from '../../shared/queues';
import type { QuarantineRules } from '../../shared/rules/quarantine-rules';
import { handedOver, neverAttempted } from '../../shared/rules/status-moves';
import type { JobContext } from '../../shared/worker';
import { createHandOff } from '../mta/hand-off';
import type { RateLimiter } from '../mta/rate-limit';
import { refusal } from '../mta/refusal';
import type { MtaTransport } from '../mta/transport';
import type { StopSignals } from './stops';

export interface DispatchDeps {
  sql: postgres.Sql;
  quarantine: QuarantineRules;
  transport: MtaTransport;
  rateLimiter: RateLimiter | null;
  now: () => Date;
  /** Stops heard of while a batch runs (null: found between chunks only). */
  stops: StopSignals | null;
  /** Messages of one batch at the MTA at once (SMTP_POOL_SIZE): what may still leave after a stop. */
  inFlight: number;
}

/** Messages handed over between two rate-limit checks and two progress updates. */
const CHUNK = 100;
/**
 * Messages logged per transaction. A crash re-sends at most this many (same message ids); each
 * transaction also bumps the delivery's KPI row, which concurrent batches take in turn until their
 * commit, so smaller means slower (bench, 1M recipients, dropping: 100 → 12.5k msg/s, 500 → 24.8k,
 * 1,000 → 27.9k).
 */
const LOG_EVERY = 500;

export function dispatchHandler(deps: DispatchDeps) {
  const handOff = createHandOff(deps);
  return async ({ deliveryId, batch }: DispatchPayload, { job, log }: JobContext) => {
    const delivery = await loadDispatchDelivery(deps.sql, deliveryId);
    if (!delivery) throw new UnrecoverableError(`delivery ${deliveryId} not found`);
    if (delivery.state !== 'sending') {
      log.info({ batch, state: delivery.state }, 'Skipped a batch: the delivery is not sending.');
      return { skipped: delivery.state };
    }
    const { done, targets } = await pendingBatchTargets(deps.sql, deliveryId, batch, delivery.batchSize);
    if (done) return { skipped: 'batch already done' };

    // On the last attempt, a message still refused for now is logged as a soft failure so the batch ends.
    const finalAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    // The status of a message the MTA took: the delivery's, the same for every message of the batch.
    const handedOverStatus = handedOver(delivery.efs).status;
    let inserted = 0;
    let pending: HandOff[] = [];
    let deferred = 0;
    let lastResponse = '';
    let halted = 0;
    // A stop is checked before each message: heard on the channel at once, or read here between chunks.
    const stopped = () => deps.stops?.isStopped(deliveryId) === true;
    for (let start = 0; start < targets.length && halted === 0; start += CHUNK) {
      const chunk = targets.slice(start, start + CHUNK);
      const handOffs = pending;
      if (start > 0 && (await dispatchState(deps.sql, deliveryId)) !== 'sending')
        deps.stops?.mark(deliveryId);
      if (start > 0 && stopped()) {
        halted = targets.length - start; // Never handed over: no log row, as for the batches after a stop.
        break;
      }
      const handing = await handOff(
        delivery,
        // Object literals, not spreads of the driver's rows: a spread took a slow path a message.
        chunk.map((t) => ({ seq: t.seq, email: t.email, data: t.data, attempt: 1 })),
        stopped,
      );
      const { at: now, handed } = handing;
      halted += handing.halted;
      for (const { item: target, messageId, result } of handed) {
        if (result === null) {
          // Never attempted: final at once (kind hard, so no event overrides it); the reason says why.
          const move = neverAttempted();
          handOffs.push({
            seq: target.seq,
            email: target.email,
            messageId,
            status: move.status,
            failureType: 'soft',
            failureReason: move.failureReason,
            outcomeKind: move.outcomeKind,
            retryAt: null,
          });
        } else if (result.ok) {
          handOffs.push({
            seq: target.seq,
            email: target.email,
            messageId,
            status: handedOverStatus,
            failureType: null,
            failureReason: null,
            outcomeKind: null,
            retryAt: null,
          });
        } else if (result.temporary && !finalAttempt) {
          deferred++;
          lastResponse = result.response;
        } else {
          const refused = refusal(result, finalAttempt, delivery, now);
          handOffs.push({ seq: target.seq, email: target.email, messageId, ...refused });
        }
      }
      // Logged as it goes: a crash re-sends at most LOG_EVERY messages, and feedback finds rows sooner.
      if (pending.length >= LOG_EVERY && start + CHUNK < targets.length) {
        const logged = await recordHandOffs(
          deps.sql,
          deliveryId,
          batch,
          pending,
          false,
          deps.now(),
          deps.quarantine,
        );
        inserted += logged.inserted;
        pending = [];
      }
      // Progress is a courtesy: when Redis lost the job (a flush, a failover), the batch must still log what
      // it handed over, or the re-enqueued job would hand those messages over again.
      await job.updateProgress(Math.round(((start + chunk.length) / targets.length) * 100)).catch(() => {});
    }

    // The last chunk's logs and the batch's completion in one transaction (a stopped batch is not complete).
    const { inserted: last, deliverySent } = await recordHandOffs(
      deps.sql,
      deliveryId,
      batch,
      pending,
      deferred === 0 && halted === 0,
      deps.now(),
      deps.quarantine,
    );
    inserted += last;
    if (halted > 0) {
      log.info({ batch, inserted, halted }, 'Stopped in the middle of a batch: the delivery was stopped.');
      return { handedOver: inserted, stopped: halted };
    }
    if (deferred > 0) {
      // Logged messages stay logged; the retry hands over only the deferred ones, after the job's backoff.
      log.info(
        { batch, deferred, inserted },
        'Some messages were refused for now; the batch will be retried.',
      );
      throw new Error(`${deferred} messages deferred by the MTA (last reply: ${lastResponse.slice(0, 200)})`);
    }
    log.info(
      { batch, inserted, deliverySent },
      deliverySent ? 'Last batch handed over: the delivery is sent.' : 'Batch handed over.',
    );
    return { handedOver: inserted, deliverySent };
  };
}
