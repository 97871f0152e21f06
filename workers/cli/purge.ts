// `campaign purge --before DATE`: drops the history (logs, feedback and tracking events) of deliveries that
// ended before DATE, whole partitions at a time, and deletes their targets and unique opens; each delivery's
// KPI tile stays (db/purge.ts).
import type { Command } from 'commander';
import type { PurgeReport } from '../../db/purge';
import { parseContactDate } from './arguments';
import { type CliContext, output, UserError } from './context';

/** What a person reads: each range dropped or kept, and why. */
export function renderPurge(r: PurgeReport): string {
  const verb = r.dryRun ? 'would drop' : 'dropped';
  const erase = r.dryRun ? 'would delete' : 'deleted';
  const rows = (x: PurgeReport['totals']) =>
    `${x.deliveryLogs} log rows, ${x.feedbackEvents} feedback events, ${x.trackingEvents} tracking events`;
  const recipients = (x: { deliveryTargets: number; trackingUniques: number }) =>
    `${x.deliveryTargets} recipients (targets) and ${x.trackingUniques} unique opens`;
  const lines = [
    `${r.dryRun ? 'dry run: ' : ''}history that ended before ${r.before}: ${verb} ${r.totals.partitions} partitions ` +
      `(${rows(r.totals)}) of ${r.totals.deliveries} deliveries; ${erase} their ${recipients(r.totals)}`,
  ];
  for (const d of r.dropped) {
    lines.push(
      `  ${verb}   deliveries [${d.lo}, ${d.hi}): ${d.partitions.join(', ')} — ${d.rows.deliveryLogs} logs, ` +
        `${d.rows.feedbackEvents} feedback, ${d.rows.trackingEvents} tracking, ${d.rows.deliveryTargets} targets, ` +
        `${d.rows.trackingUniques} unique opens; deliveries ${d.deliveries.join(', ') || 'none'}`,
    );
  }
  for (const k of r.kept) lines.push(`  kept      deliveries [${k.lo}, ${k.hi}): ${k.reason}`);
  if (r.strayRows > 0) lines.push(`  ${verb} ${r.strayRows} rows of purged deliveries outside their range`);
  const earlier = r.earlierPurged;
  if (earlier.deliveryTargets + earlier.trackingUniques > 0)
    lines.push(
      `  ${erase} ${recipients(earlier)} left by earlier purges of ${earlier.deliveries} deliveries`,
    );
  return lines.join('\n');
}

export function registerPurgeCommand(program: Command, ctx: () => CliContext): void {
  program
    .command('purge')
    .description(
      'Drop the logs and events of deliveries that ended before DATE (whole partitions) and delete their recipients (targets) and unique opens; their KPI tiles stay. A delivery not finished, or within its validity period, is never touched.',
    )
    .requiredOption(
      '--before <date>',
      'ISO 8601 date: history of deliveries that ended before it, e.g. 2026-01-01',
    )
    .option('--dry-run', 'say what would be dropped, and change nothing')
    .option('--json', 'machine-readable output')
    .action(async (opts: { before: string; dryRun?: boolean; json?: boolean }) => {
      const before = parseContactDate(opts.before, '--before');
      const now = new Date();
      if (before > now) throw new UserError(`--before ${opts.before} is in the future; give a past date`);
      const { purgeHistory } = await import('../../db/purge');
      const report = await purgeHistory(await ctx().sql(), { before, now, dryRun: opts.dryRun === true });
      output(opts.json, report, () => renderPurge(report));
    });
}
