// The delivery-log state machine of DESIGN.md's two tables: a log row, the delivery's mode and an MTA
// event in; the row's new status and the KPI deltas out. Pure: no I/O, no clock.
import type { FailureReason } from './classify';
import type { FailureType, FinalCause, LogStatus, OutcomeKind } from './log-values';

export type { LogStatus, OutcomeKind } from './log-values';

/** The deciding event of a row so far: the greatest by `outcomeOrder`. */
export interface Outcome {
  attempt: number;
  kind: OutcomeKind;
  occurredAt: number;
  eventId: string;
}

/** The part of a log row the state machine reads and writes. */
export interface LogState {
  status: LogStatus;
  /** The current attempt: 1 at the first hand-off, + 1 per retry. */
  attempts: number;
  outcome: Outcome | null;
  failureType: FailureType | null;
  failureReason: FailureReason | FinalCause | string | null;
}

/** One classified MTA event about one attempt of one message. */
export interface FeedbackEvent {
  eventId: string;
  attempt: number;
  kind: OutcomeKind;
  occurredAt: number;
  failureType: FailureType | null;
  failureReason: FailureReason | null;
}

/** What applying an event did. `stale`: an older or weaker event than the one deciding the row; nothing changes. */
export type Verdict = 'applied' | 'stale' | 'unknown-attempt';

export interface Transition {
  verdict: Verdict;
  state: LogState;
  /** Change of the delivered (status `sent`) and bounces + errors (status `failed`) counters. */
  delivered: number;
  failed: number;
  /** A soft bounce of the current attempt asks for another attempt. */
  retryDue: boolean;
}

// Within one attempt a hard bounce is final; otherwise the later event wins (an MTA that deferred then
// delivered); equal times are broken by kind, then by event id, so any arrival order ends the same way.
// A delay ranks lowest: the MTA reports no delay after its final word, so a tie means the delay came first.
const KIND_RANK: Record<OutcomeKind, number> = { delayed: 0, delivered: 1, ignored: 2, soft: 3, hard: 4 };

/** Total order of outcomes: newer attempt first, then hard bounces, then time, kind and event id. */
export function outcomeOrder(a: Outcome, b: Outcome): number {
  if (a.attempt !== b.attempt) return a.attempt - b.attempt;
  const aHard = a.kind === 'hard' ? 1 : 0;
  const bHard = b.kind === 'hard' ? 1 : 0;
  if (aHard !== bHard) return aHard - bHard;
  if (a.occurredAt !== b.occurredAt) return a.occurredAt - b.occurredAt;
  if (a.kind !== b.kind) return KIND_RANK[a.kind] - KIND_RANK[b.kind];
  return a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;
}

/** The status a row has once `outcome` decides it, as DESIGN.md's tables say for each mode. */
export function statusFor(outcome: Outcome | null, efs: boolean): LogStatus {
  if (outcome === null) return efs ? 'pending' : 'sent';
  switch (outcome.kind) {
    case 'delivered':
    case 'ignored':
      return 'sent';
    case 'hard':
      return 'failed';
    case 'soft':
    case 'delayed':
      // Without EFS a soft bounce changes nothing until the validity period ends; with EFS it counts at once.
      // A delay is the same soft failure, retried by the MTA instead of by us: the validity end decides it too.
      return efs ? 'failed' : 'sent';
  }
}

/** A row's share of the KPI counters: delivered counts `sent` rows, bounces + errors counts `failed` ones. */
export function kpiCounts(status: LogStatus): { delivered: number; failed: number } {
  return { delivered: status === 'sent' ? 1 : 0, failed: status === 'failed' ? 1 : 0 };
}

/** When a soft-bounced message may be tried again: after the retry interval, if that is within validity. */
export function nextAttemptAt(
  from: number,
  retryIntervalSeconds: number,
  validUntil: Date | null,
): Date | null {
  const at = new Date(from + retryIntervalSeconds * 1000);
  return validUntil && at < validUntil ? at : null;
}

/** Applies one event to one row. Duplicates are removed before (by event id); a repeat here is `stale`. */
export function applyEvent(row: LogState, event: FeedbackEvent, efs: boolean): Transition {
  const unchanged = (verdict: Verdict): Transition => ({
    verdict,
    state: row,
    delivered: 0,
    failed: 0,
    retryDue: false,
  });
  if (event.attempt > row.attempts || event.attempt < 1) return unchanged('unknown-attempt');
  const outcome: Outcome = {
    attempt: event.attempt,
    kind: event.kind,
    occurredAt: event.occurredAt,
    eventId: event.eventId,
  };
  if (row.outcome !== null && outcomeOrder(outcome, row.outcome) <= 0) return unchanged('stale');

  const status = statusFor(outcome, efs);
  const before = kpiCounts(row.status);
  const after = kpiCounts(status);
  const failure = event.kind === 'delivered' ? { failureType: null, failureReason: null } : event;
  return {
    verdict: 'applied',
    state: {
      status,
      attempts: row.attempts,
      outcome,
      failureType: failure.failureType,
      failureReason: failure.failureReason,
    },
    delivered: after.delivered - before.delivered,
    failed: after.failed - before.failed,
    retryDue: event.kind === 'soft' && event.attempt === row.attempts,
  };
}

/** Applies a row's events in arrival order; the result is the same for any order (see the property test). */
export function applyEvents(
  row: LogState,
  events: FeedbackEvent[],
  efs: boolean,
): { state: LogState; delivered: number; failed: number; retryDue: boolean; verdicts: Verdict[] } {
  let state = row;
  let delivered = 0;
  let failed = 0;
  const verdicts: Verdict[] = [];
  for (const event of events) {
    const t = applyEvent(state, event, efs);
    state = t.state;
    delivered += t.delivered;
    failed += t.failed;
    verdicts.push(t.verdict);
  }
  const retryDue = state.outcome?.kind === 'soft' && state.outcome.attempt === state.attempts;
  return { state, delivered, failed, retryDue, verdicts };
}
