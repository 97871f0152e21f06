// The history's partitions (delivery_logs, feedback_events, tracking_events by delivery id range, migration
// 0010): made ahead of need, so that a delivery's rows always find their range, and listed for the purge.
import type postgres from 'postgres';

/** Replicas making the next range take turns under this advisory lock (beside the migration's 7_277_001). */
const PARTITION_LOCK = 7_277_010;
/** The narrowest range: on a quiet installation, a range still holds a few deliveries, not one. */
const MIN_WIDTH = 16;
/** Making a range waits this long at most for its locks (the default partition's: ACCESS EXCLUSIVE, briefly). */
const LOCK_TIMEOUT = '5s';

/** The history tables, each partitioned by the same ranges. */
export const HISTORY_TABLES = ['delivery_logs', 'feedback_events', 'tracking_events'] as const;

/** One range of delivery ids and its partitions' names. */
export interface HistoryRange {
  lo: number;
  hi: number;
  purgedAt: Date | null;
}

/** The partition of `table` that holds the range starting at `lo` (history_partition_create's naming). */
export const partitionName = (table: (typeof HISTORY_TABLES)[number], lo: number) => `${table}_p${lo}`;

/** Every range, oldest first. */
export async function historyRanges(sql: postgres.Sql | postgres.TransactionSql): Promise<HistoryRange[]> {
  const rows = await sql`select lo, hi, purged_at from history_partitions order by lo`;
  return rows.map((r) => ({ lo: Number(r.lo), hi: Number(r.hi), purgedAt: r.purged_at }));
}

/** Where the newest range starts, per database URL: below it, a delivery's range and the next one exist. */
const newestStart = new WeakMap<postgres.Sql, number>();

/**
 * Makes sure a range covers `deliveryId` and that the range after it exists too (ahead of need), so that the
 * delivery's logs and events, and those of the next deliveries, never wait for one. Cheap when it is so (no
 * query once seen). A range is as wide as the deliveries created in the 30 days before `now` (at least
 * MIN_WIDTH), so that one holds about a month. Returns the ranges it made.
 */
export async function ensureHistoryPartitions(
  sql: postgres.Sql,
  deliveryId: string | number,
  now: Date,
): Promise<HistoryRange[]> {
  const id = Number(deliveryId);
  const known = newestStart.get(sql);
  if (known !== undefined && id < known) return [];
  const made = sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${PARTITION_LOCK})`;
    await tx.unsafe(`set local lock_timeout = '${LOCK_TIMEOUT}'`);
    const added: HistoryRange[] = [];
    for (;;) {
      const [newest] = await tx`select lo, hi from history_partitions order by lo desc limit 1`;
      if (newest && id < Number(newest.lo)) {
        newestStart.set(sql, Number(newest.lo));
        return added;
      }
      const range = await nextRange(tx, newest ? Number(newest.hi) : 1, id, now);
      await tx`select history_partition_create(${range.lo}, ${range.hi})`;
      added.push({ ...range, purgedAt: null });
    }
  });
  // 55P03 (lock_not_available): a long transaction holds the default partition; the next call tries again.
  return made.catch((error: { code?: string }) => {
    if (error.code === '55P03') return [];
    throw error;
  });
}

/** The next range after `after`: as wide as a month of deliveries, and wide enough to hold `id`. */
async function nextRange(tx: postgres.TransactionSql, after: number, id: number, now: Date) {
  const [recent] = await tx`
    select count(*)::int as n from deliveries where created_at > ${now.toISOString()}::timestamptz - interval '30 days'`;
  const width = Math.max(MIN_WIDTH, recent!.n as number);
  return { lo: after, hi: Math.max(after + width, id + 1) };
}
