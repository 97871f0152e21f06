// The operator console on CONSOLE_PORT: fastify with its cookie, CSRF, form-body and rate-limit plugins. Every
// path is under /console; every page but the login needs a session (or a trusted proxy's AUTH_PROXY_HEADER).
import { readFileSync } from 'node:fs';
import { BlockList, isIPv6 } from 'node:net';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type postgres from 'postgres';
import { proxiedOperator, type SessionOperator, sessionOperator } from '../../../db/sessions';
import type { Config } from '../../../shared/config';
import type { Logger } from '../../../shared/logger';
import type { RedisClient } from '../../../shared/redis';
import { buildHttpServer, handleErrors, type SecurityHeaders } from '../http-server';
import { registerAdminRoutes } from './admin';
import { CONSOLE_CSS, TILE_JS } from './assets';
import { registerAuthRoutes, SESSION_COOKIE } from './auth';
import { registerDeliveryRoutes } from './deliveries';
import { layout, notice, type View } from './html';
import type { ConsoleQueues } from './queues';

declare module 'fastify' {
  interface FastifyRequest {
    /** The operator the request acts as; null before login. */
    operator: SessionOperator | null;
  }
}

/** What the console's routes are built from. */
export interface ConsoleDeps {
  config: Config;
  log: Logger;
  sql: postgres.Sql;
  redis: RedisClient;
  queues: ConsoleQueues;
  now: () => Date;
  /** The HMAC key of CSRF tokens, the same in every replica (kept in PostgreSQL). */
  csrfKey: string;
}

/** No script or style but the console's own files, no framing, no form posting elsewhere, nothing sniffed. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Forms are small: a login, an address, a token. */
const BODY_LIMIT = 64 * 1024;

const PAGE_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
};
const NO_STORE_HEADERS = { ...PAGE_HEADERS, 'cache-control': 'no-store' };

/** Every answer: the CSP above and the usual headers; pages are never stored (the assets say their own age). */
const consoleHeaders: SecurityHeaders = (request) =>
  request.url.startsWith('/console/assets/') ? PAGE_HEADERS : NO_STORE_HEADERS;

/** A page for the paths under /console, JSON elsewhere. */
function notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.code(404);
  return request.url.startsWith('/console')
    ? reply.type('text/html; charset=utf-8').send(layout('Not found', notice('No such page.', 'refusal')))
    : reply.send({ error: 'not found; the console is under /console' });
}

/** The addresses of CONSOLE_TRUST_PROXY, or null when no proxy is trusted. */
function trustedProxies(list: readonly string[] | undefined): BlockList | null {
  if (!list) return null;
  const block = new BlockList();
  for (const item of list) {
    const [address, bits] = item.split('/') as [string, string | undefined];
    const type = isIPv6(address) ? 'ipv6' : 'ipv4';
    if (bits === undefined) block.addAddress(address, type);
    else block.addSubnet(address, Number(bits), type);
  }
  return block;
}

const isTrusted = (block: BlockList | null, address: string | undefined) => {
  if (!block || !address) return false;
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  return block.check(plain, isIPv6(plain) ? 'ipv6' : 'ipv4');
};

