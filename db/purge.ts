// Retention: drops whole ranges of the history (logs, feedback and tracking events) of deliveries finished
// before a date, in seconds whatever their size, and deletes those deliveries' recipients (targets) and unique
// opens; each delivery's row and final KPI tile stay.
import type postgres from 'postgres';
import { HISTORY_TABLES, partitionName } from './partitions';

/** Replicas' daily runs and a command line purge take turns under this lock (beside 7_277_010). */
const PURGE_LOCK = 7_277_011;
/** Dropping a partition takes its parent's ACCESS EXCLUSIVE lock: wait this long at most, then stop. */
const LOCK_TIMEOUT = '10s';
/** States after which a delivery writes no more history of its own (a recurring template writes none). */
const FINAL_STATES = ['finished', 'stopped', 'skipped'];

/** Rows of each history table. */
export interface HistoryRows {
  deliveryLogs: number;
  feedbackEvents: number;
  trackingEvents: number;
}

/** Rows of the recipient tables (not partitioned): deleted by delivery, not dropped. */
export interface RecipientRows {
  /** delivery_targets: the addresses and personalization values a delivery was sent to. */
  deliveryTargets: number;
  /** tracking_uniques: which recipients opened or clicked (the tile keeps the counts). */
  trackingUniques: number;
}

/** One range the purge dropped (or, dry, would drop). */
export interface DroppedRange {
  lo: string;
  hi: string;
  partitions: string[];
  /** The partitions' rows, and the targets and unique opens of the range's purged deliveries. */
  rows: HistoryRows & RecipientRows;
  deliveries: string[];
}

/** One range the purge kept, and why. */
export interface KeptRange {
  lo: string;
  hi: string;
  reason: string;
}

/** What `campaign purge` prints (`--json`: this object). */
export interface PurgeReport {
  before: string;
  dryRun: boolean;
  dropped: DroppedRange[];
  kept: KeptRange[];
  /** Rows of purged deliveries found in a default partition (late events), deleted (counted when dry). */
  strayRows: number;
  /**
   * Targets and unique opens still held by deliveries an earlier purge marked (purged by a version that left
   * them, or opens counted from late events since), deleted (counted when dry); not in `totals`.
   */
  earlierPurged: RecipientRows & { deliveries: number };
  totals: HistoryRows & RecipientRows & { partitions: number; deliveries: number };
}

interface Blocker {
  id: string;
  state: string;
  validUntil: Date | null;
  endedAt: Date | null;
}

/** Why a range holding this delivery must stay; null when the delivery does not hold it back. */
function blocking(d: Blocker, before: Date, now: Date): string | null {
  if (d.state === 'recurring') return null;
  if (!FINAL_STATES.includes(d.state)) return `delivery ${d.id} is ${d.state}, not finished`;
  if (d.validUntil && d.validUntil > now)
    return `delivery ${d.id} is within its validity period (until ${d.validUntil.toISOString()})`;
  if (d.endedAt && d.endedAt >= before)
    return `delivery ${d.id} ended ${d.endedAt.toISOString()}, not before ${before.toISOString()}`;
  return null;
}

const zero = (): HistoryRows & RecipientRows => ({
  deliveryLogs: 0,
  feedbackEvents: 0,
  trackingEvents: 0,
  deliveryTargets: 0,
  trackingUniques: 0,
});

/**
 * Drops every range whose deliveries all ended before `before` (finished, stopped or skipped, validity
 * over), marks those deliveries `logs_purged_at`, deletes their few rows outside a range, and deletes their
 * targets and unique opens (and those an earlier purge's deliveries still hold). A range any
 * later delivery may still enter (the newest ones) is kept, as is one holding a delivery still running.
 * With `dryRun`, reports the same and changes nothing. Exactly once across replicas (advisory lock).
 */
export async function purgeHistory(
  sql: postgres.Sql,
  o: { before: Date; now: Date; dryRun: boolean },
): Promise<PurgeReport> {
  return sql.begin((tx) => purgeWithin(tx, o));
}

