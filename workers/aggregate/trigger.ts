// The hourly trigger: node-cron in every process of the aggregation role adds the tick's job once.

import type { Queue } from 'bullmq';
import cron, { type ScheduledTask } from 'node-cron';
import { enqueue } from '../../shared/enqueue';
import type { Logger } from '../../shared/logger';
import { aggregationQueue, jobIds } from '../../shared/queues';

/**
 * Every replica fires at the same tick and adds the same job id (the tick, to the second), so BullMQ keeps
 * one job; the tick's row in `aggregation_runs` stops a second run should the job be added again later.
 */
export function startAggregationTrigger(queue: Queue, schedule: string, log: Logger): ScheduledTask {
  return cron.schedule(
    schedule,
    async ({ date }) => {
      const scheduledAt = new Date(Math.floor(date.getTime() / 1000) * 1000);
      try {
        await enqueue(
          queue,
          aggregationQueue,
          { scheduledAt: scheduledAt.toISOString() },
          { name: 'aggregate', jobId: jobIds.aggregation(scheduledAt) },
        );
      } catch (error) {
        // Redis is down: the next tick catches up, since each run reads everything since the watermark.
        log.warn(
          { scheduledAt, err: (error as Error).message },
          'Could not add the aggregation job; the next tick catches up.',
        );
      }
    },
    { timezone: 'UTC', name: 'kpi-aggregation', noOverlap: true },
  );
}
