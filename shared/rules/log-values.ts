// The values a delivery log row's columns take, declared once for the rules, the SQL and the schema's enums.

/** A log row's status: `pending` until EFS feedback decides it, `sent` (delivered) or `failed`. */
export const LOG_STATUSES = ['pending', 'sent', 'failed'] as const;
/** One of LOG_STATUSES. */
export type LogStatus = (typeof LOG_STATUSES)[number];

/** Hard: the address is bad; soft: a temporary refusal; ignored: an answer that is no failure of the address. */
export const FAILURE_TYPES = ['hard', 'soft', 'ignored'] as const;
/** One of FAILURE_TYPES. */
export type FailureType = (typeof FAILURE_TYPES)[number];

/**
 * What an attempt's deciding event said: delivered (or an auto-reply, which proves delivery), a bounce, or
 * `delayed`: the MTA deferred the message and retries it itself (RFC 3464 `Action: delayed`), so it counts as a
 * soft failure until the MTA's final word, but never schedules a retry of ours on top of the MTA's.
 */
export const OUTCOME_KINDS = ['delivered', 'ignored', 'delayed', 'soft', 'hard'] as const;
/** One of OUTCOME_KINDS. */
export type OutcomeKind = (typeof OUTCOME_KINDS)[number];

/**
 * Why the pipeline itself ended a message without a (new) attempt: the final causes, stored as the row's
 * failure reason beside the MTA's reasons, and never counted against the address.
 */
export const FINAL_CAUSES = {
  /** The validity period ended before the message could be handed over. */
  validityOver: 'validity period over',
  /** The delivery was stopped while the message waited for a retry. */
  stopped: 'delivery stopped',
  /** The address was quarantined while the message waited for a retry. */
  quarantined: 'quarantined address',
} as const;
/** One of FINAL_CAUSES' values. */
export type FinalCause = (typeof FINAL_CAUSES)[keyof typeof FINAL_CAUSES];

/** A final cause is the pipeline's decision, not the address's failure: it never counts for quarantine. */
export function isFinalCause(reason: string | null): reason is FinalCause {
  return (Object.values(FINAL_CAUSES) as (string | null)[]).includes(reason);
}
