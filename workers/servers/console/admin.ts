// The console's other screens: the quarantine (release needs a role), the dead letters (replay needs a role), a
// recipient's profile history and the audit. Addresses are shown only to operators with read-addresses.
import type { FastifyInstance } from 'fastify';
import { listAudit, recordAudit } from '../../../db/audit';
import { listDeadLetters } from '../../../db/dead-letters';
import { listQuarantine, releaseAddress } from '../../../db/quarantine';
import { recipientProfile } from '../../../db/recipient-profile';
import { normalizeEmail } from '../../../shared/recipients';
import { quarantineRules } from '../../../shared/rules/quarantine-rules';
import { READ_ADDRESSES_ROLE, RELEASE_ROLE, REPLAY_ROLE, roleRefusal } from '../../../shared/rules/roles';
import { ReplayRefused, replayDeadLetter } from '../replay';
import { e, notice, postForm, table, type View } from './html';
import { refuseAction, sendPage } from './reply';
import type { ConsoleDeps } from './server';
import { viewOf } from './server';

const can = (view: View, role: string) => view.operator.roles.includes(role);
const hiddenAddress = '<span class="hidden">hidden</span>';

export function registerAdminRoutes(app: FastifyInstance, deps: ConsoleDeps): void {
  const { sql } = deps;
  const rules = quarantineRules(deps.config);

  app.get('/console/quarantine', async (request, reply) => {
    const view = await viewOf(request, reply);
    const done =
      (request.query as { released?: string }).released === '1'
        ? notice('Address released from quarantine.')
        : '';
    const entries = await listQuarantine(sql, { limit: 200 }, deps.now().getTime(), rules);
    const addresses = can(view, READ_ADDRESSES_ROLE);
    const releaseRefusal = () =>
      roleRefusal(view.operator.roles, RELEASE_ROLE) ??
      (addresses
        ? null
        : `releasing from this page needs the role ${READ_ADDRESSES_ROLE} too (it shows the address)`);
    const rows = entries.map((q) => {
      const refused = releaseRefusal();
      return [
        addresses ? e(q.email) : hiddenAddress,
        e(q.reason ?? ''),
        e(q.errorCount),
        e(q.quarantinedAt ?? ''),
        e(q.releasesAt ?? ''),
        refused
          ? `<span class="refusal">${e(refused)}</span>`
          : postForm(view.csrf, '/console/quarantine/release', 'Release', { email: q.email }),
      ];
    });
    const body = `<h1>Quarantine</h1>${done}${table(['address', 'reason', 'errors', 'quarantined at', 'releases by itself at', ''], rows, 'No address is in quarantine.', 'quarantine')}`;
    return sendPage(reply, 'Quarantine', body, view);
  });

  app.post('/console/quarantine/release', { preHandler: app.csrfProtection }, async (request, reply) => {
    const login = request.operator!.login;
    const raw = (request.body as { email?: unknown } | undefined)?.email;
    const email = typeof raw === 'string' ? normalizeEmail(raw) : null;
    const refusal =
      roleRefusal(request.operator!.roles, RELEASE_ROLE) ?? (email ? null : 'no valid address was given');
    const target = email ?? null;
    if (refusal)
      return refuseAction(sql, request, reply, { action: 'release', target, reason: refusal, status: 403 });
    const entry = await releaseAddress(sql, email!, deps.now().getTime(), rules);
    if (!entry) {
      const reason = 'this address is not in quarantine';
      return refuseAction(sql, request, reply, { action: 'release', target, reason, status: 409 });
    }
    await recordAudit(sql, {
      operator: login,
      action: 'release',
      target,
      outcome: 'accepted',
      detail: { was: entry.reason },
    });
    return reply.redirect('/console/quarantine?released=1', 303);
  });

  app.get('/console/dead-letters', async (request, reply) => {
    const view = await viewOf(request, reply);
    const q = request.query as { replayed?: string };
    const done = /^\d{1,18}$/.test(q.replayed ?? '') ? notice(`Dead letter ${q.replayed} replayed.`) : '';
    const letters = await listDeadLetters(sql, { limit: 200 });
    const payloads = can(view, READ_ADDRESSES_ROLE);
    const replayRefusal = roleRefusal(view.operator.roles, REPLAY_ROLE);
    const rows = letters.map((l) => [
      e(l.id),
      e(l.createdAt),
      e(l.queue),
      // A reason or a payload may quote an address.
      payloads ? e(l.reason) : hiddenAddress,
      payloads ? `<pre>${e(JSON.stringify(l.payload).slice(0, 400))}</pre>` : hiddenAddress,
      replayRefusal
        ? `<span class="refusal">${e(replayRefusal)}</span>`
        : postForm(view.csrf, `/console/dead-letters/${l.id}/replay`, 'Replay'),
    ]);
    const hidden = payloads
      ? ''
      : notice(`Reasons and payloads are hidden: they may hold addresses (role ${READ_ADDRESSES_ROLE}).`);
    const body = `<h1>Dead letters</h1>${done}${hidden}${table(['id', 'kept at', 'queue', 'reason', 'payload', ''], rows, 'No dead letter waits.', 'dead-letters')}`;
    return sendPage(reply, 'Dead letters', body, view);
  });

  app.post<{ Params: { id: string } }>(
    '/console/dead-letters/:id(^\\d{1,18}$)/replay',
    { preHandler: app.csrfProtection },
    async (request, reply) => {
      const { id } = request.params;
      const login = request.operator!.login;
      const refusal = roleRefusal(request.operator!.roles, REPLAY_ROLE);
      if (refusal)
        return refuseAction(sql, request, reply, {
          action: 'replay',
          target: id,
          reason: refusal,
          status: 403,
        });
      try {
        // The command line's path: a mail or a provider's body is read again; the audit row is written there.
        await replayDeadLetter({ sql, queue: (name) => deps.queues.get(name), now: deps.now }, id, login);
      } catch (error) {
        if (!(error instanceof ReplayRefused)) throw error;
        return refuseAction(sql, request, reply, {
          action: 'replay',
          target: id,
          reason: error.message,
          status: 409,
          audited: true,
        });
      }
      return reply.redirect(`/console/dead-letters?replayed=${id}`, 303);
    },
  );

  app.get('/console/profile', async (request, reply) => {
    const view = await viewOf(request, reply);
    const raw = (request.query as { email?: string }).email;
    const form = `<h1>Recipient profile</h1><form method="get" action="/console/profile" class="filters"><label>address <input name="email" type="email" value="${e(raw ?? '')}" maxlength="320"></label><button type="submit" class="secondary">Show history</button></form>`;
    const refusal = roleRefusal(view.operator.roles, READ_ADDRESSES_ROLE);
    if (refusal) return sendPage(reply, 'Profile', form + notice(refusal, 'refusal'), view, raw ? 403 : 200);
    if (!raw) return sendPage(reply, 'Profile', form, view);
    const email = normalizeEmail(raw);
    if (!email)
      return sendPage(
        reply,
        'Profile',
        form + notice(`"${raw}" is not a valid address.`, 'refusal'),
        view,
        400,
      );
    const p = await recipientProfile(sql, email, deps.now().getTime(), rules);
    const q = p.quarantine;
    const quarantine = q
      ? `<p>Quarantine: ${q.quarantined ? `<b>quarantined</b> since ${e(q.quarantinedAt)} (${e(q.reason ?? 'no reason')})` : 'not quarantined'}; ${e(q.errorCount)} counted errors.</p>`
      : '<p>Quarantine: never.</p>';
    const rows = p.deliveries.map((d) => [
      `<a href="/console/deliveries/${e(d.deliveryId)}">${e(d.deliveryId)}</a>`,
      e(d.label),
      e(d.status),
      e(d.failureType ?? ''),
      e(d.failureReason ?? ''),
      e(d.attempts),
      e(d.handedOffAt),
    ]);
    const body = `${form}<h2>${e(email)}</h2>${quarantine}${table(['delivery', 'label', 'status', 'failure type', 'reason', 'attempts', 'handed to the MTA'], rows, 'No message was sent to this address.', 'profile')}`;
    return sendPage(reply, 'Profile', body, view);
  });

  app.get('/console/audit', async (request, reply) => {
    const view = await viewOf(request, reply);
    const addresses = can(view, READ_ADDRESSES_ROLE);
    const rows = (await listAudit(sql, 200)).map((a) => [
      e(a.at),
      e(a.operator),
      e(a.action),
      a.action === 'release' && !addresses ? hiddenAddress : e(a.target ?? ''),
      e(a.outcome),
      e(
        (a.detail as { reason?: string; jobId?: string } | undefined)?.reason ??
          (a.detail as { jobId?: string } | undefined)?.jobId ??
          '',
      ),
    ]);
    return sendPage(
      reply,
      'Audit',
      `<h1>Audit</h1>${table(['at', 'operator', 'action', 'target', 'outcome', 'reason or job'], rows, 'Nothing was done from the console yet.', 'audit')}`,
      view,
    );
  });

  app.get('/console/whoami.json', async (request, reply) =>
    reply.send({ login: request.operator!.login, roles: request.operator!.roles }),
  );
}
