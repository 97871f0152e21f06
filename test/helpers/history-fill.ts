// Fills a database's history server-side (generate_series): finished deliveries created in given months, each
// with its logs, one feedback event and one open per log, and its KPI row. Columns as of migration 0009.
import type postgres from 'postgres';

/** `months`: one creation date per month; `perMonth` deliveries each, of `logs` log rows. */
export async function fillHistory(
  sql: postgres.Sql,
  o: { months: string[]; perMonth: number; logs: number },
): Promise<void> {
  for (const month of o.months) {
    await sql`
      insert into deliveries (label, state, validity_seconds, retry_interval_seconds, sender, subject, token,
        to_send, created_at, confirmed_at, valid_until, finished_at)
      select 'history ' || ${month} || ' #' || i, 'finished', 86400, 3600, 'sender@example.test', 'Hello',
        'tok', ${o.logs}, ${month}::timestamptz, ${month}::timestamptz,
        ${month}::timestamptz + interval '1 day', ${month}::timestamptz + interval '1 day'
      from generate_series(1, ${o.perMonth}) i`;
  }
  await sql`
    insert into delivery_logs (delivery_id, seq, email, status, message_id, handed_off_at, updated_at)
    select d.id, s, 'r' || s || '@example.test', case when s % 10 = 0 then 'failed' else 'sent' end::log_status,
      '1.' || s || '.' || d.id || '.tok@example.test', d.created_at, d.created_at
    from deliveries d, generate_series(0, d.to_send - 1) s`;
  await sql`
    insert into feedback_events (event_id, message_id, delivery_id, seq, attempt, type, occurred_at, outcome)
    select 'fb-' || delivery_id || '-' || seq, message_id, delivery_id, seq, 1, 'delivered', handed_off_at, 'applied'
    from delivery_logs`;
  await sql`
    insert into tracking_events (event_id, message_id, delivery_id, seq, type, occurred_at)
    select 'trk-' || delivery_id || '-' || seq, message_id, delivery_id, seq, 'open', handed_off_at
    from delivery_logs where seq % 2 = 0`;
  await sql`
    insert into delivery_kpis (delivery_id, sent, delivered, failed, opens)
    select delivery_id, count(*), count(*) filter (where status = 'sent'), count(*) filter (where status = 'failed'),
      count(*) filter (where seq % 2 = 0)
    from delivery_logs group by delivery_id`;
}
