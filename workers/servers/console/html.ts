// The console's HTML, rendered on the server: every value from the database goes through `escapeHtml`, no page
// carries a script or a style of its own (the CSP allows only /console/assets/), forms carry their CSRF token.
import type { SessionOperator } from '../../../db/sessions';
import { escapeHtml } from '../pages/html';

export { escapeHtml };

/** Attribute-safe text. */
export const e = escapeHtml;

/** What every page of a logged-in operator is rendered with. */
export interface View {
  operator: SessionOperator;
  csrf: string;
}

const NAV: [string, string][] = [
  ['/console/deliveries', 'Deliveries'],
  ['/console/quarantine', 'Quarantine'],
  ['/console/dead-letters', 'Dead letters'],
  ['/console/profile', 'Profiles'],
  ['/console/audit', 'Audit'],
];

/** A POST form with the CSRF token; `fields` are hidden inputs. */
export function postForm(
  csrf: string,
  action: string,
  button: string,
  fields: Record<string, string> = {},
  id?: string,
): string {
  const hidden = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${e(k)}" value="${e(v)}">`)
    .join('');
  return `<form method="post" action="${e(action)}" class="inline"${id ? ` id="${e(id)}"` : ''}><input type="hidden" name="_csrf" value="${e(csrf)}">${hidden}<button type="submit">${e(button)}</button></form>`;
}

export function layout(title: string, body: string, view?: View, extra = ''): string {
  const header = view
    ? `<header><nav>${NAV.map(([href, name]) => `<a href="${href}">${name}</a>`).join('')}</nav>` +
      `<span class="who">${e(view.operator.login)} <small>(${e(view.operator.roles.join(', ') || 'no role')})</small>` +
      (view.operator.sessionId ? postForm(view.csrf, '/console/logout', 'Log out', {}, 'logout') : '') +
      '</span></header>'
    : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${e(title)} · campaign console</title><link rel="stylesheet" href="/console/assets/console.css">${extra}</head><body>${header}<main>${body}</main></body></html>`;
}

/** A page's one-line message: a notice, or a refusal. */
export const notice = (text: string, kind: 'ok' | 'refusal' = 'ok') =>
  `<p class="${kind}" role="${kind === 'ok' ? 'status' : 'alert'}">${e(text)}</p>`;

/** A table, or `empty` when there are no rows; cells are HTML already. */
export function table(head: string[], rows: string[][], empty: string, id?: string): string {
  if (rows.length === 0) return `<p class="empty">${e(empty)}</p>`;
  return `<table${id ? ` id="${e(id)}"` : ''}><thead><tr>${head.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** A select of choices for a GET filter form. */
export function select(name: string, choices: string[], current: string | undefined, any = 'any'): string {
  return `<select name="${e(name)}"><option value="">${e(any)}</option>${choices
    .map((c) => `<option${c === current ? ' selected' : ''}>${e(c)}</option>`)
    .join('')}</select>`;
}