/** The `pipeline_state` row of the last RETENTION run: the day's run is claimed there, once. */
export const RETENTION_STATE_KEY = 'retention';
/** A replica (or a restart) finding a run this recent does not run again. */
const RETENTION_SPACING_HOURS = 12;

/**
 * The daily RETENTION run: purges what ended more than `retentionMs` before `now`, unless a run (another
 * replica's, or this process's before a restart) claimed the last 12 hours; the claim commits with the purge,
 * so a failed purge leaves the next tick to try again. Null when another run had it.
 */
export async function runRetention(
  sql: postgres.Sql,
  o: { retentionMs: number; now: Date },
): Promise<PurgeReport | null> {
  const before = new Date(o.now.getTime() - o.retentionMs);
  return sql.begin(async (tx) => {
    const [claimed] = await tx`
      insert into pipeline_state (key, value, updated_at)
      values (${RETENTION_STATE_KEY}, ${tx.json({ before: before.toISOString() })}, ${o.now})
      on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at
        where pipeline_state.updated_at <= ${o.now}::timestamptz - make_interval(hours => ${RETENTION_SPACING_HOURS})
      returning key`;
    if (!claimed) return null;
    return purgeWithin(tx, { before, now: o.now, dryRun: false });
  });
}

async function purgeWithin(
  tx: postgres.TransactionSql,
  o: { before: Date; now: Date; dryRun: boolean },
): Promise<PurgeReport> {
  await tx`select pg_advisory_xact_lock(${PURGE_LOCK})`;
  await tx.unsafe(`set local lock_timeout = '${LOCK_TIMEOUT}'`);
  const ranges = await tx`
    select lo, hi from history_partitions where purged_at is null order by lo`;
  const [{ next }] = (await tx`
    select coalesce(max(id), 0) + 1 as next from deliveries`) as unknown as [{ next: string }];
  const report: PurgeReport = {
    before: o.before.toISOString(),
    dryRun: o.dryRun,
    dropped: [],
    kept: [],
    strayRows: 0,
    earlierPurged: { deliveries: 0, deliveryTargets: 0, trackingUniques: 0 },
    totals: { ...zero(), partitions: 0, deliveries: 0 },
  };
  for (const r of ranges) {
    const lo = String(r.lo);
    const hi = String(r.hi);
    if (BigInt(hi) > BigInt(next)) {
      report.kept.push({ lo, hi, reason: `deliveries created from now on (id ${next} and up) go into it` });
      continue;
    }
    const deliveries = (
      await tx`
        select id, state, valid_until, coalesce(finished_at, valid_until, created_at) as ended_at
        from deliveries where id >= ${lo} and id < ${hi} order by id`
    ).map((d) => ({ id: String(d.id), state: d.state, validUntil: d.valid_until, endedAt: d.ended_at }));
    const reasons = deliveries.map((d) => blocking(d, o.before, o.now)).filter((x) => x !== null);
    if (reasons.length > 0) {
      const more = reasons.length > 1 ? ` (and ${reasons.length - 1} more)` : '';
      report.kept.push({ lo, hi, reason: `${reasons[0]}${more}` });
      continue;
    }
    const rows = { ...zero(), ...(await countRows(tx, Number(lo))) };
    const purged = deliveries.filter((d) => d.state !== 'recurring').map((d) => d.id);
    report.dropped.push({
      lo,
      hi,
      partitions: HISTORY_TABLES.map((t) => partitionName(t, Number(lo))),
      rows,
      deliveries: purged,
    });
    if (!o.dryRun) await dropRange(tx, lo, hi, o.now);
  }
  const ids = report.dropped.flatMap((d) => d.deliveries);
  report.strayRows = await strayRows(tx, ids, o.dryRun);
  // Each delivery's recipient rows, counted into its range (or into earlierPurged).
  const rangeOf = new Map(report.dropped.flatMap((d) => d.deliveries.map((id) => [id, d] as const)));
  const earlier = new Set<string>();
  for (const [table, key] of RECIPIENT_TABLES) {
    for (const { id, n } of await recipientRows(tx, table, ids, o.dryRun)) {
      const range = rangeOf.get(id);
      if (range) range.rows[key] += n;
      else {
        report.earlierPurged[key] += n;
        earlier.add(id);
      }
    }
  }
  report.earlierPurged.deliveries = earlier.size;
  for (const d of report.dropped)
    for (const key of Object.keys(d.rows) as (keyof DroppedRange['rows'])[])
      report.totals[key] += d.rows[key];
  report.totals.partitions = report.dropped.length * HISTORY_TABLES.length;
  report.totals.deliveries = ids.length;
  return report;
}

