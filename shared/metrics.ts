// The process's own metrics: one registry per process, with the counters its workers increment.
// Figures shared by every replica (read from PostgreSQL and Redis) are collected by the metrics role.
import { Counter, collectDefaultMetrics, Registry } from 'prom-client';

/** Everything this process exports on /metrics. */
export const processRegistry = new Registry();
collectDefaultMetrics({ register: processRegistry, prefix: 'campaign_' });

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

/** Spam complaints applied: each quarantines its address ("on denylist") and counts in the KPI tile. */
export const complaintsTotal = new Counter({
  name: 'campaign_complaints_total',
  help: 'Spam complaints applied by this process (repeats of an event excluded).',
  registers: [processRegistry],
});
