// The delivery pages' HTML, rendered on the server: every value from the database goes through `escapeHtml`.
import type { DeliveryListItem, FailureCount } from '../../../db/delivery-page';
import type { DeliveryStatus } from '../../../db/delivery-status';
import type { RecurringStatus } from '../../../db/recurring-status';
import { count } from '../../../shared/plural';

export function escapeHtml(value: unknown): string {
  return String(value).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

const pct = (fraction: number) => `${(fraction * 100).toFixed(2)} %`;

const STYLE = `
body{font:15px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2433;background:#f4f6fa}
a{color:#2456c7}h1{font-size:1.4rem;margin:0 0 .3rem}.meta{color:#5b6577;margin-bottom:1rem}
table{border-collapse:collapse;background:#fff}td,th{padding:.4rem .8rem;border-bottom:1px solid #e3e7ee;text-align:left}
.bar{background:#e3e7ee;border-radius:4px;height:10px;width:160px;overflow:hidden;display:inline-block;vertical-align:middle}
.bar>div{background:#2e9b5f;height:100%}.wide{width:100%;height:14px;margin:.3rem 0 1rem}
.tiles{display:grid;grid-template-columns:repeat(3,minmax(170px,1fr));gap:.8rem;max-width:760px;margin-bottom:1rem}
.tile{background:#fff;border-radius:8px;padding:.8rem 1rem;box-shadow:0 1px 2px #0001}
.tile b{display:block;font-size:1.6rem}.tile span{color:#5b6577}.state{font-weight:600}
button{font:inherit;padding:.4rem .9rem;border-radius:6px;border:1px solid #2456c7;background:#fff;color:#2456c7;cursor:pointer}
code{background:#e9edf5;padding:.1rem .3rem;border-radius:4px}.card{max-width:760px}`;

function page(title: string, body: string, head = ''): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>${head}<style>${STYLE}</style></head><body>${body}</body></html>`;
}

const bar = (fraction: number, extra = '') =>
  `<div class="bar${extra}"><div style="width:${Math.round(Math.min(1, fraction) * 100)}%"></div></div>`;

export function listPage(items: DeliveryListItem[]): string {
  const rows = items
    .map(
      (d) =>
        `<tr><td><a href="/deliveries/${escapeHtml(d.id)}">${escapeHtml(d.id)}</a></td><td>${escapeHtml(d.label)}</td>` +
        `<td class="state">${escapeHtml(d.state)}</td><td>${d.efs ? 'on' : 'off'}</td>` +
        `<td>${bar(d.progress)} ${escapeHtml(d.sent)} / ${escapeHtml(d.toSend)}</td></tr>`,
    )
    .join('');
  const table = items.length
    ? `<table><tr><th>id</th><th>label</th><th>state</th><th>EFS</th><th>progress</th></tr>${rows}</table>`
    : '<p>No delivery yet: <code>npx campaign delivery create …</code></p>';
  // The list is short and changes slowly: a reload every 5 s is all the liveliness it needs.
  return page(
    'Deliveries',
    `<h1>Deliveries</h1><p class="meta">newest first</p>${table}`,
    '<meta http-equiv="refresh" content="5">',
  );
}

function failureRows(failures: FailureCount[]): string {
  if (failures.length === 0) return '<tr><td colspan="3">none</td></tr>';
  return failures
    .map(
      (f) =>
        `<tr><td>${escapeHtml(f.reason ?? 'not defined')}</td><td>${escapeHtml(f.type ?? '-')}</td><td>${escapeHtml(f.count)}</td></tr>`,
    )
    .join('');
}

const tile = (key: string, label: string, value: string, sub = '') =>
  `<div class="tile"><span>${label}</span><b data-k="${key}">${escapeHtml(value)}</b><span data-k="${key}Sub">${escapeHtml(sub)}</span></div>`;

/** A recurring delivery's schedule, pause state and executions (it sends nothing itself: no tile). */
function recurringBody(r: RecurringStatus): string {
  const s = r.recurrence;
  const executions = r.executions.length
    ? r.executions
        .map(
          (x) =>
            `<tr><td>${escapeHtml(x.occurrenceAt)}</td><td>${x.id ? `<a href="/deliveries/${escapeHtml(x.id)}">${escapeHtml(x.id)}</a>` : '-'}</td>` +
            `<td class="state">${escapeHtml(x.state)}</td><td>${escapeHtml(x.reason ?? '')}</td><td>${escapeHtml(x.sent)}</td><td>${pct(x.deliveredRate)}</td></tr>`,
        )
        .join('')
    : '<tr><td colspan="6">no execution yet</td></tr>';
  return `<h2>Schedule</h2><table id="schedule"><tr><th>cron</th><td><code>${escapeHtml(s.cron)}</code> (${escapeHtml(s.timezone)})</td></tr>
<tr><th>state</th><td data-k="paused">${s.paused ? 'paused' : 'running'}</td></tr>
<tr><th>next occurrence</th><td>${escapeHtml(r.nextOccurrence ?? 'none')}</td></tr>
<tr><th>until</th><td>${escapeHtml(s.until ?? 'no end')}</td></tr><tr><th>aggregate</th><td>${escapeHtml(s.aggregate)}</td></tr>
<tr><th>confirm each</th><td>${s.confirmEach ? 'yes: each execution waits for a confirm' : 'no'}</td></tr>
<tr><th>recipients</th><td>${escapeHtml(r.recipients)}</td></tr></table>
<h2>Executions</h2><table><thead><tr><th>occurrence</th><th>delivery</th><th>state</th><th>reason</th><th>sent</th><th>delivered</th></tr></thead><tbody id="executions">${executions}</tbody></table>`;
}

/** The page of a recurring delivery: its schedule and executions, no tile (its executions have theirs). */
function recurringPage(s: DeliveryStatus, r: RecurringStatus): string {
  return page(
    `Delivery ${s.id}`,
    `<div class="card"><p><a href="/deliveries">← deliveries</a></p><h1>${escapeHtml(s.label)} <small>#${escapeHtml(s.id)}</small></h1>
<p class="meta"><span class="state" data-k="state">recurring</span> · EFS ${s.efs ? 'on' : 'off'}</p>${recurringBody(r)}</div>`,
  );
}

/** The tile of one delivery; the script below refreshes it from `/deliveries/ID.json` every 2 seconds. */
export function tilePage(
  s: DeliveryStatus,
  failures: FailureCount[],
  recurring: RecurringStatus | null = null,
): string {
  if (recurring) return recurringPage(s, recurring);
  const reason = s.stateReason
    ? `<p class="meta" id="state-reason"><b>${escapeHtml(s.state)}</b>: ${escapeHtml(s.stateReason)}</p>`
    : '';
  const body = `<div class="card">
<p><a href="/deliveries">← deliveries</a></p>
<h1>${escapeHtml(s.label)} <small>#${escapeHtml(s.id)}</small></h1>
<p class="meta"><span class="state" data-k="state">${escapeHtml(s.state)}</span> · EFS ${s.efs ? 'on' : 'off'} ·
valid until <span data-k="validUntil">${escapeHtml(s.validUntil ?? 'set at confirmation')}</span> ·
statistics computed <span data-k="statsComputedAt">${escapeHtml(s.statsComputedAt ?? 'never')}</span></p>${reason}
<div id="progress">progress <span data-k="progress">${Math.round(s.progress * 100)} %</span>${bar(s.progress, ' wide')}</div>
<div class="tiles">
${tile('toSend', 'to send', String(s.toSend))}
${tile('sent', 'sent', String(s.sent))}
${tile('deliveredRate', 'delivered', pct(s.deliveredRate), count(s.delivered, 'message'))}
${tile('bouncesAndErrorsRate', 'bounces + errors', pct(s.bouncesAndErrorsRate), count(s.bouncesAndErrors, 'message'))}
${tile('openRate', 'opens', pct(s.openRate), count(s.opens, 'recipient'))}
${tile('clickRate', 'clicks', pct(s.clickRate), count(s.clicks, 'recipient'))}
${tile('complaintRate', 'complaints', pct(s.complaintRate), count(s.complaints, 'message'))}
</div>
<h2>Failures by reason</h2>
<table><thead><tr><th>reason</th><th>type</th><th>messages</th></tr></thead><tbody id="failures">${failureRows(failures)}</tbody></table>
<p><button id="compute">Compute statistics</button></p>
<p id="howto" hidden>This page is read-only: it has no login, so it cannot check that you hold a role. Recount the
figures from the operator console (<code>/console/deliveries/${escapeHtml(s.id)}</code> on its own port, 9466 by default), or from a shell
that reaches the pipeline's database and Redis: <code>npx campaign compute-stats ${escapeHtml(s.id)} --wait</code></p>
</div>
<script>${SCRIPT.replace('ID_JSON', JSON.stringify(`/deliveries/${s.id}.json`))}</script>`;
  return page(`Delivery ${s.id}`, body);
}

// The live refresh: textContent only (never innerHTML), so nothing from the database can become markup.
const SCRIPT = `
const pct = (x) => (x * 100).toFixed(2) + ' %';
const count = (n, one) => n + ' ' + (n === 1 ? one : one + 's');
const set = (k, v) => document.querySelectorAll('[data-k="' + k + '"]').forEach((e) => { e.textContent = v; });
document.getElementById('compute').onclick = () => { document.getElementById('howto').hidden = false; };
async function refresh() {
  const r = await fetch(ID_JSON, { cache: 'no-store' });
  if (!r.ok) return;
  const { status: s, failures } = await r.json();
  set('state', s.state); set('validUntil', s.validUntil ?? 'set at confirmation');
  set('statsComputedAt', s.statsComputedAt ?? 'never'); set('progress', Math.round(s.progress * 100) + ' %');
  document.querySelector('#progress .bar > div').style.width = Math.round(Math.min(1, s.progress) * 100) + '%';
  set('toSend', String(s.toSend)); set('sent', String(s.sent));
  set('deliveredRate', pct(s.deliveredRate)); set('deliveredRateSub', count(s.delivered, 'message'));
  set('bouncesAndErrorsRate', pct(s.bouncesAndErrorsRate)); set('bouncesAndErrorsRateSub', count(s.bouncesAndErrors, 'message'));
  set('openRate', pct(s.openRate)); set('openRateSub', count(s.opens, 'recipient'));
  set('clickRate', pct(s.clickRate)); set('clickRateSub', count(s.clicks, 'recipient'));
  set('complaintRate', pct(s.complaintRate)); set('complaintRateSub', count(s.complaints, 'message'));
  const body = document.getElementById('failures');
  const rows = failures.length ? failures.map((f) => [f.reason ?? 'not defined', f.type ?? '-', String(f.count)]) : [['none']];
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement('tr');
    for (const c of cells) { const td = document.createElement('td'); td.textContent = c; if (cells.length === 1) td.colSpan = 3; tr.append(td); }
    return tr;
  }));
}
setInterval(() => refresh().catch(() => {}), 2000);`;