export async function buildConsole(deps: ConsoleDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const proxies = trustedProxies(config.CONSOLE_TRUST_PROXY);
  const https =
    config.CONSOLE_TLS_CERT && config.CONSOLE_TLS_KEY
      ? { cert: readFileSync(config.CONSOLE_TLS_CERT), key: readFileSync(config.CONSOLE_TLS_KEY) }
      : null;
  const app = buildHttpServer({
    https,
    trustProxy: proxies ? (address: string) => isTrusted(proxies, address) : undefined,
    bodyLimit: BODY_LIMIT,
    headers: consoleHeaders,
    badUrl: (request, reply) => notFound(request, reply),
  });
  // Set before any route or scope: a scope registered earlier would keep fastify's default handler (its JSON),
  // as the logged-in scope did until now for CSRF refusals, too-large forms and database failures.
  handleErrors(app, {
    log: deps.log,
    unexpected: {
      message: 'The console could not answer (the database or Redis did not); try again.',
      log: 'A console page failed.',
    },
    explain: (error) =>
      error.code?.startsWith('FST_CSRF')
        ? 'This form did not come from a console page of this session (missing or wrong CSRF token); reload the page and try again.'
        : error.statusCode === 429
          ? `Too many login attempts from this address; ${error.message.replace(/^Rate limit exceeded, /, '')}.`
          : null,
    send: (reply, status, text) =>
      reply
        .code(status)
        .type('text/html; charset=utf-8')
        .send(layout('Refused', notice(text, 'refusal'))),
  });

  await app.register(fastifyCookie);
  await app.register(fastifyFormbody, { bodyLimit: BODY_LIMIT });
  await app.register(fastifyCsrf, {
    cookieKey: 'campaign_csrf',
    cookieOpts: { path: '/console', httpOnly: true, sameSite: 'strict', secure: 'auto' },
    // A token is bound to the session it was made for: a token from another session (or a cookie tossed in
    // from a sibling origin) does not verify.
    getUserInfo: (req: FastifyRequest) => userInfo(req.operator),
    csrfOpts: { hmacKey: deps.csrfKey },
  });
  await app.register(fastifyRateLimit, {
    global: false,
    redis: deps.redis as never,
    nameSpace: `${config.QUEUE_PREFIX}:console-rate:`,
    // Redis away: the per-login lock in PostgreSQL still stands.
    skipOnError: true,
  });

  app.decorateRequest('operator', null);
  // Who is asking: a session cookie, or (only from a trusted proxy) the proxy's header.
  app.addHook('onRequest', async (request) => {
    const header = config.AUTH_PROXY_HEADER;
    if (header && isTrusted(proxies, request.socket.remoteAddress)) {
      const login = request.headers[header];
      if (typeof login === 'string' && login !== '') {
        request.operator = await proxiedOperator(deps.sql, login);
        return;
      }
    }
    const token = request.cookies[SESSION_COOKIE];
    if (token)
      request.operator = await sessionOperator(deps.sql, token, deps.now(), config.CONSOLE_SESSION_TTL);
  });

  app.get('/console/assets/console.css', (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=300').send(CONSOLE_CSS),
  );
  app.get('/console/assets/tile.js', (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=300').send(TILE_JS),
  );
  app.get('/console', (_req, reply) => reply.redirect('/console/deliveries'));
  app.get('/console/', (_req, reply) => reply.redirect('/console/deliveries'));

  registerAuthRoutes(app, deps);
  // Everything registered in this scope needs an operator.
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (request, reply) => {
      if (request.operator) return;
      if (request.method === 'GET' || request.method === 'HEAD') {
        const next = encodeURIComponent(request.url);
        return reply.redirect(`/console/login?next=${next}`);
      }
      return reply.code(401).type('text/html; charset=utf-8').send(page401());
    });
    registerDeliveryRoutes(scope, deps);
    registerAdminRoutes(scope, deps);
  });

  app.setNotFoundHandler(notFound);
  return app;
}

/** What a CSRF token is bound to: the session, or (proxy logins, the login form) the login or nobody. */
export function userInfo(operator: SessionOperator | null): string {
  return operator?.sessionId ?? (operator ? `proxy:${operator.login}` : 'anonymous');
}

/** The view of a page: the operator and a fresh CSRF token for its forms. */
export async function viewOf(request: FastifyRequest, reply: FastifyReply): Promise<View> {
  const csrf = await reply.generateCsrf({ userInfo: userInfo(request.operator) });
  return { operator: request.operator!, csrf };
}

const page401 = () =>
  layout(
    'Log in',
    `${notice('You are not logged in (or your session ended); nothing was done.', 'refusal')}<p><a href="/console/login">Log in</a></p>`,
  );
