// The shared figures as Prometheus gauges: each scrape fills them from the cached PostgreSQL and Redis reads.
import { Gauge, type GaugeConfiguration, type Registry } from 'prom-client';
import type { DatabaseFigures } from '../../../db/metrics';
import { kpiTile } from '../../../shared/rules/kpi';
import type { CachedRead } from './cache';
import { QUEUE_STATES, type QueueFigures } from './queues';

type SetSample<L extends string> = (labels: Partial<Record<L, string>>, value: number) => void;

/**
 * A gauge filled from a cached read at each scrape. While the read has no value (the first one failed) or
 * `fill` sets nothing (the figure is unknown), the gauge has no sample: prom-client would otherwise print
 * 0 for a gauge without labels, which alerts would read as a real value.
 */
class SnapshotGauge<T, L extends string> extends Gauge<L> {
  constructor(
    config: GaugeConfiguration<L>,
    private readonly source: CachedRead<T>,
    private readonly fill: (set: SetSample<L>, figures: T) => void,
  ) {
    super(config);
  }

  override async get() {
    const figures = await this.source.get();
    this.reset();
    let known = false;
    if (figures !== null)
      this.fill((labels, value) => {
        known = true;
        this.set(labels, value);
      }, figures);
    const metric = await super.get();
    return known ? metric : { ...metric, values: [] };
  }
}

/** The channel of every message today; a label so that SMS or push can join without renaming series. */
const CHANNEL = 'email';

/** Registers every shared gauge on `registry`. */
export function registerSharedGauges(
  registry: Registry,
  database: CachedRead<DatabaseFigures>,
  queues: CachedRead<QueueFigures[]>,
  queueNames: readonly string[],
): void {
  const registers = [registry];
  const db = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    fill: (set: SetSample<L>, f: DatabaseFigures) => void,
  ) => new SnapshotGauge<DatabaseFigures, L>({ name, help, labelNames, registers }, database, fill);

  db('campaign_deliveries', 'Deliveries by state.', ['state'], (set, f) => {
    for (const [state, n] of Object.entries(f.deliveriesByState)) set({ state }, n);
  });
  db(
    'campaign_messages',
    'Messages handed to the MTA, by delivery-log status (pending, sent, failed) and channel.',
    ['status', 'channel'],
    (set, f) => {
      for (const [status, n] of Object.entries(f.messagesByStatus)) set({ status, channel: CHANNEL }, n);
    },
  );

  // The KPI tile of DESIGN.md, per delivery within its validity period (state sending or sent); worked
  // out once per read, not once per gauge.
  const tiles = new WeakMap<DatabaseFigures, { id: string; tile: ReturnType<typeof kpiTile> }[]>();
  const tile = (f: DatabaseFigures) => {
    const known = tiles.get(f);
    if (known) return known;
    const computed = f.running.map((d) => ({
      id: d.id,
      tile: kpiTile(
        {
          toSend: d.toSend,
          sent: d.sent,
          delivered: d.delivered,
          failed: d.failed,
          opens: d.opens,
          clicks: d.clicks,
        },
        d.state === 'sent',
      ),
    }));
    tiles.set(f, computed);
    return computed;
  };
  const perDelivery = (name: string, help: string, value: (t: ReturnType<typeof kpiTile>) => number) =>
    db(name, `${help} Deliveries within their validity period only.`, ['delivery_id'], (set, f) => {
      for (const d of tile(f)) set({ delivery_id: d.id }, value(d.tile));
    });
  perDelivery('campaign_delivery_messages_to_send', 'Recipients after exclusions.', (t) => t.toSend);
  perDelivery('campaign_delivery_messages_sent', 'Messages handed to the MTA (processed).', (t) => t.sent);
  perDelivery('campaign_delivery_progress_ratio', 'Sent over to send.', (t) => t.progress);
  perDelivery('campaign_delivery_delivered_ratio', 'Delivered over sent.', (t) => t.deliveredRate);
  perDelivery(
    'campaign_delivery_bounces_errors_ratio',
    'Bounces + errors over sent.',
    (t) => t.bouncesAndErrorsRate,
  );
  perDelivery('campaign_delivery_open_ratio', 'Unique opens over delivered.', (t) => t.openRate);
  perDelivery('campaign_delivery_click_ratio', 'Unique clicks over delivered.', (t) => t.clickRate);
  db(
    'campaign_delivery_series_omitted',
    'Deliveries within their validity period left without per-delivery series by METRICS_MAX_DELIVERIES.',
    [],
    (set, f) => {
      set({}, Math.max(0, f.runningTotal - f.running.length));
    },
  );

  db('campaign_quarantined_addresses', 'Addresses in quarantine now.', [], (set, f) => {
    set({}, f.quarantined);
  });
  db('campaign_retries_pending', 'Soft-bounced messages waiting for their retry.', [], (set, f) => {
    set({}, f.retriesPending);
  });
  db(
    'campaign_dead_letters',
    'Dead letters not replayed yet, by queue and kind of reason.',
    ['queue', 'reason'],
    (set, f) => {
      // The queue column is written by code, but a label must stay bounded whatever a table holds.
      const counts = new Map<string, number>();
      for (const d of f.deadLetters) {
        const key = `${queueNames.includes(d.queue) ? d.queue : 'other'}\t${d.kind}`;
        counts.set(key, (counts.get(key) ?? 0) + d.count);
      }
      for (const [key, n] of counts) {
        const [queue, reason] = key.split('\t');
        set({ queue, reason }, n);
      }
    },
  );
  db(
    'campaign_kpi_aggregation_last_success_timestamp_seconds',
    'When the hourly KPI aggregation last succeeded (Unix time); no sample while it never has.',
    [],
    (set, f) => {
      // Nothing set while the aggregation never succeeded: no sample rather than a 1970 timestamp.
      if (f.aggregationLastSuccessAt) set({}, f.aggregationLastSuccessAt.getTime() / 1000);
    },
  );

  new SnapshotGauge<QueueFigures[], 'queue' | 'state'>(
    {
      name: 'campaign_queue_jobs',
      help: 'Jobs of each declared queue by state (waiting, active, delayed, failed, completed).',
      labelNames: ['queue', 'state'],
      registers,
    },
    queues,
    (set, figures) => {
      for (const { queue, counts } of figures)
        for (const state of QUEUE_STATES) set({ queue, state }, counts[state]);
    },
  );
}
