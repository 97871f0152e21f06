// The console's delivery screens: the list, a delivery's dashboard (tile, failures, actions; a recurring
// delivery's schedule and executions), its sending logs, Confirm send → OK and Compute statistics.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { recordAudit } from '../../../db/audit';
import { confirmRefusal } from '../../../db/confirm';
import { failuresByReason, findDeliveries } from '../../../db/delivery-page';
import { deliveryStatus } from '../../../db/delivery-status';
import { logPage } from '../../../db/log-page';
import { recurringStatus } from '../../../db/recurring-status';
import { deliveryState } from '../../../db/schema';
import { enqueue } from '../../../shared/enqueue';
import { computeStatsQueue, confirmQueue } from '../../../shared/queues';
import { LOG_STATUSES } from '../../../shared/rules/log-values';
import { READ_ADDRESSES_ROLE, roleRefusal, START_ROLE } from '../../../shared/rules/roles';
import { e, notice, postForm, select, table, type View } from './html';
import { refuseAction, sendPage } from './reply';
import type { ConsoleDeps } from './server';
import { viewOf } from './server';
import { type Dashboard, dashboardBody } from './tile';

const ID = '(^\\d{1,18}$)';
const LOGS_PER_PAGE = 50;

type IdParams = { id: string };

/** How long the failures by reason of a delivery are reused: every open dashboard polls every 2 s. */
const FAILURES_TTL_MS = 5_000;

/**
 * The failures by reason, read at most once per FAILURES_TTL_MS per delivery (and once for concurrent asks): that
 * read scans the delivery's logs (a million rows: ~100 ms), while the KPI tile beside it is one row.
 */
function failuresReader(deps: ConsoleDeps) {
  const cache = new Map<string, { at: number; value: ReturnType<typeof failuresByReason> }>();
  return (id: string) => {
    const now = Date.now();
    const hit = cache.get(id);
    if (hit && now - hit.at < FAILURES_TTL_MS) return hit.value;
    if (cache.size > 1000) cache.clear();
    const value = failuresByReason(deps.sql, id);
    cache.set(id, { at: now, value });
    value.catch(() => cache.delete(id));
    return value;
  };
}

function listBody(
  items: Awaited<ReturnType<typeof findDeliveries>>,
  q: { state?: string; label?: string },
): string {
  const filters = `<form method="get" action="/console/deliveries" class="filters">
<label>state ${select('state', deliveryState.enumValues, q.state)}</label>
<label>label <input name="label" value="${e(q.label ?? '')}" maxlength="200"></label><button type="submit" class="secondary">Filter</button></form>`;
  const rows = items.map((d) => [
    `<a href="/console/deliveries/${e(d.id)}">${e(d.id)}</a>`,
    e(d.label),
    `<span class="state">${e(d.state)}</span>`,
    d.efs ? 'on' : 'off',
    `<progress max="1" value="${d.progress}"></progress> ${e(d.sent)} / ${e(d.toSend)}`,
  ]);
  return `<h1>Deliveries</h1>${filters}${table(['id', 'label', 'state', 'EFS', 'progress'], rows, 'No delivery matches.', 'deliveries')}`;
}

/** Everything the dashboard shows; null for an unknown id. */
async function dashboard(
  deps: ConsoleDeps,
  id: string,
  failures: (id: string) => ReturnType<typeof failuresByReason>,
): Promise<Dashboard | null> {
  const [status, failureCounts, recurring] = await Promise.all([
    deliveryStatus(deps.sql, id),
    failures(id),
    recurringStatus(deps.sql, id),
  ]);
  return status ? { status, failures: failureCounts, recurring } : null;
}

