// The aggregation role's handlers: one tick of the hourly open and click run, and "compute statistics".
import { UnrecoverableError } from 'bullmq';
import type postgres from 'postgres';
import { computeDeliveryStats, runAggregationTick } from '../../db/aggregate';
import { kpiDriftTotal } from '../../shared/metrics';
import type { AggregationPayload, ComputeStatsPayload } from '../../shared/queues';
import type { JobContext } from '../../shared/worker';

export interface AggregateDeps {
  sql: postgres.Sql;
  now: () => Date;
}

export function aggregationHandler(deps: AggregateDeps) {
  return async ({ scheduledAt }: AggregationPayload, { log }: JobContext) => {
    const started = Date.now();
    const result = await runAggregationTick(deps.sql, new Date(scheduledAt), deps.now);
    if (result.alreadyRan) {
      log.info({ scheduledAt }, 'This tick of the aggregation has run already; nothing to do.');
    } else {
      log.info(
        { scheduledAt, events: result.events, deliveries: result.deliveries, ms: Date.now() - started },
        'Open and click rates aggregated.',
      );
    }
    return result;
  };
}

export function computeStatsHandler(deps: AggregateDeps) {
  return async ({ deliveryId }: ComputeStatsPayload, { log }: JobContext) => {
    const started = Date.now();
    const result = await computeDeliveryStats(deps.sql, deliveryId, deps.now);
    if (!result) throw new UnrecoverableError(`delivery ${deliveryId} not found`);
    const drifted = Object.entries(result.drift).filter(([, d]) => d !== 0);
    for (const [counter, d] of drifted) kpiDriftTotal.inc({ counter }, Math.abs(d));
    if (result.uniquesRepaired > 0) kpiDriftTotal.inc({ counter: 'uniques' }, result.uniquesRepaired);
    const fields = {
      drift: result.drift,
      uniquesRepaired: result.uniquesRepaired,
      ms: Date.now() - started,
    };
    if (drifted.length > 0 || result.uniquesRepaired > 0)
      log.warn(fields, 'The KPI counters had drifted from the logs and tracking events; corrected.');
    else log.info(fields, 'Statistics computed; the counters agreed with the recount.');
    return { ...result, statsComputedAt: result.statsComputedAt.toISOString() };
  };
}
