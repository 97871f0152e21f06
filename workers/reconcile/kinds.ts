// The kinds of pending work the reconciler restores, each read from PostgreSQL under its producer's job id.
import type { Queue } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import type postgres from 'postgres';
import {
  aggregationTickRan,
  earliestDueOccurrence,
  earliestDueRetries,
  openDispatchBatches,
  overdueFinalizations,
  scheduledStarts,
} from '../../db/reconcile';
import {
  aggregationQueue,
  dispatchQueue,
  finalizeQueue,
  jobIds,
  recurrenceQueue,
  retryQueue,
  startQueue,
} from '../../shared/queues';
import type { ExpectedJob, ReconcileKind } from './index';

/**
 * How old a piece of work must be before its missing job counts as lost. Producers add a job just after the
 * transaction that records its work commits; a pass that reads in between would otherwise "restore" a job
 * about to be added (harmless, since the ids match, but a false alarm). 10 s, or the interval if shorter.
 */
export function raceGraceMs(reconcileIntervalMs: number): number {
  return Math.min(10_000, reconcileIntervalMs);
}

const ago = (now: Date, ms: number) => new Date(now.getTime() - ms);

/** Dispatch batches not done of deliveries `sending`, and the start (planning) of those sending unplanned. */
export function dispatchKinds(
  sql: postgres.Sql,
  q: { dispatch: Queue; start: Queue },
  grace: number,
): ReconcileKind[] {
  // One query feeds both kinds: cached for the pass that asks twice at the same instant.
  let cached: { at: number; value: ReturnType<typeof openDispatchBatches> } | null = null;
  const open = (now: Date) => {
    if (cached?.at !== now.getTime())
      cached = { at: now.getTime(), value: openDispatchBatches(sql, ago(now, grace)) };
    return cached.value;
  };
  const start = (deliveryId: string, delay: number): ExpectedJob => ({
    name: 'start',
    data: { deliveryId },
    opts: { ...startQueue.jobOptions, jobId: jobIds.start(deliveryId), delay },
  });
  return [
    {
      kind: 'dispatch',
      queue: q.dispatch,
      expected: async (now) =>
        (await open(now)).batches.map(({ deliveryId, batch }) => ({
          name: 'batch',
          data: { deliveryId, batch },
          opts: { ...dispatchQueue.jobOptions, jobId: jobIds.dispatch(deliveryId, batch) },
        })),
    },
    {
      kind: 'start',
      queue: q.start,
      expected: async (now) => [
        // Sending but never planned (the confirm's follow-up was lost): the start job plans it now.
        ...(await open(now)).unplanned.map((id) => start(id, 0)),
        // Waiting for the contact date: put back as the delayed job it was, so it starts on time.
        ...(await scheduledStarts(sql, ago(now, grace))).map((s) =>
          start(s.deliveryId, Math.max(0, s.startAt.getTime() - now.getTime())),
        ),
      ],
    },
  ];
}

/** Retries due, and validity ends due (the finalization). */
export function retryKinds(
  sql: postgres.Sql,
  q: { retry: Queue; finalize: Queue },
  grace: number,
): ReconcileKind[] {
  return [
    {
      kind: 'retry',
      queue: q.retry,
      // The id the feedback worker gave the retry of the earliest due row; a re-added one that finds the
      // rows already retried does nothing (rows are locked and their retry_at moved in one transaction).
      expected: async (now) =>
        (await earliestDueRetries(sql, ago(now, grace))).map((r) => ({
          name: 'retry',
          data: { deliveryId: r.deliveryId },
          opts: { ...retryQueue.jobOptions, jobId: jobIds.retry(r.deliveryId, r.at) },
        })),
    },
    {
      kind: 'finalize',
      queue: q.finalize,
      // The finalize job keeps its id while it waits for a sending delivery (it is moved back to delayed),
      // so a due delivery without that job has lost it; finalizing twice is refused by the delivery's state.
      expected: async (now) =>
        (await overdueFinalizations(sql, ago(now, grace))).map((deliveryId) => ({
          name: 'finalize',
          data: { deliveryId },
          opts: { ...finalizeQueue.jobOptions, jobId: jobIds.finalize(deliveryId) },
        })),
    },
  ];
}

/**
 * The latest tick of the aggregation schedule, once it is grace old and if it fell while this
 * process ran (a tick missed while nothing ran is no loss: the next run reads everything since then).
 */
export function aggregationKind(
  sql: postgres.Sql,
  queue: Queue,
  schedule: string,
  since: Date,
  grace: number,
): ReconcileKind {
  return {
    kind: 'aggregation',
    queue,
    expected: async (now) => {
      const tick = CronExpressionParser.parse(schedule, { currentDate: ago(now, grace), tz: 'UTC' })
        .prev()
        .toDate();
      if (tick < since || (await aggregationTickRan(sql, tick))) return [];
      return [
        {
          name: 'aggregate',
          data: { scheduledAt: tick.toISOString() },
          opts: { ...aggregationQueue.jobOptions, jobId: jobIds.aggregation(tick) },
        },
      ];
    },
  };
}

/** Occurrences due and not produced after two sweeps should have run: one sweep job, named by the occurrence. */
export function recurrenceKind(
  sql: postgres.Sql,
  queue: Queue,
  tickMs: number,
  grace: number,
): ReconcileKind {
  return {
    kind: 'recurrence',
    queue,
    expected: async (now) => {
      const at = await earliestDueOccurrence(sql, ago(now, grace + 2 * tickMs));
      if (!at) return [];
      return [
        {
          name: 'sweep',
          data: { sweep: true },
          opts: { ...recurrenceQueue.jobOptions, jobId: `recurrence-due-${Math.floor(at.getTime() / 1000)}` },
        },
      ];
    },
  };
}
