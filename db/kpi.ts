// The one writer of KPI deltas: every change of delivery_kpis counters goes through addKpiDeltas. A delivery's
// counters are spread over stripes (db/schema/deliveries.ts KPI_STRIPES); a writer adds to its backend's
// stripe, so the transactions of one delivery in flight at once lock different rows. Within a stripe, rows
// are locked in delivery id order, so two writers of several deliveries never deadlock; a transaction keeps
// one backend, so all its writes land on one stripe (and the hourly run's, stamped, on stripe 0).
import type postgres from 'postgres';
import { isZeroDelta, type KPI_FIELDS, type KpiDelta, sumDeltas } from '../shared/rules/status-moves';
import { KPI_STRIPES } from './schema/deliveries';

/**
 * The stripe this transaction writes: its backend's, fixed for the transaction's life (a connection is one
 * backend), so its deltas of one delivery all land on one row. Concurrent transactions run on different
 * backends, whose ids (handed out in sequence) spread over the stripes. Where a delta lands changes no
 * figure: the tile is the sum, and each delta is added once by the transaction that made the change it
 * counts (or rolled back with it), exactly as with one row.
 */
const writerStripe = (tx: postgres.TransactionSql) => tx`(pg_backend_pid() % ${KPI_STRIPES})::smallint`;

/**
 * Locks the stamped KPI rows (stripe 0, made with the delivery) of these deliveries in id order, for the
 * hourly run that then adds its stamped deltas to them. An `UPDATE … FROM unnest(…)` locks rows in the
 * order its join meets them (heap order), whatever order the ids were given in; a one-row update needs
 * nothing.
 */
export async function lockKpiRows(
  tx: postgres.TransactionSql,
  deliveryIds: readonly string[],
): Promise<void> {
  if (deliveryIds.length < 2) return;
  await tx`
    select 1 from delivery_kpis where delivery_id = any(${deliveryIds as string[]}::bigint[]) and stripe = 0
    order by delivery_id for update`;
}

/**
 * Locks every stripe of one delivery, making the missing ones, for a recount (compute-stats): a writer in
 * flight then waits for the recount's commit whichever stripe it writes, even one not made yet (its insert
 * waits on the recount's uncommitted row), and a writer that wrote first has committed before the recount
 * counts. Stripe 0 is locked first, as the hourly run and the single-row writers lock it.
 */
export async function lockAllKpiStripes(tx: postgres.TransactionSql, deliveryId: string): Promise<boolean> {
  const [zero] =
    await tx`select 1 from delivery_kpis where delivery_id = ${deliveryId} and stripe = 0 for update`;
  if (!zero) return false;
  await tx`
    insert into delivery_kpis (delivery_id, stripe)
    select ${deliveryId}, s from generate_series(1, ${KPI_STRIPES - 1}) s order by s
    on conflict (delivery_id, stripe) do nothing`;
  await tx`select 1 from delivery_kpis where delivery_id = ${deliveryId} order by stripe for update`;
  return true;
}

/**
 * Adds each delivery's deltas to its counters in one statement (several deltas of one delivery are summed),
 * on this transaction's stripe, making that stripe's row where it is not made yet. A delivery without KPI
 * rows (no stripe 0) gets nothing, as before stripes. With `statsComputedAt`, the deltas go to stripe 0 and
 * the rows written are stamped as counted then. Deltas that change nothing are left out (unless stamping),
 * and so is the statement when none is left.
 */
export async function addKpiDeltas(
  tx: postgres.TransactionSql,
  deltas: Iterable<readonly [deliveryId: string, delta: KpiDelta]>,
  options: { statsComputedAt?: Date } = {},
): Promise<void> {
  const byDelivery = new Map<string, KpiDelta[]>();
  for (const [id, delta] of deltas) byDelivery.set(id, [...(byDelivery.get(id) ?? []), delta]);
  const rows = [...byDelivery]
    .map(([id, list]) => [id, sumDeltas(list)] as const)
    // A stamp is written even where nothing changed: those rows were counted too.
    .filter(([, d]) => options.statsComputedAt !== undefined || !isZeroDelta(d))
    .sort(([a], [b]) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0));
  if (rows.length === 0) return;
  const ids = rows.map(([id]) => id);
  const column = (f: (typeof KPI_FIELDS)[number]) => rows.map(([, d]) => d[f]);
  const stamped = options.statsComputedAt !== undefined;
  const stripe = stamped ? tx`0::smallint` : writerStripe(tx);
  const stamp = stamped ? tx`, stats_computed_at = excluded.stats_computed_at` : tx``;
  // One statement: the rows are inserted (or, made already, updated) in delivery id order, each locked as
  // the insert meets it, and only for deliveries that have KPI rows (their stripe 0, read without a lock).
  // Written last in its transaction, the row is held only until the commit that follows.
  await tx`
    insert into delivery_kpis as k (delivery_id, stripe, sent, delivered, failed, opens, clicks, complaints,
      stats_computed_at)
    select u.delivery_id, ${stripe}, u.sent, u.delivered, u.failed, u.opens, u.clicks, u.complaints,
      ${options.statsComputedAt ?? null}::timestamptz
    from unnest(${ids}::bigint[], ${column('sent')}::int[], ${column('delivered')}::int[],
      ${column('failed')}::int[], ${column('opens')}::int[], ${column('clicks')}::int[],
      ${column('complaints')}::int[]) as u(delivery_id, sent, delivered, failed, opens, clicks, complaints)
    where exists (select 1 from delivery_kpis z where z.delivery_id = u.delivery_id and z.stripe = 0)
    order by u.delivery_id
    on conflict (delivery_id, stripe) do update set sent = k.sent + excluded.sent,
      delivered = k.delivered + excluded.delivered, failed = k.failed + excluded.failed,
      opens = k.opens + excluded.opens, clicks = k.clicks + excluded.clicks,
      complaints = k.complaints + excluded.complaints ${stamp}`;
}
