// Every status move of a delivery log row besides an MTA event (that one is feedback-state.ts's applyEvent):
// the first hand-off, a retry handed over or ended, the validity end. Each says the row's new status and
// what the move does to the delivery's KPI counters. Pure: no I/O, no clock.
import { kpiCounts, nextAttemptAt, statusFor } from './feedback-state';
import { FINAL_CAUSES, type FinalCause, type LogStatus, type OutcomeKind } from './log-values';

/** A change of one delivery's KPI counters; an absent field is 0. */
export interface KpiDelta {
  sent?: number;
  delivered?: number;
  failed?: number;
  opens?: number;
  clicks?: number;
  complaints?: number;
}

/** The counters a KPI delta can change, in the order the writer passes them. */
export const KPI_FIELDS = ['sent', 'delivered', 'failed', 'opens', 'clicks', 'complaints'] as const;

/** The delta of a row moving from `before` to `after`; a new row (`before` null) also counts as sent. */
export function statusDelta(before: LogStatus | null, after: LogStatus): KpiDelta {
  const was = before === null ? { delivered: 0, failed: 0 } : kpiCounts(before);
  const is = kpiCounts(after);
  return {
    sent: before === null ? 1 : 0,
    delivered: is.delivered - was.delivered,
    failed: is.failed - was.failed,
  };
}

/** The sum of deltas, field by field. */
export function sumDeltas(deltas: Iterable<KpiDelta>): Required<KpiDelta> {
  const sum = { sent: 0, delivered: 0, failed: 0, opens: 0, clicks: 0, complaints: 0 };
  for (const d of deltas) for (const f of KPI_FIELDS) sum[f] += d[f] ?? 0;
  return sum;
}

/** True when the delta changes no counter. */
export function isZeroDelta(delta: KpiDelta): boolean {
  return KPI_FIELDS.every((f) => (delta[f] ?? 0) === 0);
}

/** Where a move leaves a row: its status, and when it decides the attempt, that outcome and reason. */
export interface StatusMove {
  status: LogStatus;
  delta: KpiDelta;
  /** The outcome the move records for the attempt; null when the MTA's feedback is still to decide it. */
  outcomeKind: Extract<OutcomeKind, 'soft' | 'hard'> | null;
  failureReason: FinalCause | null;
}

/** The MTA took the first attempt: `sent` without EFS, `pending` until its feedback with EFS. */
export function handedOver(efs: boolean): StatusMove {
  const status = statusFor(null, efs);
  return { status, delta: statusDelta(null, status), outcomeKind: null, failureReason: null };
}

/**
 * The MTA refused the first attempt: decided like a bounce of that kind. A soft one is retried after the
 * retry interval when that is within validity (`retryAt`).
 */
export function refusedAtHandOff(
  kind: 'soft' | 'hard',
  at: number,
  delivery: { efs: boolean; retryIntervalSeconds: number; validUntil: Date | null },
): Omit<StatusMove, 'failureReason'> & { retryAt: Date | null } {
  const status = statusFor({ attempt: 1, kind, occurredAt: at, eventId: 'hand-off' }, delivery.efs);
  return {
    status,
    delta: statusDelta(null, status),
    outcomeKind: kind,
    retryAt: kind === 'soft' ? nextAttemptAt(at, delivery.retryIntervalSeconds, delivery.validUntil) : null,
  };
}

/** Never attempted, the validity period being over: failed for good (kind hard, so no event overrides it). */
export function neverAttempted(): StatusMove {
  return {
    status: 'failed',
    delta: statusDelta(null, 'failed'),
    outcomeKind: 'hard',
    failureReason: FINAL_CAUSES.validityOver,
  };
}

/** A retry handed over: the status stays as it is; the new attempt's feedback moves it. */
export function retryHandedOver(previous: LogStatus): StatusMove {
  return { status: previous, delta: {}, outcomeKind: null, failureReason: null };
}

/**
 * A due retry that gets no new attempt. Stopped or quarantined: the message ends failed now, for good
 * (kind hard). Past the validity end (`cause` null): left as it is, for the validity end to decide.
 */
export function retryEnded(
  previous: LogStatus,
  cause: typeof FINAL_CAUSES.stopped | typeof FINAL_CAUSES.quarantined | null,
): StatusMove {
  if (cause === null) return retryHandedOver(previous);
  return {
    status: 'failed',
    delta: statusDelta(previous, 'failed'),
    outcomeKind: 'hard',
    failureReason: cause,
  };
}

/** What the validity end reads of a row. */
export interface ValidityEndRow {
  status: LogStatus;
  attempts: number;
  outcomeKind: OutcomeKind | null;
  outcomeAttempt: number | null;
}

/**
 * The validity end: a message whose latest attempt soft-bounced, or never got past `delayed` (the MTA was
 * still retrying it: not delivered), becomes `failed` (without EFS, delivered % goes down here); any other row
 * keeps its status. db/retry.ts `finalizeDelivery` is its set-wise twin.
 */
export function validityEnd(row: ValidityEndRow): StatusMove | null {
  const softAtLatest =
    (row.outcomeKind === 'soft' || row.outcomeKind === 'delayed') && row.outcomeAttempt === row.attempts;
  if (!softAtLatest || row.status === 'failed') return null;
  return {
    status: 'failed',
    delta: statusDelta(row.status, 'failed'),
    outcomeKind: null,
    failureReason: null,
  };
}

/** The delta of `n` rows making the same move. */
export function scaleDelta(delta: KpiDelta, n: number): KpiDelta {
  return Object.fromEntries(KPI_FIELDS.map((f) => [f, (delta[f] ?? 0) * n]));
}
