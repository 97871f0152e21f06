// RETENTION: once a day (and once at start) the aggregate role purges the history that ended longer ago than
// the setting, and makes the next history range if none is ahead; replicas claim the day's run in PostgreSQL.
import cron, { type ScheduledTask } from 'node-cron';
import type postgres from 'postgres';
import { ensureHistoryPartitions } from '../../db/partitions';
import { type PurgeReport, runRetention } from '../../db/purge';
import type { Logger } from '../../shared/logger';

/** 03:17 UTC: away from the hourly run at minute 0 and from midnight's batch jobs elsewhere. */
const DAILY = '17 3 * * *';

/** One run: returns the purge's report, or null when another replica (or an earlier run) had the day. */
export async function retentionPass(deps: {
  sql: postgres.Sql;
  retentionMs: number;
  now: () => Date;
  log: Logger;
}): Promise<PurgeReport | null> {
  const now = deps.now();
  // Ahead of need even if a confirm's attempt at it timed out: the newest delivery's range and the next.
  const [newest] = await deps.sql`select coalesce(max(id), 0) as id from deliveries`;
  await ensureHistoryPartitions(deps.sql, newest!.id as string, now);
  const report = await runRetention(deps.sql, { retentionMs: deps.retentionMs, now });
  if (report) {
    deps.log.info(
      {
        before: report.before,
        partitions: report.totals.partitions,
        deliveries: report.totals.deliveries,
        rows: report.totals.deliveryLogs + report.totals.feedbackEvents + report.totals.trackingEvents,
        recipientRows:
          report.totals.deliveryTargets +
          report.totals.trackingUniques +
          report.earlierPurged.deliveryTargets +
          report.earlierPurged.trackingUniques,
        kept: report.kept.length,
      },
      'Retention: dropped the history that ended before the cut-off, and its recipients.',
    );
  }
  return report;
}

/** The daily trigger; the first pass runs at once. A failed pass is logged and tried again the next day. */
export function startRetention(deps: {
  sql: postgres.Sql;
  retentionMs: number;
  now: () => Date;
  log: Logger;
}): { task: ScheduledTask; first: Promise<unknown> } {
  const pass = () =>
    retentionPass(deps).catch((error: Error) => {
      deps.log.warn({ err: error.message }, 'Retention pass failed; the next one tries again.');
      return null;
    });
  const task = cron.schedule(DAILY, pass, { timezone: 'UTC', name: 'retention', noOverlap: true });
  return { task, first: pass() };
}
