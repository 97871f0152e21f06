// The process's own metrics: one registry per process, with the counters its workers increment.
// Figures shared by every replica (read from PostgreSQL and Redis) are collected by the metrics role
// (workers/metrics/), so that they are exported once however many workers run.
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** Everything this process exports on /metrics. */
export const processRegistry = new Registry();
collectDefaultMetrics({ register: processRegistry, prefix: 'campaign_' });

// prom-client adds three `_total` gauges, a suffix Prometheus keeps for counters (promtool check metrics
// refuses them); each is the sum of a by-type gauge it also exports (`sum(campaign_nodejs_active_handles)`).
for (const name of ['active_handles', 'active_requests', 'active_resources'])
  processRegistry.removeSingleMetric(`campaign_nodejs_${name}_total`);

/** Tracking events by type (open, click, invalid) and outcome (applied, duplicate, unknown, invalid). */
export const trackingEventsTotal = new Counter({
  name: 'campaign_tracking_events_total',
  help: 'Tracking events ingested by this process, by type and outcome.',
  labelNames: ['type', 'outcome'] as const,
  registers: [processRegistry],
});

/** How far "compute statistics" found a delivery's counters from the recount (0 is the expected answer). */
export const kpiDriftTotal = new Counter({
  name: 'campaign_kpi_drift_total',
  help: 'Sum of the absolute differences compute-stats found between the KPI counters and a recount, by counter.',
  labelNames: ['counter'] as const,
  registers: [processRegistry],
});

/** MTA feedback events by type (delivered, hard_bounce, soft_bounce, invalid) and what became of them. */
export const feedbackEventsTotal = new Counter({
  name: 'campaign_feedback_events_total',
  help: 'MTA feedback events handled by this process, by type and outcome (applied, duplicate, stale, unknown, after-finish, invalid).',
  labelNames: ['type', 'outcome'] as const,
  registers: [processRegistry],
});

/** Jobs Redis had lost and the reconciler put back from PostgreSQL, by kind: above 0, Redis lost data. */
export const reconciledJobsTotal = new Counter({
  name: 'campaign_reconciled_jobs_total',
  help: 'Jobs (or job schedulers) missing from Redis that this process re-enqueued from PostgreSQL, by kind.',
  labelNames: ['kind'] as const,
  registers: [processRegistry],
});

/** How long each job took, by queue and how it ended: the throughput and latency of every worker. */
export const jobDurationSeconds = new Histogram({
  name: 'campaign_job_duration_seconds',
  help: 'Time this process spent on each job, by queue and status (completed, failed).',
  labelNames: ['queue', 'status'] as const,
  // From a one-event feedback job (a few ms) to a dispatch batch held up by a slow MTA (minutes).
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  registers: [processRegistry],
});

/** Soft-bounced messages given a new attempt time (by feedback, or by a refusal at a retry's hand-off). */
export const retriesScheduledTotal = new Counter({
  name: 'campaign_retries_scheduled_total',
  help: 'Soft-bounced messages this process scheduled for another attempt within their validity period.',
  registers: [processRegistry],
});

/** Retries handed to the MTA as new attempts. */
export const retriesSentTotal = new Counter({
  name: 'campaign_retries_sent_total',
  help: 'Retry attempts this process handed to the MTA.',
  registers: [processRegistry],
});

/** Messages still waiting for a retry when their delivery's validity period ended: final, never retried. */
export const retriesExpiredTotal = new Counter({
  name: 'campaign_retries_expired_total',
  help: 'Messages whose latest attempt had soft-bounced when the validity period ended (they became final).',
  registers: [processRegistry],
});

/** Spam complaints applied: each quarantines its address ("on denylist") and counts in the KPI tile. */
export const complaintsTotal = new Counter({
  name: 'campaign_complaints_total',
  help: 'Spam complaints applied by this process (repeats of an event excluded).',
  registers: [processRegistry],
});

/**
 * Counts events by type and outcome in a plain map, then adds them to the counter once per pair on
 * `flush`: a job of thousands of events costs one labelled increment per pair, not one per event.
 */
export function eventTally(counter: Counter<'type' | 'outcome'>) {
  const pending = new Map<string, { type: string; outcome: string; n: number }>();
  return {
    add(type: string, outcome: string, n = 1) {
      const key = `${type}\u0000${outcome}`;
      const entry = pending.get(key);
      if (entry) entry.n += n;
      else pending.set(key, { type, outcome, n });
    },
    flush() {
      for (const { type, outcome, n } of pending.values()) counter.inc({ type, outcome }, n);
      pending.clear();
    },
  };
}
