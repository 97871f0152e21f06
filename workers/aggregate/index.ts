// The aggregate role: the hourly open and click run (node-cron trigger and worker), compute-stats, and the
// daily RETENTION purge.
import { aggregationQueue, computeStatsQueue } from '../../shared/queues';
import { startWorker } from '../../shared/worker';
import { aggregationKind } from '../reconcile/kinds';
import type { RoleKit, RoleModule, RunningRole } from '../start/role-kit';
import { aggregationHandler, computeStatsHandler } from './handler';
import { startRetention } from './retention';
import { startAggregationTrigger } from './trigger';

export function startAggregateRole(kit: RoleKit): RunningRole {
  const { deps, base, opts } = kit;
  const handlerDeps = { sql: deps.sql, now: deps.now };
  // One run at a time per process; across replicas the run's advisory lock serializes them anyway.
  const aggregation = startWorker(aggregationQueue, aggregationHandler(handlerDeps), base, opts);
  const stats = startWorker(computeStatsQueue, computeStatsHandler(handlerDeps), base, {
    ...opts,
    concurrency: 2,
  });
  const trigger = startAggregationTrigger(
    kit.queue(aggregationQueue.name),
    deps.config.AGGREGATION_SCHEDULE,
    deps.log,
  );
  kit.reconcile(
    aggregationKind(
      deps.sql,
      kit.queue(aggregationQueue.name),
      deps.config.AGGREGATION_SCHEDULE,
      deps.now(),
      kit.grace,
    ),
  );
  // RETENTION (default off): the daily purge of finished deliveries' history, in this role of every replica.
  const retention =
    deps.config.RETENTION > 0
      ? startRetention({ sql: deps.sql, retentionMs: deps.config.RETENTION, now: deps.now, log: deps.log })
      : null;
  const running = kit.running([
    { queue: aggregationQueue, worker: aggregation },
    { queue: computeStatsQueue, worker: stats },
  ]);
  // The timer stops first, so that no tick adds a job to a closing queue.
  return {
    ...running,
    close: async () => {
      await trigger.destroy();
      if (retention) {
        await retention.task.destroy();
        await retention.first;
      }
      await running.close();
    },
  };
}

/** The aggregate role: the queues it handles (the start-up check reads them) and its start. */
export const aggregateRole: RoleModule = {
  queues: [aggregationQueue, computeStatsQueue],
  start: startAggregateRole,
};
