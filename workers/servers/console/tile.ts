// A delivery's dashboard: the KPI tile (refreshed by /console/assets/tile.js), its actions, the failures by
// type and reason; for a recurring delivery its schedule, pause state and executions; for a stopped one, why.
import type { FailureCount } from '../../../db/delivery-page';
import type { DeliveryStatus } from '../../../db/delivery-status';
import type { RecurringStatus } from '../../../db/recurring-status';
import { count } from '../../../shared/plural';
import { roleRefusal, START_ROLE } from '../../../shared/rules/roles';
import { e, notice, postForm, table, type View } from './html';

export interface Dashboard {
  status: DeliveryStatus;
  failures: FailureCount[];
  recurring: RecurringStatus | null;
}

const pct = (fraction: number) => `${(fraction * 100).toFixed(2)} %`;

const card = (key: string, label: string, value: string, sub = '') =>
  `<div class="tile"><span>${label}</span><b data-k="${key}">${e(value)}</b><span data-k="${key}Sub">${e(sub)}</span></div>`;

/** The button that starts Confirm send → OK, or the reference product's message naming the role. */
function confirmAction(deliveryId: string, view: View, label = 'Confirm send'): string {
  const refusal = roleRefusal(view.operator.roles, START_ROLE);
  if (refusal) return `<span class="refusal no-rights">${e(refusal)}</span>`;
  return `<form method="get" action="/console/deliveries/${e(deliveryId)}/confirm" class="inline"><button type="submit">${e(label)}</button></form>`;
}

function tileCards(s: DeliveryStatus): string {
  return `<div id="progress">progress <span data-k="progress">${Math.round(s.progress * 100)} %</span>
<progress id="progress-bar" class="wide" max="1" value="${Math.min(1, s.progress)}"></progress></div>
<div class="tiles">
${card('toSend', 'to send', String(s.toSend))}
${card('sent', 'sent', String(s.sent))}
${card('deliveredRate', 'delivered', pct(s.deliveredRate), count(s.delivered, 'message'))}
${card('bouncesAndErrorsRate', 'bounces + errors', pct(s.bouncesAndErrorsRate), count(s.bouncesAndErrors, 'message'))}
${card('openRate', 'opens', pct(s.openRate), count(s.opens, 'recipient'))}
${card('clickRate', 'clicks', pct(s.clickRate), count(s.clicks, 'recipient'))}
${card('complaintRate', 'complaints', pct(s.complaintRate), count(s.complaints, 'message'))}
</div>`;
}

function recurringSection(r: RecurringStatus, view: View): string {
  const s = r.recurrence;
  const schedule = table(
    ['schedule', 'time zone', 'until', 'aggregate', 'confirm each', 'state', 'next occurrence'],
    [
      [
        `<code>${e(s.cron)}</code>`,
        e(s.timezone),
        e(s.until ?? 'none'),
        e(s.aggregate),
        s.confirmEach ? 'yes' : 'no',
        `<span data-k="paused">${s.paused ? 'paused' : 'running'}</span>`,
        e(r.nextOccurrence ?? (s.paused ? 'none while paused' : 'none')),
      ],
    ],
    '',
    'schedule',
  );
  const rows = r.executions.map((x) => [
    e(x.occurrenceAt),
    x.id ? `<a href="/console/deliveries/${e(x.id)}">${e(x.id)}</a>` : '–',
    `<span class="state">${e(x.state)}</span>${x.reason ? ` <small>${e(x.reason)}</small>` : ''}`,
    e(x.sent),
    pct(x.deliveredRate),
    x.periodDeliveryId
      ? `<a href="/console/deliveries/${e(x.periodDeliveryId)}">${e(x.periodDeliveryId)}</a>`
      : '',
    x.state === 'prepared' && x.id && s.confirmEach ? confirmAction(x.id, view) : '',
  ]);
  return `<h2>Recurrence</h2>${schedule}<p class="meta">${e(count(r.recipients, 'recipient'))} per execution; pause or resume with <code>npx campaign delivery ${s.paused ? 'resume' : 'pause'} ${e(r.id)}</code></p>
<h2>Executions</h2>${table(['occurrence', 'delivery', 'state', 'sent', 'delivered', 'period delivery', ''], rows, 'No execution yet.', 'executions')}`;
}

export function dashboardBody(d: Dashboard, view: View): string {
  const s = d.status;
  const stopped =
    s.stateReason !== undefined
      ? notice(`This delivery is ${s.state}: ${s.stateReason}`, 'refusal').replace(
          'class="refusal"',
          'class="refusal" id="state-reason"',
        )
      : '';
  const confirm =
    s.state === 'prepared' ? `<span id="confirm-actions">${confirmAction(s.id, view)}</span>` : '';
  const actions = `<div class="actions">${confirm}${postForm(view.csrf, `/console/deliveries/${s.id}/compute-stats`, 'Compute statistics', {}, 'compute-form')}
<a href="/console/deliveries/${e(s.id)}/logs">Sending logs</a></div>`;
  const failures = table(
    ['reason', 'type', 'messages'],
    d.failures.length
      ? d.failures.map((f) => [
          `<a href="/console/deliveries/${e(s.id)}/logs?status=failed&amp;reason=${encodeURIComponent(f.reason ?? 'not defined')}">${e(f.reason ?? 'not defined')}</a>`,
          e(f.type ?? '-'),
          e(f.count),
        ])
      : [['none', '', '']],
    '',
    'failures',
  );
  const body = d.recurring
    ? recurringSection(d.recurring, view)
    : `${tileCards(s)}${actions}<h2>Failures by type and reason</h2>${failures}`;
  return `<div data-tile-url="/console/deliveries/${e(s.id)}/tile.json">
<p><a href="/console/deliveries">← deliveries</a></p>
<h1>${e(s.label)} <small>#${e(s.id)}</small></h1>
<p class="meta"><span class="state" data-k="state">${e(d.recurring ? 'recurring' : s.state)}</span> · EFS ${s.efs ? 'on' : 'off'} ·
valid until <span data-k="validUntil">${e(s.validUntil ?? 'set at confirmation')}</span> ·
statistics computed <span data-k="statsComputedAt">${e(s.statsComputedAt ?? 'never')}</span></p>
${stopped}${body}</div>${d.recurring ? '' : '<script src="/console/assets/tile.js" defer></script>'}`;
}
