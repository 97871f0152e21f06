// Every writer of several deliveries' KPI rows takes them in delivery id order, so two writers never deadlock.
import type postgres from 'postgres';

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
