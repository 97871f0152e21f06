// The one writer of KPI deltas: every change of delivery_kpis counters goes through addKpiDeltas. Rows are
// locked in delivery id order, so two writers of several deliveries never deadlock.
import type postgres from 'postgres';
import { isZeroDelta, type KPI_FIELDS, type KpiDelta, sumDeltas } from '../shared/rules/status-moves';

/**
 * Locks the KPI rows of these deliveries in id order. An `UPDATE … FROM unnest(…)` locks rows in the order
 * its join meets them (heap order), whatever order the ids were given in; a one-row update needs nothing.
 */
export async function lockKpiRows(
  tx: postgres.TransactionSql,
  deliveryIds: readonly string[],
): Promise<void> {
  if (deliveryIds.length < 2) return;
  await tx`
    select 1 from delivery_kpis where delivery_id = any(${deliveryIds as string[]}::bigint[])
    order by delivery_id for update`;
}

/**
 * Adds each delivery's deltas to its counters in one statement (several deltas of one delivery are summed).
 * With `statsComputedAt`, the rows written are stamped as counted then. Deltas that change nothing are left
 * out (unless stamping),
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
  const stamp = options.statsComputedAt ? tx`, stats_computed_at = ${options.statsComputedAt}` : tx``;
  // The rows are locked in id order by the CTE (its ORDER BY runs below its row locks), and the update only
  // touches rows the CTE has emitted, so locked: one statement, one round trip fewer while the row is held
  // (every transaction of a delivery waits for that row until the holder commits).
  await tx`
    with locked as (
      select delivery_id from delivery_kpis where delivery_id = any(${ids}::bigint[])
      order by delivery_id for update
    )
    update delivery_kpis k set sent = k.sent + u.sent, delivered = k.delivered + u.delivered,
      failed = k.failed + u.failed, opens = k.opens + u.opens, clicks = k.clicks + u.clicks,
      complaints = k.complaints + u.complaints ${stamp}
    from locked join unnest(${ids}::bigint[], ${column('sent')}::int[], ${column('delivered')}::int[],
      ${column('failed')}::int[], ${column('opens')}::int[], ${column('clicks')}::int[],
      ${column('complaints')}::int[]) as u(delivery_id, sent, delivered, failed, opens, clicks, complaints)
      on u.delivery_id = locked.delivery_id
    where k.delivery_id = locked.delivery_id`;
}
