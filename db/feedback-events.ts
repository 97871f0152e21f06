// The events of a feedback job as the database sees them: classified, their outcomes, and those whose log
// row is not there (yet): still on its way, or held by another transaction.
import type postgres from 'postgres';
import type { FeedbackEvent } from '../shared/rules/feedback-state';

/** A validated event, its message id read back and its failure classified. */
export interface ClassifiedEvent extends FeedbackEvent {
  messageId: string;
  deliveryId: string;
  seq: number;
  token: string;
  type: string;
  smtpCode: number | null;
  enhancedStatus: string | null;
  diagnostic: string | null;
  raw: unknown;
}

/** What became of each event: the vocabulary of the metrics and the audit trail. */
export type EventOutcome = 'applied' | 'duplicate' | 'stale' | 'unknown' | 'after-finish';

/** The key of a log row in the maps of a batch. */
export const key = (deliveryId: string, seq: number) => `${deliveryId}:${seq}`;

/** Of events whose row the locking read skipped, those whose row exists: another transaction holds it. */
export async function lockedByOthers(
  tx: postgres.TransactionSql,
  orphans: ClassifiedEvent[],
): Promise<ClassifiedEvent[]> {
  if (orphans.length === 0) return [];
  const existing = await tx`
    select delivery_id, seq from delivery_logs
    where (delivery_id, seq) in (
      select * from unnest(${orphans.map((e) => e.deliveryId)}::bigint[], ${orphans.map((e) => e.seq)}::int[]))`;
  const held = new Set(existing.map((r) => key(String(r.delivery_id), r.seq as number)));
  return orphans.filter((e) => held.has(key(e.deliveryId, e.seq)));
}

/** Events without a log row whose delivery is still sending that recipient: their row is on its way. */
export async function earlyEvents(
  tx: postgres.TransactionSql,
  orphans: ClassifiedEvent[],
): Promise<Set<string>> {
  if (orphans.length === 0) return new Set();
  const ids = [...new Set(orphans.map((e) => e.deliveryId))];
  const deliveries = new Map(
    (await tx`select id, state, token, to_send from deliveries where id = any(${ids}::bigint[])`).map((d) => [
      String(d.id),
      d,
    ]),
  );
  return new Set(
    orphans
      .filter((e) => {
        const d = deliveries.get(e.deliveryId);
        return (
          d &&
          d.token === e.token &&
          e.attempt === 1 &&
          e.seq < d.to_send &&
          ['scheduled', 'sending'].includes(d.state)
        );
      })
      .map((e) => e.eventId),
  );
}
