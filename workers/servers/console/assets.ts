// The console's two static files, served from memory under /console/assets/: the style sheet and the script that
// refreshes a delivery's tile. Pages hold no inline script or style, so the CSP can forbid both.

export const CONSOLE_CSS = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2433;background:#f4f6fa}
header{display:flex;justify-content:space-between;align-items:center;background:#1d2433;color:#fff;padding:.5rem 1.5rem}
header nav a{color:#dfe6f5;margin-right:1.2rem;text-decoration:none;font-weight:600}
header .who{color:#dfe6f5}header .who small{color:#9aa6bd}header form{margin-left:.8rem}
main{padding:1.2rem 1.5rem;max-width:1100px}
a{color:#2456c7}h1{font-size:1.4rem;margin:.2rem 0 .3rem}h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
.meta{color:#5b6577;margin-bottom:1rem}
table{border-collapse:collapse;background:#fff;margin-bottom:.6rem}
td,th{padding:.35rem .7rem;border-bottom:1px solid #e3e7ee;text-align:left;vertical-align:top}
progress{width:160px;height:10px;vertical-align:middle;accent-color:#2e9b5f}progress.wide{width:100%;max-width:760px;height:14px;display:block;margin:.3rem 0 1rem}
.tiles{display:grid;grid-template-columns:repeat(4,minmax(150px,1fr));gap:.8rem;max-width:900px;margin-bottom:1rem}
.tile{background:#fff;border-radius:8px;padding:.7rem 1rem;box-shadow:0 1px 2px #0001}
.tile b{display:block;font-size:1.5rem}.tile span{color:#5b6577}.state{font-weight:600}
button{font:inherit;padding:.35rem .9rem;border-radius:6px;border:1px solid #2456c7;background:#2456c7;color:#fff;cursor:pointer}
button.secondary,header button{background:#fff;color:#2456c7}
form.inline{display:inline}form.filters{margin:.4rem 0 .8rem}form.filters *{margin-right:.4rem}
input,select{font:inherit;padding:.3rem .4rem}
.ok{background:#e5f5ec;border-left:4px solid #2e9b5f;padding:.5rem .8rem}
.refusal{background:#fdecec;border-left:4px solid #c0392b;padding:.5rem .8rem}
.empty,.hidden{color:#5b6577;font-style:italic}
.login{max-width:340px;margin:4rem auto;background:#fff;padding:1.5rem;border-radius:8px;box-shadow:0 1px 3px #0002}
.login label{display:block;margin:.6rem 0 .2rem}.login input{width:100%;box-sizing:border-box}.login button{margin-top:1rem;width:100%}
.actions{margin:1rem 0}.actions>*{margin-right:.6rem}
code{background:#e9edf5;padding:.1rem .3rem;border-radius:4px}pre{white-space:pre-wrap;max-width:600px;margin:0}
`;

// textContent only, never innerHTML: nothing from the database can become markup.
export const TILE_JS = `'use strict';
(() => {
  const root = document.querySelector('[data-tile-url]');
  if (!root) return;
  const url = root.getAttribute('data-tile-url');
  const pct = (x) => (x * 100).toFixed(2) + ' %';
  const count = (n, one) => n + ' ' + (n === 1 ? one : one + 's');
  const set = (k, v) => document.querySelectorAll('[data-k="' + k + '"]').forEach((e) => { e.textContent = v; });
  async function refresh() {
    const r = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
    if (!r.ok) return;
    const { status: s, failures } = await r.json();
    set('state', s.state); set('validUntil', s.validUntil ?? 'set at confirmation');
    set('statsComputedAt', s.statsComputedAt ?? 'never'); set('progress', Math.round(s.progress * 100) + ' %');
    const bar = document.getElementById('progress-bar'); if (bar) bar.value = Math.min(1, s.progress);
    set('toSend', String(s.toSend)); set('sent', String(s.sent));
    set('deliveredRate', pct(s.deliveredRate)); set('deliveredRateSub', count(s.delivered, 'message'));
    set('bouncesAndErrorsRate', pct(s.bouncesAndErrorsRate)); set('bouncesAndErrorsRateSub', count(s.bouncesAndErrors, 'message'));
    set('openRate', pct(s.openRate)); set('openRateSub', count(s.opens, 'recipient'));
    set('clickRate', pct(s.clickRate)); set('clickRateSub', count(s.clicks, 'recipient'));
    set('complaintRate', pct(s.complaintRate)); set('complaintRateSub', count(s.complaints, 'message'));
    const confirm = document.getElementById('confirm-actions'); if (confirm && s.state !== 'prepared') confirm.hidden = true;
    const body = document.querySelector('#failures tbody');
    if (body) {
      const rows = failures.length ? failures.map((f) => [f.reason ?? 'not defined', f.type ?? '-', String(f.count)]) : [['none', '', '']];
      body.replaceChildren(...rows.map((cells) => {
        const tr = document.createElement('tr');
        for (const c of cells) { const td = document.createElement('td'); td.textContent = c; tr.append(td); }
        return tr;
      }));
    }
  }
  setInterval(() => refresh().catch(() => {}), 2000);
})();
`;
