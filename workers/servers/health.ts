// The HTTP endpoints every process serves on METRICS_PORT: /healthz, /readyz and /metrics (and the metrics
// role's delivery pages, /deliveries).
import { createServer, type Server } from 'node:http';
import type postgres from 'postgres';
import type { Registry } from 'prom-client';
import { migrationsApplied } from '../../db/migrate';
import { processRegistry } from '../../shared/metrics';
import type { RedisClient } from '../../shared/redis';
import { guardServer, SERVER_OPTIONS, sendGuarded } from './http-guard';
import type { PageRoutes } from './pages';

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

export async function startHealthServer(
  port: number,
  sources: ReadinessSources,
  registry: MetricsSource,
  /** The pages of the roles that serve some (the metrics role's /deliveries), once they run. */
  pages: () => PageRoutes | undefined = () => undefined,
  /** BIND_ADDRESS; unset, every IPv4 interface as before. */
  host = '0.0.0.0',
): Promise<Server> {
  const ready = readinessProbe(sources);
  const server = createServer(SERVER_OPTIONS, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown, type = 'application/json') =>
      sendGuarded(res, status, type, typeof body === 'string' ? body : JSON.stringify(body));
    if (path === '/healthz') return send(200, { status: 'ok' });
    if (path === '/readyz') {
      ready().then(
        (checks) => send(Object.values(checks).every((v) => v === 'ok') ? 200 : 503, checks),
        (error: Error) => send(503, { error: error.message }),
      );
      return;
    }
    if (path === '/metrics') {
      exposition(registry).then(
        (text) => send(200, text, processRegistry.contentType),
        (error: Error) => send(500, `# metrics failed: ${error.message}\n`, 'text/plain'),
      );
      return;
    }
    if (pages()?.(path ?? '/', send)) return;
    // The list names every path this process serves: /deliveries only where the metrics role runs.
    const paths = pages() ? '/healthz, /readyz, /metrics or /deliveries' : '/healthz, /readyz or /metrics';
    send(404, { error: `not found; try ${paths}` });
  });
  guardServer(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
