// The metrics role: exports the figures every replica shares (PostgreSQL, Redis) from one process.
// Each process's own counters live in shared/metrics.ts and are served by every process.
import { Counter, Gauge, Registry } from 'prom-client';
import { readDatabaseFigures } from '../../../db/metrics';
import type { Config } from '../../../shared/config';
import type { Logger } from '../../../shared/logger';
import { queues } from '../../../shared/queues';
import { quarantineRules } from '../../../shared/rules/quarantine-rules';
import type { RoleDeps } from '../../start/role-kit';
import { cachedRead } from './cache';
import { registerSharedGauges } from './collectors';
import { queueReader } from './queues';

/** How long a scrape waits for a stale figure's new read before serving the previous one. */
const SCRAPE_WAIT_MS = 50;

/** The exporter of the shared figures: its registry (served on /metrics beside the process's) and its end. */
export interface Exporter {
  registry: Registry;
  close(): Promise<void>;
}

function readMetrics(registry: Registry, log: Logger, config: Config) {
  const reads = new Counter({
    name: 'campaign_metrics_reads_total',
    help: 'Reads of the shared figures by the metrics role, by source (postgres, redis) and outcome (ok, error).',
    labelNames: ['source', 'outcome'] as const,
    registers: [registry],
  });
  const duration = new Gauge({
    name: 'campaign_metrics_read_duration_seconds',
    help: 'How long the latest read of the shared figures took, by source.',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  let lastWarning = 0;
  return (source: 'postgres' | 'redis') => ({
    ttlMs: config.METRICS_CACHE_TTL,
    waitMs: SCRAPE_WAIT_MS,
    onRead: (outcome: 'ok' | 'error', seconds: number, error?: Error) => {
      reads.inc({ source, outcome });
      duration.set({ source }, seconds);
      // Every scrape would repeat the same failure: one line a minute is enough to be found.
      if (error && Date.now() - lastWarning > 60_000) {
        lastWarning = Date.now();
        log.warn({ source, err: error.message }, 'Could not read the shared figures; serving the last ones.');
      }
    },
  });
}

export function startExporter(deps: Pick<RoleDeps, 'sql' | 'redis' | 'config' | 'log' | 'now'>): Exporter {
  const registry = new Registry();
  const options = readMetrics(registry, deps.log, deps.config);
  const rules = quarantineRules(deps.config);
  const database = cachedRead(
    () =>
      readDatabaseFigures(deps.sql, {
        now: deps.now(),
        maxDeliveries: deps.config.METRICS_MAX_DELIVERIES,
        quarantine: rules,
      }),
    options('postgres'),
  );
  // Every declared queue, public and internal: a queue added to shared/queues.ts is measured as it lands.
  const reader = queueReader(queues, deps.redis, deps.config.QUEUE_PREFIX);
  const queueCounts = cachedRead(reader.read, options('redis'));
  registerSharedGauges(
    registry,
    database,
    queueCounts,
    queues.map((q) => q.name),
  );
  return { registry, close: async () => void (await reader.close()) };
}
