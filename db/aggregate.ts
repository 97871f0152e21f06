// The open and click aggregation: the hourly incremental run, and "compute statistics" of one delivery.
import type postgres from 'postgres';
import { addKpiDeltas, lockAllKpiStripes, lockKpiRows } from './kpi';

/** Serializes the hourly run and compute-stats: both move the watermark and the unique-open table. */
const AGGREGATION_LOCK = 0x6b7069; // "kpi"

/** The `pipeline_state` row that holds the watermark and the time of the last successful hourly run. */
export const AGGREGATION_STATE_KEY = 'tracking-aggregation';

/** What the watermark row holds. */
export interface AggregationState {
  /** Every transaction of this database below this id had ended when the events before it were counted. */
  xmin: string;
  /** The last hourly run that finished (compute-stats moves the watermark, not this). */
  lastSuccessAt: string | null;
}

/** The opens and clicks one catch-up added, and to how many deliveries. */
export interface CatchUp {
  events: number;
  deliveries: number;
}

async function readState(tx: postgres.TransactionSql): Promise<AggregationState> {
  const [row] = await tx`select value from pipeline_state where key = ${AGGREGATION_STATE_KEY}`;
  return (row?.value as AggregationState | undefined) ?? { xmin: '0', lastSuccessAt: null };
}

async function writeState(tx: postgres.TransactionSql, state: AggregationState): Promise<void> {
  await tx`
    insert into pipeline_state (key, value, updated_at)
    values (${AGGREGATION_STATE_KEY}, ${tx.json(state as unknown as postgres.JSONValue)}, now())
    on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at`;
}

/**
 * Counts the tracking events committed since the watermark into the unique-open table and the KPI
 * counters of the deliveries they touch, set-based. The caller holds the aggregation lock.
 */
async function catchUp(
  tx: postgres.TransactionSql,
  now: Date,
  alsoLock: string | null = null,
): Promise<CatchUp & { state: AggregationState }> {
  const state = await readState(tx);
  const xmin = await watermark(tx);
  const added = await tx`
    with win as (
      select delivery_id, seq, bool_or(type = 'click') as clicked
      from tracking_events where xact >= ${state.xmin}::xid8 and xact < ${xmin}::xid8
      group by delivery_id, seq
    ), opened as (
      insert into tracking_uniques (delivery_id, seq, clicked)
      select delivery_id, seq, clicked from win
      on conflict (delivery_id, seq) do nothing
      returning delivery_id, clicked
    ), clicked as (
      update tracking_uniques u set clicked = true from win w
      where w.clicked and not u.clicked and u.delivery_id = w.delivery_id and u.seq = w.seq
      returning u.delivery_id
    ), moved as (
      select delivery_id, count(*) as opens, count(*) filter (where clicked) as clicks from opened group by 1
      union all
      select delivery_id, 0, count(*) from clicked group by 1
    )
    select delivery_id, sum(opens)::int as opens, sum(clicks)::int as clicks
    from moved group by delivery_id order by delivery_id`;
  const [counted] = await tx`
    select count(*)::int as events from tracking_events
    where xact >= ${state.xmin}::xid8 and xact < ${xmin}::xid8`;
  // Locked in id order, with compute-stats' own row, as every other writer of several of these rows does.
  const locked = new Set(added.map((r) => String(r.delivery_id)));
  if (alsoLock) locked.add(alsoLock);
  await lockKpiRows(tx, [...locked]);
  await addKpiDeltas(
    tx,
    added.map((r) => [String(r.delivery_id), { opens: r.opens as number, clicks: r.clicks as number }]),
    { statsComputedAt: now },
  );
  const next = { ...state, xmin };
  await writeState(tx, next);
  return { events: counted!.events as number, deliveries: added.length, state: next };
}

/**
 * The new watermark: the oldest transaction of this database still running, or, when none is, the
 * next transaction id. Every transaction below it has ended, so its events are all visible now. The
 * cluster-wide snapshot xmin would do too, but any long transaction in another database of the same
 * server would then hold the counting back. The snapshot is read first and the running backends second,
 * so that a transaction missing from the second read had ended already, and its rows are visible.
 */
async function watermark(tx: postgres.TransactionSql): Promise<string> {
  const [current] = await tx`select pg_current_snapshot()::text as snapshot`;
  const [row] = await tx`
    select coalesce(min(x), pg_snapshot_xmax(${current!.snapshot}::pg_snapshot))::text as watermark
    from pg_snapshot_xip(${current!.snapshot}::pg_snapshot) as x
    where x::xid in (
      select backend_xid from pg_stat_activity where datname = current_database() and backend_xid is not null)`;
  return row!.watermark as string;
}

/** What one tick did; `alreadyRan` when another job (or replica) ran this tick before. */
export type TickResult = ({ alreadyRan: false } & CatchUp) | { alreadyRan: true };

/**
 * One tick of the hourly job, exactly once: the tick's row in `aggregation_runs` is inserted in the same
 * transaction as the counts, so a repeat of the tick (another replica, a retried job) finds it and stops.
 */
