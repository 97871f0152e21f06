// A recipient's history across deliveries, with its quarantine entry (`campaign profile`).
import type postgres from 'postgres';
import type { QuarantineRules } from '../shared/rules/quarantine-rules';
import { quarantinedCondition } from './quarantine';

const iso = (value: Date | null | undefined) => (value ? value.toISOString() : null);

/** One delivery in a recipient's history. */
export interface ProfileEntry {
  deliveryId: string;
  label: string;
  deliveryState: string;
  status: string;
  failureType: string | null;
  failureReason: string | null;
  attempts: number;
  messageId: string;
  handedOffAt: string;
}

export interface Profile {
  email: string;
  quarantine: {
    errorCount: number;
    quarantined: boolean;
    reason: string | null;
    quarantinedAt: string | null;
  } | null;
  deliveries: ProfileEntry[];
}

/** `quarantine.quarantined` follows the quarantine rules at `now` (released entries are not quarantined). */
export async function recipientProfile(
  sql: postgres.Sql,
  email: string,
  now: number,
  rules: Pick<QuarantineRules, 'mailboxFullReleaseMs'>,
): Promise<Profile> {
  const rows = await sql`
    select l.delivery_id, d.label, d.state, l.status, l.failure_type, l.failure_reason, l.attempts,
           l.message_id, l.handed_off_at
    from delivery_logs l join deliveries d on d.id = l.delivery_id
    where l.email = ${email} order by l.handed_off_at desc, l.delivery_id desc`;
  const [q] = await sql`
    select error_count, reason, quarantined_at, ${quarantinedCondition(sql, now, rules)} as quarantined
    from quarantine q where email = ${email}`;
  return {
    email,
    quarantine: q
      ? {
          errorCount: q.error_count,
          quarantined: q.quarantined,
          reason: q.reason,
          quarantinedAt: iso(q.quarantined_at),
        }
      : null,
    deliveries: rows.map((r) => ({
      deliveryId: String(r.delivery_id),
      label: r.label,
      deliveryState: r.state,
      status: r.status,
      failureType: r.failure_type,
      failureReason: r.failure_reason,
      attempts: r.attempts,
      messageId: r.message_id,
      handedOffAt: iso(r.handed_off_at)!,
    })),
  };
}
