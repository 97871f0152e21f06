// Applies spam complaints set-wise: the audit row, an immediate "on denylist" quarantine and the KPI counter.
// A complaint never touches the log row's status (DESIGN.md): the message was delivered, the person objected.

import type postgres from 'postgres';
import { tokenMatches } from '../shared/message-id';
import type { QuarantineRules } from '../shared/rules/quarantine-rules';
import type { KpiDelta } from '../shared/rules/status-moves';
import { recordDeadLetters } from './dead-letters';
import {
  type ClassifiedEvent,
  type EventOutcome,
  earlyEvents,
  mismatchReason,
  namesAnotherRecipient,
} from './feedback-events';
import { addKpiDeltas } from './kpi';
import { recordAddressOutcomes } from './quarantine';

/** The reason a complaint quarantines with, as the reference product names it. */
export const COMPLAINT_REASON = 'on denylist';

const key = (deliveryId: string, seq: number) => `${deliveryId}:${seq}`;

/**
 * Applies complaint events (unique by event id within the job). A repeated event id is a duplicate; a second
 * complaint about the same message is recorded but counted once, so `complaints` counts complained messages.
 */
export async function applyComplaints(
  sql: postgres.Sql,
  events: ClassifiedEvent[],
  jobId: string | null,
  now: Date,
  rules: QuarantineRules,
): Promise<{ outcomes: Map<string, EventOutcome>; early: number }> {
  if (events.length === 0) return { outcomes: new Map(), early: 0 };
  // Sorted by event id: two jobs inserting the same events do it in one order, never deadlocking.
  const sorted = [...events].sort((a, b) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
  return sql.begin(async (tx) => {
    // Log rows locked in the order every feedback transaction uses (log rows, quarantine, KPI row), so that
    // two jobs complaining about one message count it once.
    const rows = await tx`
      select l.delivery_id, l.seq, l.email, d.token, d.message_key from delivery_logs l join deliveries d on d.id = l.delivery_id
      where (l.delivery_id, l.seq) in (
        select * from unnest(${sorted.map((e) => e.deliveryId)}::bigint[], ${sorted.map((e) => e.seq)}::int[]))
      order by l.delivery_id, l.seq
      for update of l`;
    const byKey = new Map(rows.map((r) => [key(String(r.delivery_id), r.seq as number), r]));
    const ours = sorted.filter((e) => {
      const row = byKey.get(key(e.deliveryId, e.seq));
      return row !== undefined && tokenMatches({ token: row.token, messageKey: row.message_key }, e);
    });
    // A complaint naming another address than the message's is a forgery: kept, never applied.
    const mismatched = ours.filter((e) =>
      namesAnotherRecipient(e, byKey.get(key(e.deliveryId, e.seq))!.email),
    );
    const known = ours.filter((e) => !mismatched.includes(e));
    // A complaint that outran the dispatch's log write is left for the job's retry, as other events are.
    const early = await earlyEvents(
      tx,
      sorted.filter((e) => !byKey.has(key(e.deliveryId, e.seq))),
    );
    const unknown = sorted.filter((e) => !ours.includes(e) && !early.has(e.eventId));
    await recordDeadLetters(tx, [
      ...unknown.map((e) => ({
        queue: 'mta-feedback',
        jobId,
        reason: `unknown message: message ${e.messageId} was not sent by this system`,
        payload: e.raw,
      })),
      ...mismatched.map((e) => ({ queue: 'mta-feedback', jobId, reason: mismatchReason(e), payload: e.raw })),
    ]);
    const outcomes = new Map<string, EventOutcome>([
      ...unknown.map((e): [string, EventOutcome] => [e.eventId, 'unknown']),
      ...mismatched.map((e): [string, EventOutcome] => [e.eventId, 'mismatch']),
    ]);
    if (known.length === 0) return { outcomes, early: early.size };

    const prior = await tx`
      select distinct delivery_id, seq from feedback_events
      where type = 'complaint' and outcome = 'applied' and (delivery_id, seq) in (
        select * from unnest(${known.map((e) => e.deliveryId)}::bigint[], ${known.map((e) => e.seq)}::int[]))`;
    const complainedBefore = new Set(prior.map((r) => key(String(r.delivery_id), r.seq as number)));
    const inserted = await tx`
      insert into feedback_events (event_id, message_id, delivery_id, seq, attempt, type, occurred_at, smtp_code,
        enhanced_status, diagnostic, failure_reason, outcome, received_at)
      select u.*, 'applied', ${now}::timestamptz from unnest(
        ${known.map((e) => e.eventId)}::text[], ${known.map((e) => e.messageId)}::text[],
        ${known.map((e) => e.deliveryId)}::bigint[], ${known.map((e) => e.seq)}::int[],
        ${known.map((e) => e.attempt)}::smallint[], ${known.map(() => 'complaint')}::text[],
        ${known.map((e) => new Date(e.occurredAt).toISOString())}::timestamptz[],
        ${known.map((e) => e.smtpCode) as number[]}::smallint[], ${known.map((e) => e.enhancedStatus) as string[]}::text[],
        ${known.map((e) => e.diagnostic) as string[]}::text[], ${known.map(() => COMPLAINT_REASON)}::text[]) as u
      on conflict (delivery_id, event_id) do nothing
      returning event_id`;
    const fresh = new Set(inserted.map((r) => r.event_id as string));
    const applied = known.filter((e) => fresh.has(e.eventId));
    for (const e of known) outcomes.set(e.eventId, fresh.has(e.eventId) ? 'applied' : 'duplicate');

    // "On denylist" quarantines at once, whatever the delivery's mode or state.
    await recordAddressOutcomes(
      tx,
      applied.map((e) => ({
        email: byKey.get(key(e.deliveryId, e.seq))!.email as string,
        deliveryId: e.deliveryId,
        at: e.occurredAt,
        kind: 'hard' as const,
        reason: COMPLAINT_REASON,
      })),
      rules,
    );
    // A message counts once, however many complaints it gets.
    const counted = new Set(complainedBefore);
    const deltas: [string, KpiDelta][] = [];
    for (const e of applied) {
      const k = key(e.deliveryId, e.seq);
      if (counted.has(k)) continue;
      counted.add(k);
      deltas.push([e.deliveryId, { complaints: 1 }]);
    }
    await addKpiDeltas(tx, deltas);
    return { outcomes, early: early.size };
  });
}
