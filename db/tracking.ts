// Stores opens and clicks set-wise: one statement per chunk, idempotent by event id.

import type postgres from 'postgres';
import { tokenMatches } from '../shared/message-id';

/** A validated tracking event, its message id read back. */
export interface TrackingRow {
  eventId: string;
  messageId: string;
  deliveryId: string;
  seq: number;
  attempt: number;
  token: string;
  type: 'open' | 'click';
  url: string | null;
  occurredAt: string;
}

/** What became of each event: stored, a repeat of a stored one, or about no message of this system. */
export type TrackingOutcome = 'applied' | 'duplicate' | 'unknown';

/**
 * Inserts the events whose message exists, skipping repeats. A message exists when its delivery does,
 * its token is the one it gave that message (tokenMatches), and the recipient number is one of its targets: a forged or mistyped id is
 * unknown. Counting is left to the hourly job, so ingestion is one insert and scales like one.
 */
export async function storeTrackingEvents(
  sql: postgres.Sql,
  rows: TrackingRow[],
): Promise<Map<string, TrackingOutcome>> {
  const outcomes = new Map<string, TrackingOutcome>();
  if (rows.length === 0) return outcomes;
  // Each token checked against its delivery's (a MAC under its key, or its one token before keys).
  const ids = [...new Set(rows.map((r) => r.deliveryId))];
  const sources = new Map(
    (await sql`select id, token, message_key from deliveries where id = any(${ids}::bigint[])`).map((d) => [
      String(d.id),
      { token: d.token as string, messageKey: d.message_key as string | null },
    ]),
  );
  // Passed as text: postgres.js cannot send a boolean[] parameter.
  const tokenOk = rows.map((r) => {
    const source = sources.get(r.deliveryId);
    return source !== undefined && tokenMatches(source, r);
  });
  const result = await sql`
    with input as (
      select * from unnest(
        ${rows.map((r) => r.eventId)}::text[], ${rows.map((r) => r.messageId)}::text[],
        ${rows.map((r) => r.deliveryId)}::bigint[], ${rows.map((r) => r.seq)}::int[],
        ${tokenOk.map((ok) => (ok ? 'true' : 'false'))}::text[], ${rows.map((r) => r.type)}::text[],
        ${rows.map((r) => r.url) as string[]}::text[], ${rows.map((r) => r.occurredAt)}::timestamptz[])
        as u(event_id, message_id, delivery_id, seq, token_ok, type, url, occurred_at)
    ), known as (
      select i.* from input i
      join deliveries d on d.id = i.delivery_id and i.token_ok::boolean and i.seq >= 0 and i.seq < d.to_send
    ), stored as (
      insert into tracking_events (event_id, message_id, delivery_id, seq, type, url, occurred_at)
      select event_id, message_id, delivery_id, seq, type, url, occurred_at from known
      on conflict (delivery_id, event_id) do nothing
      returning event_id
    )
    select i.event_id, k.event_id is not null as known, s.event_id is not null as stored
    from input i left join known k using (event_id) left join stored s using (event_id)`;
  for (const r of result) {
    outcomes.set(r.event_id as string, r.stored ? 'applied' : r.known ? 'duplicate' : 'unknown');
  }
  return outcomes;
}
