// Logging in and out of the console. A login is refused alike for an unknown login and a wrong password; the
// CONSOLE_LOCK_AFTER-th wrong password in a row locks the login (in PostgreSQL, for every replica) for
// CONSOLE_LOCK_DURATION, and each client address has CONSOLE_LOGIN_RATE attempts per 10 minutes (Redis).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { recordAudit } from '../../../db/audit';
import { loginRecord, recordRightPassword, recordWrongPassword } from '../../../db/operators';
import { createSession, endSession } from '../../../db/sessions';
import { verifyPassword } from '../../../shared/password';
import { e, layout, notice } from './html';
import { HTML } from './reply';
import type { ConsoleDeps } from './server';
import { userInfo } from './server';

export const SESSION_COOKIE = 'campaign_session';

/** Only a console path of this origin: never `//elsewhere` nor `https://…`. */
function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/console\/[^/\\]/.test(next) ? next : '/console/deliveries';
}

function loginPage(csrf: string, next: string, message?: string, status = 200) {
  return {
    status,
    html: layout(
      'Log in',
      `<form method="post" action="/console/login" class="login"><h1>Campaign console</h1>${message ? notice(message, 'refusal') : ''}
<input type="hidden" name="_csrf" value="${e(csrf)}"><input type="hidden" name="next" value="${e(next)}">
<label for="login">Login</label><input id="login" name="login" autocomplete="username" required maxlength="64">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024">
<button type="submit">Log in</button></form>`,
    ),
  };
}

async function sendLoginPage(reply: FastifyReply, next: string, message?: string, status = 200) {
  const csrf = await reply.generateCsrf({ userInfo: userInfo(null) });
  const page = loginPage(csrf, next, message, status);
  return reply.code(page.status).type(HTML).send(page.html);
}

export function registerAuthRoutes(app: FastifyInstance, deps: ConsoleDeps): void {
  const { config, sql } = deps;
  const secure = (request: FastifyRequest) => request.protocol === 'https';

  app.get('/console/login', async (request, reply) => {
    const next = safeNext((request.query as { next?: string }).next);
    if (request.operator) return reply.redirect(next);
    return sendLoginPage(reply, next);
  });

  app.post(
    '/console/login',
    {
      // Anonymous: the token of the login form is bound to nobody, and checked before anything else.
      preHandler: app.csrfProtection,
      config: { rateLimit: { max: config.CONSOLE_LOGIN_RATE, timeWindow: 10 * 60_000 } },
    },
    async (request, reply) => {
      const body = (request.body ?? {}) as { login?: unknown; password?: unknown; next?: unknown };
      const login = typeof body.login === 'string' ? body.login.slice(0, 64) : '';
      const password = typeof body.password === 'string' ? body.password : '';
      const next = safeNext(body.next);
      const now = deps.now();
      const record = login ? await loginRecord(sql, login) : null;
      if (record?.lockedUntil && record.lockedUntil > now) {
        await recordAudit(sql, {
          operator: login,
          action: 'login',
          target: null,
          outcome: 'refused',
          detail: { reason: 'locked', address: request.ip },
        });
        return sendLoginPage(
          reply,
          next,
          `This login is locked until ${record.lockedUntil.toISOString()} after ${config.CONSOLE_LOCK_AFTER} wrong passwords; try again then, or set a new password with: campaign operator passwd ${login}`,
          429,
        );
      }
      const right = await verifyPassword(password, record?.passwordHash ?? null);
      if (!right || !record) {
        const locked = record
          ? await recordWrongPassword(
              sql,
              record.id,
              now,
              config.CONSOLE_LOCK_AFTER,
              config.CONSOLE_LOCK_DURATION,
            )
          : null;
        deps.log.info({ address: request.ip, locked: locked !== null }, 'A console login was refused.');
        if (record)
          await recordAudit(sql, {
            operator: login,
            action: 'login',
            target: null,
            outcome: 'refused',
            detail: { reason: locked ? 'wrong password; locked' : 'wrong password', address: request.ip },
          });
        return sendLoginPage(
          reply,
          next,
          locked
            ? `Wrong login or password. This login is now locked until ${locked.toISOString()} after ${config.CONSOLE_LOCK_AFTER} wrong passwords.`
            : 'Wrong login or password.',
          401,
        );
      }
      await recordRightPassword(sql, record.id);
      const token = await createSession(sql, record.id, now, config.CONSOLE_SESSION_TTL);
      await recordAudit(sql, {
        operator: login,
        action: 'login',
        target: null,
        outcome: 'accepted',
        detail: { address: request.ip },
      });
      reply.setCookie(SESSION_COOKIE, token, {
        path: '/console',
        httpOnly: true,
        sameSite: 'strict',
        secure: secure(request),
      });
      return reply.redirect(next, 303);
    },
  );

  app.post('/console/logout', { preHandler: app.csrfProtection }, async (request, reply) => {
    const token = request.cookies[SESSION_COOKIE];
    if (token) await endSession(sql, token);
    if (request.operator)
      await recordAudit(sql, {
        operator: request.operator.login,
        action: 'logout',
        target: null,
        outcome: 'accepted',
      });
    reply.clearCookie(SESSION_COOKIE, { path: '/console' });
    return reply.redirect('/console/login', 303);
  });
}
