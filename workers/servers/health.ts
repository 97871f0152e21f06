// The HTTP endpoints every process serves on METRICS_PORT: /healthz, /readyz and /metrics (and the metrics
// role's delivery pages, /deliveries).
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type postgres from 'postgres';
import type { Registry } from 'prom-client';
import { migrationsApplied } from '../../db/migrate';
import type { Logger } from '../../shared/logger';
import { processRegistry } from '../../shared/metrics';
import type { RedisClient } from '../../shared/redis';
import { apiSecurityHeaders, buildHttpServer, HttpError, handleErrors, sendJson } from './http-server';
import type { PageRoutes } from './pages';

/** The metrics port's server: where it listens, and its graceful close. */
export interface HealthServer {
  port(): number;
  close(): Promise<void>;
}

/** Bodies are never read on this port: any method of a path answers as a GET, whatever it sends. */
function ignoreBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => {
    payload.resume();
    done(null, undefined);
  });
}

/** What /readyz looks at; `sql` is null until the database is created and migrated. */
export interface ReadinessSources {
  sql: () => postgres.Sql | null;
  redis: RedisClient;
  expectedMigrations: number;
  /** What stands in the way while `sql` is null: PostgreSQL unreachable, or the migrations still running. */
  databaseState?: () => string;
  /** The roles' own checks (the bounce mailbox: listening, or closing on shutdown). */
  roles?: () => Record<string, string>;
}

/** Readiness is checked live but at most once a second, so a scrape storm does not hit the databases. */
function readinessProbe(sources: ReadinessSources) {
  let cached: { at: number; result: Record<string, string> } | null = null;
  return async (): Promise<Record<string, string>> => {
    if (cached && Date.now() - cached.at < 1000) return cached.result;
    const sql = sources.sql();
    const [postgresState, redisState] = await Promise.all([
      sql
        ? sql`select 1`
            .then(() => migrationsApplied(sql, sources.expectedMigrations))
            .then((ok) => (ok ? 'ok' : 'migrations pending'))
            .catch((e: Error) => `unreachable (${(e as { code?: string }).code ?? e.message})`)
        : Promise.resolve(sources.databaseState?.() ?? 'not migrated yet'),
      sources.redis.status === 'ready'
        ? sources.redis
            .ping()
            .then(() => 'ok')
            .catch((e: Error) => `unreachable (${e.message})`)
        : Promise.resolve(`unreachable (${sources.redis.status})`),
    ]);
    const roles = sources.roles?.() ?? {};
    cached = { at: Date.now(), result: { postgres: postgresState, redis: redisState, ...roles } };
    return cached.result;
  };
}

export function createRegistry(): Registry {
  return processRegistry;
}

/** What /metrics serves: one registry, or the registries of the moment (the process's, its roles'). */
export type MetricsSource = Registry | (() => readonly Registry[]);

/** The exposition of every registry, one after the other (their metric names never overlap). */
async function exposition(source: MetricsSource): Promise<string> {
  const registries = typeof source === 'function' ? source() : [source];
  const texts = await Promise.all(registries.map((r) => r.metrics()));
  return texts.join('\n');
}

/** What the metrics port serves, and where. */
export interface HealthServerOptions {
  port: number;
  /** BIND_ADDRESS; unset, every IPv4 interface as before. */
  host?: string;
  readiness: ReadinessSources;
  metrics: MetricsSource;
  /** The pages of the roles that serve some (the metrics role's /deliveries), once they run. */
  pages?: () => PageRoutes | undefined;
  log: Logger;
}

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { readiness: sources, metrics: registry, log } = options;
  const pages = options.pages ?? (() => undefined);
  const ready = readinessProbe(sources);
  // Nothing here reads a body: the limit only matters to fastify's accounting, never reached.
  const json = (reply: FastifyReply, status: number, body: unknown) => sendJson(reply, status, body);
  // The list names every path this process serves: /deliveries only where the metrics role runs.
  const notFound = () =>
    `not found; try ${pages() ? '/healthz, /readyz, /metrics or /deliveries' : '/healthz, /readyz or /metrics'}`;
  const app = buildHttpServer({
    bodyLimit: 1024 * 1024,
    headers: apiSecurityHeaders,
    badUrl: (_request, reply) => json(reply, 404, { error: notFound() }),
  });
  ignoreBodies(app);
  handleErrors(app, {
    log,
    unexpected: {
      status: 500,
      message: 'the metrics port could not answer',
      log: 'A metrics-port request failed.',
    },
    send: (reply, status, error, details) => json(reply, status, { error, ...details }),
  });
  // Every method, as GET: probes and scrapers send what they send.
  const method = [...app.supportedMethods];
  app.route({ method, url: '/healthz', handler: (_request, reply) => json(reply, 200, { status: 'ok' }) });
  app.route({
    method,
    url: '/readyz',
    handler: (_request, reply) =>
      ready().then(
        (checks) => json(reply, Object.values(checks).every((v) => v === 'ok') ? 200 : 503, checks),
        (error: Error) => json(reply, 503, { error: error.message }),
      ),
  });
  app.route({
    method,
    url: '/metrics',
    handler: (_request, reply) =>
      exposition(registry).then(
        (text) => reply.type(processRegistry.contentType).send(text),
        (error: Error) => reply.code(500).type('text/plain').send(`# metrics failed: ${error.message}\n`),
      ),
  });
  for (const url of ['/deliveries', '/deliveries/', '/deliveries/:page'])
    app.route({
      method,
      url,
      handler: (request, reply) => {
        const served = pages()?.(request.url.split('?')[0]!, reply);
        return served ?? reply.callNotFound();
      },
    });
  app.setNotFoundHandler(async () => {
    throw new HttpError(404, notFound());
  });
  await app.listen({ port: options.port, host: options.host ?? '0.0.0.0' });
  return {
    port: () => (app.server.address() as AddressInfo).port,
    // Requests under way are answered first (a scrape, a page); new ones on open connections get a 503.
    close: () => app.close(),
  };
}
