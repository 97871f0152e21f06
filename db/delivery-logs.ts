// A delivery's log lines, streamed in recipient order (`campaign logs`).
import type postgres from 'postgres';

/** One line of `campaign logs`. */
export interface LogLine {
  email: string;
  status: string;
  failureType: string | null;
  failureReason: string | null;
  attempts: number;
  messageId: string;
}

/**
 * Streams a delivery's logs in recipient order, a page at a time, so a million rows never sit in memory. A
 * period's delivery (recurring, with --aggregate) streams its executions' logs, one execution after another.
 */
export async function* deliveryLogs(sql: postgres.Sql, id: string, pageSize = 5000): AsyncGenerator<LogLine> {
  const executions = await sql`
    select e.id from deliveries d join deliveries e on e.parent_id = d.id
    where d.id = ${id} and d.period_key is not null order by e.occurrence_at, e.id`;
  if (executions.length > 0) {
    for (const e of executions) yield* ownLogs(sql, String(e.id), pageSize);
    return;
  }
  yield* ownLogs(sql, id, pageSize);
}

async function* ownLogs(sql: postgres.Sql, id: string, pageSize: number): AsyncGenerator<LogLine> {
  let after = -1;
  for (;;) {
    const rows = await sql`
      select seq, email, status, failure_type, failure_reason, attempts, message_id
      from delivery_logs where delivery_id = ${id} and seq > ${after} order by seq limit ${pageSize}`;
    for (const r of rows) {
      yield {
        email: r.email,
        status: r.status,
        failureType: r.failure_type,
        failureReason: r.failure_reason,
        attempts: r.attempts,
        messageId: r.message_id,
      };
    }
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.seq as number;
  }
}