function logsBody(
  id: string,
  rows: Awaited<ReturnType<typeof logPage>>,
  q: { status?: string; reason?: string; after?: number },
  reasons: string[],
  view: View,
): string {
  const addresses = view.operator.roles.includes(READ_ADDRESSES_ROLE);
  const filters = `<form method="get" action="/console/deliveries/${e(id)}/logs" class="filters">
<label>status ${select('status', [...LOG_STATUSES], q.status)}</label>
<label>reason ${select('reason', reasons, q.reason)}</label><button type="submit" class="secondary">Filter</button></form>`;
  const cells = rows.map((r) => [
    e(r.seq),
    addresses ? e(r.email) : '<span class="hidden">hidden</span>',
    e(r.status),
    e(r.failureType ?? ''),
    e(r.failureReason ?? ''),
    e(r.attempts),
    e(r.handedOffAt ?? ''),
  ]);
  const more =
    rows.length === LOGS_PER_PAGE
      ? `<p><a id="next-page" href="/console/deliveries/${e(id)}/logs?${new URLSearchParams({
          ...(q.status ? { status: q.status } : {}),
          ...(q.reason ? { reason: q.reason } : {}),
          after: String(rows[rows.length - 1]!.seq),
        }).toString()}">next ${LOGS_PER_PAGE} →</a></p>`
      : '';
  const hidden = addresses ? '' : notice(`Addresses are hidden: they need the role ${READ_ADDRESSES_ROLE}.`);
  return `<p><a href="/console/deliveries/${e(id)}">← delivery ${e(id)}</a></p><h1>Sending logs of delivery ${e(id)}</h1>${hidden}${filters}${table(
    ['#', 'address', 'status', 'failure type', 'reason', 'attempts', 'handed to the MTA'],
    cells,
    'No log line matches.',
    'logs',
  )}${more}`;
}

/** The notice after an action (by its kind and job id only: a link cannot make the console say anything else). */
function flash(id: string, query: unknown): string {
  const q = query as { confirmed?: string; computing?: string };
  const job = (v: string | undefined) => (v && /^[\w:.-]{1,100}$/.test(v) ? v : null);
  const confirmed = job(q.confirmed);
  if (confirmed) return notice(`Confirm of delivery ${id} queued (job ${confirmed}).`);
  const computing = job(q.computing);
  if (computing)
    return notice(
      `Statistics of delivery ${id} are being computed (job ${computing}); "statistics computed" changes once they are.`,
    );
  return '';
}

/** Why the logged-in operator may not confirm this delivery now (the worker's own sentence), or null. */
async function refusalToConfirm(deps: ConsoleDeps, request: FastifyRequest, id: string) {
  const operator = request.operator!;
  return (
    roleRefusal(operator.roles, START_ROLE) ??
    (await confirmRefusal(deps.sql, id, operator.login, deps.now()))
  );
}