export async function runAggregationTick(
  sql: postgres.Sql,
  scheduledAt: Date,
  now: () => Date,
): Promise<TickResult> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${AGGREGATION_LOCK})`;
    const [claimed] = await tx`
      insert into aggregation_runs (scheduled_at, started_at) values (${scheduledAt}, ${now()})
      on conflict (scheduled_at) do nothing returning scheduled_at`;
    if (!claimed) return { alreadyRan: true as const };
    const result = await catchUp(tx, now());
    const finishedAt = now();
    await tx`
      update aggregation_runs set finished_at = ${finishedAt}, events = ${result.events},
        deliveries = ${result.deliveries}
      where scheduled_at = ${scheduledAt}`;
    await writeState(tx, { ...result.state, lastSuccessAt: finishedAt.toISOString() });
    return { alreadyRan: false as const, events: result.events, deliveries: result.deliveries };
  });
}

/** The KPI counters compute-stats checks. */
export interface KpiRecount {
  sent: number;
  delivered: number;
  failed: number;
  opens: number;
  clicks: number;
  complaints: number;
}

/** A recount and how far the counters had drifted from it (counter minus recount; 0 expected). */
export interface StatsResult {
  counters: KpiRecount;
  drift: KpiRecount;
  /** Rows of the unique-open table that disagreed with the events and were put right (0 expected). */
  uniquesRepaired: number;
  statsComputedAt: Date;
}

/**
 * Recounts one delivery's KPIs from its logs and tracking events, corrects the counters and the unique
 * table, and returns the drift. Events since the watermark are first counted the way the hourly run
 * counts them, so the comparison is like for like and the rates are fresh at once.
 */
export async function computeDeliveryStats(
  sql: postgres.Sql,
  deliveryId: string,
  now: () => Date,
): Promise<StatsResult | null> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${AGGREGATION_LOCK})`;
    const { state } = await catchUp(tx, now(), deliveryId);
    // The KPI rows first, every stripe: writers that change logs update their stripe last, so the recount
    // below sees their committed work, and the work still in flight adds its own delta after this commit.
    if (!(await lockAllKpiStripes(tx, deliveryId))) return null;
    const [before] = await tx`
      select sent, delivered, failed, opens, clicks, complaints from delivery_kpi_totals
      where delivery_id = ${deliveryId}`;
    if (!before) return null;
    // A purged delivery's logs and events are gone (db/purge.ts): its tile is final and stays as it was.
    const [purged] = await tx`
      select k.stats_computed_at from deliveries d join delivery_kpi_totals k on k.delivery_id = d.id
      where d.id = ${deliveryId} and d.logs_purged_at is not null`;
    if (purged) {
      const counters = before as unknown as KpiRecount;
      const drift = Object.fromEntries(Object.keys(counters).map((k) => [k, 0])) as unknown as KpiRecount;
      return {
        counters: { ...counters },
        drift,
        uniquesRepaired: 0,
        statsComputedAt: purged.stats_computed_at,
      };
    }
    const [logs] = await tx`
      select count(*)::int as sent, (count(*) filter (where status = 'sent'))::int as delivered,
             (count(*) filter (where status = 'failed'))::int as failed
      from delivery_logs where delivery_id = ${deliveryId}`;
    const [complaints] = await tx`
      select count(distinct seq)::int as n from feedback_events
      where delivery_id = ${deliveryId} and type = 'complaint' and outcome = 'applied'`;
    const [uniques] = await tx`
      with expected as (
        select seq, bool_or(type = 'click') as clicked from tracking_events
        where delivery_id = ${deliveryId} and xact < ${state.xmin}::xid8 group by seq
      ), current as (
        select seq, clicked from tracking_uniques where delivery_id = ${deliveryId}
      ), missing as (
        insert into tracking_uniques (delivery_id, seq, clicked)
        select ${deliveryId}, e.seq, e.clicked from expected e left join current c using (seq)
        where c.seq is null returning 1
      ), changed as (
        update tracking_uniques u set clicked = e.clicked from expected e
        where u.delivery_id = ${deliveryId} and u.seq = e.seq and u.clicked <> e.clicked returning 1
      ), extra as (
        delete from tracking_uniques u where u.delivery_id = ${deliveryId}
          and not exists (select 1 from expected e where e.seq = u.seq) returning 1
      )
      select (select count(*) from expected)::int as opens,
             (select count(*) from expected where clicked)::int as clicks,
             (select count(*) from missing)::int + (select count(*) from changed)::int
               + (select count(*) from extra)::int as repaired`;
    const counters: KpiRecount = {
      sent: logs!.sent,
      delivered: logs!.delivered,
      failed: logs!.failed,
      opens: uniques!.opens,
      clicks: uniques!.clicks,
      complaints: complaints!.n,
    };
    const drift = Object.fromEntries(
      Object.entries(counters).map(([k, v]) => [k, (before[k] as number) - v]),
    ) as unknown as KpiRecount;
    const statsComputedAt = now();
    // One statement: the recount on stripe 0 (with the stamp), every other stripe removed (all are locked:
    // a writer waiting on one retries its insert after this commit, and makes the stripe anew).
    await tx`
      with others as (delete from delivery_kpis where delivery_id = ${deliveryId} and stripe <> 0)
      update delivery_kpis set sent = ${counters.sent}, delivered = ${counters.delivered},
        failed = ${counters.failed}, opens = ${counters.opens}, clicks = ${counters.clicks},
        complaints = ${counters.complaints},
        stats_computed_at = ${statsComputedAt}
      where delivery_id = ${deliveryId} and stripe = 0`;
    return { counters, drift, uniquesRepaired: uniques!.repaired as number, statsComputedAt };
  });
}