async function countRows(tx: postgres.TransactionSql, lo: number): Promise<HistoryRows> {
  const [row] = await tx.unsafe(`
    select (select count(*) from ${partitionName('delivery_logs', lo)})::bigint as logs,
           (select count(*) from ${partitionName('feedback_events', lo)})::bigint as feedback,
           (select count(*) from ${partitionName('tracking_events', lo)})::bigint as tracking`);
  return {
    deliveryLogs: Number(row!.logs),
    feedbackEvents: Number(row!.feedback),
    trackingEvents: Number(row!.tracking),
  };
}

async function dropRange(tx: postgres.TransactionSql, lo: string, hi: string, now: Date): Promise<void> {
  // A partition dropped is its rows gone at once, with no dead tuples left for vacuum (a DELETE of them
  // would take hours at 100M rows and leave the table as large).
  await tx.unsafe(`drop table ${HISTORY_TABLES.map((t) => partitionName(t, Number(lo))).join(', ')}`);
  await tx`update history_partitions set purged_at = ${now} where lo = ${lo}`;
  await tx`
    update deliveries set logs_purged_at = ${now}
    where id >= ${lo} and id < ${hi} and state <> 'recurring' and logs_purged_at is null`;
}

/**
 * Rows of purged deliveries that a default partition holds (events that came after their range was dropped,
 * or that no range held): counted, and unless dry, deleted — the default partition is small, read whole.
 */
async function strayRows(tx: postgres.TransactionSql, ids: string[], dryRun: boolean): Promise<number> {
  let n = 0;
  for (const t of HISTORY_TABLES) {
    const stray = tx`
      select x.ctid from ${tx(`${t}_default`)} x join deliveries d on d.id = x.delivery_id
      where d.logs_purged_at is not null or d.id = any(${ids}::bigint[])`;
    const [row] = dryRun
      ? await tx`select count(*)::int as n from (${stray}) s`
      : await tx`
          with gone as (delete from ${tx(`${t}_default`)} where ctid in (${stray}) returning 1)
          select count(*)::int as n from gone`;
    n += row!.n as number;
  }
  return n;
}

/** The recipient tables a purge empties of its deliveries, and their key in the report. */
const RECIPIENT_TABLES = [
  ['delivery_targets', 'deliveryTargets'],
  ['tracking_uniques', 'trackingUniques'],
] as const;

/**
 * Rows of `table` by delivery, of the deliveries purged now (`ids`) and of those an earlier purge marked:
 * counted, and unless dry, deleted, in one statement for all. Never a recurring template's (its targets are
 * the audience its executions copy; a template is never marked), never a delivery not purged (so never one
 * within its validity period: the purge only takes ranges whose deliveries all ended).
 */
async function recipientRows(
  tx: postgres.TransactionSql,
  table: (typeof RECIPIENT_TABLES)[number][0],
  ids: string[],
  dryRun: boolean,
): Promise<{ id: string; n: number }[]> {
  const purged = tx`
    select id from deliveries
    where state <> 'recurring' and (id = any(${ids}::bigint[]) or logs_purged_at is not null)`;
  const rows = dryRun
    ? await tx`
        select x.delivery_id as id, count(*)::bigint as n from ${tx(table)} x
        where x.delivery_id in (${purged}) group by x.delivery_id`
    : await tx`
        with gone as (
          delete from ${tx(table)} x where x.delivery_id in (${purged}) returning x.delivery_id
        ) select delivery_id as id, count(*)::bigint as n from gone group by delivery_id`;
  return rows.map((r) => ({ id: String(r.id), n: Number(r.n) }));
}
