// How the command line shows a delivery to a person: the KPI tile and the recurring status.
import type { DeliveryStatus } from '../../db/delivery-status';
import type { RecurringStatus } from '../../db/recurring-status';

const percent = (fraction: number) => `${(fraction * 100).toFixed(2)} %`;

/** The KPI tile, as the reference product lays it out. */
export function renderTile(s: DeliveryStatus): string {
  const width = 30;
  const filled = Math.round(s.progress * width);
  return [
    `delivery ${s.id} "${s.label}"  ${s.state}${s.stateReason ? `: ${s.stateReason}` : ''}  (EFS ${s.efs ? 'on' : 'off'})`,
    `  progress          [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.round(s.progress * 100)} %`,
    `  to send           ${s.toSend}`,
    `  sent              ${s.sent}`,
    `  delivered         ${s.delivered}  (${percent(s.deliveredRate)})`,
    `  bounces + errors  ${s.bouncesAndErrors}  (${percent(s.bouncesAndErrorsRate)})`,
    `  opens             ${s.opens}  (${percent(s.openRate)})`,
    `  clicks            ${s.clicks}  (${percent(s.clickRate)})`,
    `  complaints        ${s.complaints}  (${percent(s.complaintRate)})`,
    `  valid until       ${s.validUntil ?? '(set at confirmation)'}`,
    `  stats computed    ${s.statsComputedAt ?? 'never'}`,
    ...(s.logsPurgedAt
      ? [`  logs              purged ${s.logsPurgedAt} (campaign purge); the figures above are final`]
      : []),
  ].join('\n');
}

/** The recurring status as lines of text. */

export function renderRecurring(s: RecurringStatus): string {
  const r = s.recurrence;
  const lines = [
    `delivery ${s.id} "${s.label}"  recurring${r.paused ? ' (paused)' : ''}  (EFS ${s.efs ? 'on' : 'off'})`,
    `  recurrence        "${r.cron}" ${r.timezone}${r.until ? ` until ${r.until}` : ''}, aggregate ${r.aggregate}${r.confirmEach ? ', confirm each' : ''}`,
    `  recipients        ${s.recipients}`,
    `  next occurrence   ${s.nextOccurrence ?? (r.paused ? 'none while paused' : 'none (the schedule has ended)')}`,
    `  executions        ${s.executions.length}`,
  ];
  for (const e of s.executions) {
    lines.push(
      `    ${(e.id ?? '-').padEnd(8)} ${e.occurrenceAt}  ${e.state.padEnd(9)} sent ${String(e.sent).padEnd(7)} delivered ${(e.deliveredRate * 100).toFixed(2)} %${
        e.periodDeliveryId ? `  (in delivery ${e.periodDeliveryId})` : ''
      }${e.reason ? `  ${e.reason}` : ''}`,
    );
  }
  return lines.join('\n');
}

/** ": 2 user unknown, 1 on denylist", most first; nothing when none was excluded. */
export function byReason(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort(([a, m], [b, n]) => n - m || a.localeCompare(b));
  return entries.length === 0 ? '' : `: ${entries.map(([reason, n]) => `${n} ${reason}`).join(', ')}`;
}