export function registerDeliveryRoutes(app: FastifyInstance, deps: ConsoleDeps): void {
  const { sql } = deps;
  const failures = failuresReader(deps);

  app.get('/console/deliveries', async (request, reply) => {
    const q = request.query as { state?: string; label?: string };
    const state = deliveryState.enumValues.includes(q.state as never) ? q.state : undefined;
    const label = q.label?.slice(0, 200) || undefined;
    const items = await findDeliveries(sql, { state, label });
    return sendPage(reply, 'Deliveries', listBody(items, { state, label }), await viewOf(request, reply));
  });

  app.get<{ Params: IdParams }>(`/console/deliveries/:id${ID}`, async (request, reply) => {
    const { id } = request.params;
    const view = await viewOf(request, reply);
    const d = await dashboard(deps, id, failures);
    if (!d) return sendPage(reply, 'Not found', notice(`Delivery ${id} not found.`, 'refusal'), view, 404);
    return sendPage(reply, `Delivery ${id}`, flash(id, request.query) + dashboardBody(d, view), view);
  });

  app.get<{ Params: IdParams }>(`/console/deliveries/:id${ID}/tile.json`, async (request, reply) => {
    const { id } = request.params;
    const [status, counts] = await Promise.all([deliveryStatus(sql, id), failures(id)]);
    if (!status) return reply.code(404).send({ error: `delivery ${id} not found` });
    return reply.send({ status, failures: counts });
  });

  app.get<{ Params: IdParams }>(`/console/deliveries/:id${ID}/logs`, async (request, reply) => {
    const { id } = request.params;
    const q = request.query as { status?: string; reason?: string; after?: string };
    const status = LOG_STATUSES.includes(q.status as never) ? q.status : undefined;
    const reasons = [...new Set((await failures(id)).map((f) => f.reason ?? 'not defined'))].sort();
    const reason = q.reason && reasons.includes(q.reason) ? q.reason : undefined;
    const after = /^\d{1,9}$/.test(q.after ?? '') ? Number(q.after) : undefined;
    const rows = await logPage(sql, id, { status, reason, after, limit: LOGS_PER_PAGE });
    const view = await viewOf(request, reply);
    return sendPage(
      reply,
      `Logs of ${id}`,
      logsBody(id, rows, { status, reason, after }, reasons, view),
      view,
    );
  });

  // Confirm send → OK: the first button leads here; OK posts the confirm.
  app.get<{ Params: IdParams }>(`/console/deliveries/:id${ID}/confirm`, async (request, reply) => {
    const { id } = request.params;
    const view = await viewOf(request, reply);
    const status = await deliveryStatus(sql, id);
    if (!status)
      return sendPage(reply, 'Not found', notice(`Delivery ${id} not found.`, 'refusal'), view, 404);
    const refusal = await refusalToConfirm(deps, request, id);
    const back = `<a href="/console/deliveries/${e(id)}">Cancel</a>`;
    if (refusal)
      return sendPage(reply, 'Confirm send', `${notice(refusal, 'refusal')}<p>${back}</p>`, view, 403);
    const body = `<h1>Confirm send</h1><p>Send delivery <b>${e(status.label)}</b> #${e(id)}: <b>${e(status.toSend)}</b> messages${status.efs ? ' (EFS on)' : ''}? Sending starts at once, or at its contact date.</p>
<p class="actions">${postForm(view.csrf, `/console/deliveries/${id}/confirm`, 'OK', {}, 'ok-form')}${back}</p>`;
    return sendPage(reply, 'Confirm send', body, view);
  });

  app.post<{ Params: IdParams }>(
    `/console/deliveries/:id${ID}/confirm`,
    { preHandler: app.csrfProtection },
    async (request, reply) => {
      const { id } = request.params;
      const login = request.operator!.login;
      const refusal = await refusalToConfirm(deps, request, id);
      if (refusal)
        return refuseAction(sql, request, reply, {
          action: 'confirm',
          target: id,
          reason: refusal,
          status: 403,
        });
      const job = await enqueue(
        deps.queues.get(confirmQueue.name),
        confirmQueue,
        { deliveryId: id, operator: login },
        { name: 'confirm' },
      );
      await recordAudit(sql, {
        operator: login,
        action: 'confirm',
        target: id,
        outcome: 'accepted',
        detail: { jobId: job.id },
      });
      deps.log.info(
        { deliveryId: id, jobId: job.id, operator: login },
        'A delivery was confirmed from the console.',
      );
      return reply.redirect(`/console/deliveries/${id}?confirmed=${encodeURIComponent(job.id!)}`, 303);
    },
  );

  app.post<{ Params: IdParams }>(
    `/console/deliveries/:id${ID}/compute-stats`,
    { preHandler: app.csrfProtection },
    async (request, reply) => {
      const { id } = request.params;
      const login = request.operator!.login;
      if (!(await deliveryStatus(sql, id)))
        return sendPage(
          reply,
          'Not found',
          notice(`Delivery ${id} not found.`, 'refusal'),
          await viewOf(request, reply),
          404,
        );
      const job = await enqueue(
        deps.queues.get(computeStatsQueue.name),
        computeStatsQueue,
        { deliveryId: id },
        { name: 'compute-stats' },
      );
      await recordAudit(sql, {
        operator: login,
        action: 'compute-stats',
        target: id,
        outcome: 'accepted',
        detail: { jobId: job.id },
      });
      return reply.redirect(`/console/deliveries/${id}?computing=${encodeURIComponent(job.id!)}`, 303);
    },
  );
}
