// `npm run bench -- metrics`: a /metrics scrape of the metrics role over 10,000 deliveries and 10,000,000
// delivery logs: the first scrape (a read of PostgreSQL and Redis), the scrapes served from the cache, and
// the database read alone, each a median and a maximum over repeated runs.

import os from 'node:os';
import pino from 'pino';
import type postgres from 'postgres';
import { readDatabaseFigures } from '../db/metrics';
import { quarantineRules } from '../shared/rules/quarantine-rules';
import { startExporter } from '../workers/servers/metrics';
import { timeFigure } from './limits';
import { openBenchWorld } from './world';

const TOKEN = 'bec0ffee0123';

/** Deliveries of every state, half of them within their validity period, with their logs and counters. */
async function seed(sql: postgres.Sql, deliveries: number, logs: number) {
  const perDelivery = Math.floor(logs / deliveries);
  await sql`
    insert into deliveries (id, label, state, efs, validity_seconds, retry_interval_seconds, sender, subject, token,
      to_send, valid_until, confirmed_at, sending_at, sent_at)
    select g, 'bench ' || g, (array['sent', 'finished', 'sending', 'prepared'])[1 + g % 4]::delivery_state, g % 2 = 0,
      259200, 3600, 'bench@bench.test', 's', ${TOKEN}, ${perDelivery},
      now() + (case when g % 2 = 0 then interval '2 days' else interval '-1 day' end), now(), now(), now()
    from generate_series(1, ${deliveries}::int) g`;
  // In chunks of deliveries, so that no single statement holds 10M rows of WAL.
  for (let first = 1; first <= deliveries; first += 1000) {
    await sql`
      insert into delivery_logs (delivery_id, seq, email, status, attempts, message_id, handed_off_at, updated_at,
        retry_at)
      select d, g, 'u' || g || '-' || d || '@bench.test', (array['sent', 'failed', 'pending'])[1 + g % 3]::log_status,
        1, '1.' || g || '.' || d || '.' || ${TOKEN} || '@bench.test', now(), now(),
        case when g % 50 = 0 then now() + interval '1 hour' end
      from generate_series(${first}::int, ${Math.min(deliveries, first + 999)}::int) d, generate_series(0, ${perDelivery - 1}::int) g`;
  }
  await sql`
    insert into delivery_kpis (delivery_id, sent, delivered, failed, opens, clicks)
    select id, to_send, to_send * 2 / 3, to_send / 3, to_send / 5, to_send / 20 from deliveries`;
  await sql`
    insert into quarantine (email, error_count, quarantined_at, reason)
    select 'q' || g || '@bench.test', 5, now(), 'user unknown' from generate_series(1, 50000) g`;
  await sql`vacuum analyze`;
}

const stats = (ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    medianMs: Math.round(sorted[Math.floor(sorted.length / 2)]! * 10) / 10,
    maxMs: Math.round(sorted[sorted.length - 1]! * 10) / 10,
  };
};

async function time(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

export async function benchMetrics(sizes: number[]): Promise<Record<string, unknown>> {
  const deliveries = sizes[0] ?? 10_000;
  const logs = sizes[1] ?? 10_000_000;
  const world = await openBenchWorld('metrics', {}, { sqlMax: 8 });
  const { sql, config, redis } = world;
  try {
    const seedStarted = performance.now();
    console.log(`seeding ${deliveries} deliveries and ${logs} logs…`);
    await seed(sql, deliveries, logs);
    const seedSeconds = Math.round((performance.now() - seedStarted) / 100) / 10;

    const log = pino({ level: 'warn' }, pino.destination(2));
    const options = {
      now: new Date(),
      maxDeliveries: config.METRICS_MAX_DELIVERIES,
      quarantine: quarantineRules(config),
    };
    const databaseRead: number[] = [];
    for (let i = 0; i < 10; i++) databaseRead.push(await time(() => readDatabaseFigures(sql, options)));

    // A fresh exporter each time: its first scrape finds nothing cached and reads both sources.
    const firstScrape: number[] = [];
    const cachedScrape: number[] = [];
    for (let i = 0; i < 5; i++) {
      const exporter = startExporter({ sql, redis, config, log, now: () => new Date() });
      firstScrape.push(await time(() => exporter.registry.metrics()));
      for (let j = 0; j < 20; j++) cachedScrape.push(await time(() => exporter.registry.metrics()));
      await exporter.close();
    }
    // A first scrape is bounded by the database read it makes; each is the median of its repeats.
    const figures = [
      timeFigure('first /metrics scrape', 'ms', [stats(firstScrape).medianMs], 'databaseReadMs', [
        stats(databaseRead).medianMs,
      ]),
    ];
    const result = {
      figures,
      deliveries,
      logs,
      seedSeconds,
      firstScrape: stats(firstScrape),
      cachedScrape: stats(cachedScrape),
      databaseRead: stats(databaseRead),
      cores: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      node: process.version,
      settings: { maxDeliveries: config.METRICS_MAX_DELIVERIES, cacheTtlMs: config.METRICS_CACHE_TTL },
    };
    console.log(
      `scrape over ${deliveries} deliveries / ${logs} logs: first ${result.firstScrape.medianMs} ms (max ${result.firstScrape.maxMs}), ` +
        `cached ${result.cachedScrape.medianMs} ms (max ${result.cachedScrape.maxMs}), database read ${result.databaseRead.medianMs} ms`,
    );
    return result;
  } finally {
    await world.close();
  }
}
