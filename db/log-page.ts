// One page of a delivery's sending logs for the console: filtered by status and failure reason, in recipient
// order, paged by the last seq shown (keyset: page 1,000 of a million rows costs what page 1 does).
import type postgres from 'postgres';

/** One row of the console's log page. */
export interface LogPageRow {
  seq: number;
  email: string;
  status: string;
  failureType: string | null;
  failureReason: string | null;
  attempts: number;
  handedOffAt: string | null;
}

export interface LogPageFilter {
  status?: string;
  /** A failure reason, or `not defined` for a failure without one. */
  reason?: string;
  /** Rows after this seq. */
  after?: number;
  limit: number;
}

export async function logPage(
  sql: postgres.Sql,
  deliveryId: string,
  f: LogPageFilter,
): Promise<LogPageRow[]> {
  const reason = f.reason ?? null;
  const rows = await sql`
    select seq, email, status, failure_type, failure_reason, attempts, handed_off_at
    from delivery_logs
    where delivery_id = ${deliveryId} and seq > ${f.after ?? -1}
      and (${f.status ?? null}::text is null or status::text = ${f.status ?? null})
      and (${reason}::text is null or coalesce(failure_reason, 'not defined') = ${reason})
    order by seq limit ${f.limit}`;
  return rows.map((r) => ({
    seq: r.seq,
    email: r.email,
    status: r.status,
    failureType: r.failure_type,
    failureReason: r.failure_reason,
    attempts: r.attempts,
    handedOffAt: r.handed_off_at ? (r.handed_off_at as Date).toISOString() : null,
  }));
}
