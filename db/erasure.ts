// Erasure of one address (GDPR art. 17): every row that stores it is pseudonymized in one transaction.
import type postgres from 'postgres';
import { addressPattern, erasedPseudonym } from '../shared/rules/erasure';

/** Rows changed by an erasure, per table. */
export interface ErasureCounts {
  deliveryTargets: number;
  deliveryLogs: number;
  feedbackEvents: number;
  trackingEvents: number;
  deadLetters: number;
  quarantine: number;
}

/** What `campaign profile erase` did. */
export interface ErasureResult {
  email: string;
  /** What the address now reads as wherever it was stored (and the quarantine's key). */
  pseudonym: string;
  /** False when no row held the address: nothing was changed. */
  found: boolean;
  changed: ErasureCounts;
}

/**
 * Replaces the address by its pseudonym in every column that holds it, and blanks the recipient's
 * personalization values. Rows are rewritten, never deleted, so every count (logs by status, events,
 * uniques, KPI counters) stays as it was. Log rows are locked first, then quarantine, as every
 * transaction that writes both does. Free-text columns are matched case-insensitively, `@` or `%40`.
 */
export async function eraseAddress(sql: postgres.Sql, email: string): Promise<ErasureResult> {
  const pseudonym = erasedPseudonym(email);
  const pattern = addressPattern(email);

  const changed = await sql.begin(async (tx) => {
    const scrub = (column: string) =>
      tx`${tx(column)} = regexp_replace(${tx(column)}, ${pattern}, ${pseudonym}, 'gi')`;
    const mentions = (column: string) => tx`${tx(column)} ~* ${pattern}`;
    const logs = await tx`
      update delivery_logs set email = ${pseudonym}, ${scrub('failure_reason')}
      where email = ${email} returning delivery_id, seq`;
    const deliveryIds = logs.map((r) => String(r.delivery_id));
    const seqs = logs.map((r) => r.seq as number);
    const ofLogs = tx`(delivery_id, seq) in (
      select * from unnest(${deliveryIds}::bigint[], ${seqs}::int[]))`;

    // Targets have no index on email: one scan finds those not dispatched yet too.
    const targets = await tx`
      update delivery_targets set email = ${pseudonym},
        data = (select coalesce(jsonb_object_agg(key, ''), '{}'::jsonb) from jsonb_each(data))
      where email = ${email} returning 1`;
    // Events of the address's messages, and those matched to no message (their text may name it).
    const feedback = await tx`
      update feedback_events set ${scrub('message_id')}, ${scrub('diagnostic')},
        ${scrub('failure_reason')}, ${scrub('enhanced_status')}
      where (${ofLogs} or delivery_id is null)
        and (${mentions('message_id')} or ${mentions('diagnostic')} or ${mentions('failure_reason')}
          or ${mentions('enhanced_status')})
      returning 1`;
    const tracking = await tx`
      update tracking_events set ${scrub('url')}, ${scrub('message_id')}
      where ${ofLogs} and (${mentions('url')} or ${mentions('message_id')}) returning 1`;
    // Dead letters are few and their payloads arbitrary: read whole, as JSON text.
    const dead = await tx`
      update dead_letters set
        payload = regexp_replace(payload::text, ${pattern}, ${pseudonym}, 'gi')::jsonb, ${scrub('reason')}
      where payload::text ~* ${pattern} or ${mentions('reason')} returning 1`;
    // The entry keeps its history under the pseudonym, so the import still excludes the address. An
    // older entry of an earlier erasure gives way to the newer history.
    const [entry] = await tx`select 1 from quarantine where email = ${email} for update`;
    let quarantine = 0;
    if (entry) {
      await tx`delete from quarantine where email = ${pseudonym}`;
      quarantine = (
        await tx`update quarantine set email = ${pseudonym}, ${scrub('reason')}
          where email = ${email} returning 1`
      ).length;
    }
    return {
      deliveryTargets: targets.length,
      deliveryLogs: logs.length,
      feedbackEvents: feedback.length,
      trackingEvents: tracking.length,
      deadLetters: dead.length,
      quarantine,
    };
  });
  const found = Object.values(changed).some((n) => n > 0);
  return { email, pseudonym, found, changed };
}
