// Small reads and moves of one delivery row that the command line asks for.
import type postgres from 'postgres';

/** The PostgreSQL channel a stop is announced on (the delivery id), on commit; dispatch processes listen. */
export const STOP_CHANNEL = 'campaign_delivery_stopped';

export async function deliveryExists(sql: postgres.Sql, id: string): Promise<boolean> {
  return (await sql`select 1 from deliveries where id = ${id}`).length > 0;
}

/** The personalization columns of a delivery (a recurring delivery's audience is checked against them). */
export async function deliveryColumns(sql: postgres.Sql, id: string): Promise<string[] | null> {
  const [row] = await sql`select columns from deliveries where id = ${id}`;
  return row ? (row.columns as string[]) : null;
}

/** Stops a delivery not yet finished; otherwise says the state it is in (null: no such delivery). */
export async function stopDelivery(
  sql: postgres.Sql,
  id: string,
): Promise<{ stopped: true } | { stopped: false; state: string | null }> {
  const stopped = await sql.begin(async (tx) => {
    const [row] = await tx`
      update deliveries set state = 'stopped', state_reason = 'stopped by an operator'
      where id = ${id} and state in ('prepared', 'scheduled', 'sending', 'sent')
      returning state`;
    // Delivered on commit to every dispatch process: a batch in flight stops between two messages.
    if (row) await tx`select pg_notify(${STOP_CHANNEL}, ${id})`;
    return row;
  });
  if (stopped) return { stopped: true };
  const [current] = await sql`select state from deliveries where id = ${id}`;
  return { stopped: false, state: current ? (current.state as string) : null };
}
