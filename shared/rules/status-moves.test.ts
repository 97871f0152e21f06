// The status moves besides MTA events: DESIGN.md's hand-off and "retries fail (validity period over)" rows
// in both modes, retries handed over or ended, and a property test that the deltas of a row's whole life
// (hand-off, any events, validity end) always add up to a recount of its final status.
import fc from 'fast-check';
import { applyEvents, type FeedbackEvent, kpiCounts, type LogState } from './feedback-state';
import { FINAL_CAUSES, type LogStatus, type OutcomeKind } from './log-values';
import {
  handedOver,
  isZeroDelta,
  neverAttempted,
  refusedAtHandOff,
  retryEnded,
  retryHandedOver,
  scaleDelta,
  statusDelta,
  sumDeltas,
  validityEnd,
} from './status-moves';

const row = (status: LogStatus, kind: OutcomeKind | null, attempt: number, attempts = attempt) => ({
  status,
  attempts,
  outcomeKind: kind,
  outcomeAttempt: kind === null ? null : attempt,
});

describe('the hand-off (DESIGN.md, first row of each table)', () => {
  test('EFS off: sent, counted as sent and delivered', () => {
    expect(handedOver(false)).toEqual({
      status: 'sent',
      delta: { sent: 1, delivered: 1, failed: 0 },
      outcomeKind: null,
      failureReason: null,
    });
  });
  test('EFS on: pending, counted as sent only', () => {
    expect(handedOver(true).status).toBe('pending');
    expect(handedOver(true).delta).toEqual({ sent: 1, delivered: 0, failed: 0 });
  });
  test('a hard refusal is failed at once, in both modes, with no retry', () => {
    for (const efs of [false, true]) {
      const move = refusedAtHandOff('hard', 0, { efs, retryIntervalSeconds: 60, validUntil: new Date(1e9) });
      expect(move).toMatchObject({ status: 'failed', outcomeKind: 'hard', retryAt: null });
      expect(move.delta).toEqual({ sent: 1, delivered: 0, failed: 1 });
    }
  });
  test('a soft refusal is decided like a soft bounce, retried within validity only', () => {
    const within = { efs: false, retryIntervalSeconds: 60, validUntil: new Date(120_000) };
    expect(refusedAtHandOff('soft', 0, within)).toMatchObject({ status: 'sent', retryAt: new Date(60_000) });
    expect(refusedAtHandOff('soft', 0, { ...within, efs: true }).status).toBe('failed');
    expect(refusedAtHandOff('soft', 90_000, within).retryAt).toBeNull();
  });
  test('never attempted (validity over before the hand-off): failed for good, with its final cause', () => {
    expect(neverAttempted()).toEqual({
      status: 'failed',
      delta: { sent: 1, delivered: 0, failed: 1 },
      outcomeKind: 'hard',
      failureReason: FINAL_CAUSES.validityOver,
    });
  });
});

describe('retries', () => {
  test('a retry handed over leaves the status and the counters alone', () => {
    for (const status of ['sent', 'failed', 'pending'] as const) {
      expect(retryHandedOver(status).status).toBe(status);
      expect(isZeroDelta(retryHandedOver(status).delta)).toBe(true);
    }
  });
  test('stopped or quarantined: failed for good (kind hard) with the cause as reason', () => {
    expect(retryEnded('sent', FINAL_CAUSES.stopped)).toEqual({
      status: 'failed',
      delta: { sent: 0, delivered: -1, failed: 1 },
      outcomeKind: 'hard',
      failureReason: 'delivery stopped',
    });
    expect(retryEnded('failed', FINAL_CAUSES.quarantined).delta).toEqual({
      sent: 0,
      delivered: 0,
      failed: 0,
    });
  });
  test('past the validity end: left for the validity end to decide', () => {
    expect(retryEnded('sent', null)).toEqual(retryHandedOver('sent'));
  });
});

describe('the validity end (DESIGN.md, "retries fail (validity period over)")', () => {
  test('EFS off: a soft bounce of the latest attempt becomes failed; delivered % down, bounces + errors % up', () => {
    expect(validityEnd(row('sent', 'soft', 2))).toMatchObject({
      status: 'failed',
      delta: { sent: 0, delivered: -1, failed: 1 },
    });
  });
  test('EFS on: the row is failed already; no change', () => {
    expect(validityEnd(row('failed', 'soft', 2))).toBeNull();
  });
  test('a delivered, ignored or hard outcome, or a soft bounce of an older attempt, keeps its status', () => {
    expect(validityEnd(row('sent', 'delivered', 1))).toBeNull();
    expect(validityEnd(row('sent', 'ignored', 1))).toBeNull();
    expect(validityEnd(row('failed', 'hard', 1))).toBeNull();
    expect(validityEnd(row('sent', 'soft', 1, 2))).toBeNull();
    expect(validityEnd(row('sent', null, 1))).toBeNull();
  });
});

describe('delta arithmetic', () => {
  test('statusDelta of every pair is the difference of the recounts', () => {
    const statuses = ['pending', 'sent', 'failed'] as const;
    for (const a of statuses)
      for (const b of statuses) {
        const d = statusDelta(a, b);
        expect(d.delivered).toBe(kpiCounts(b).delivered - kpiCounts(a).delivered);
        expect(d.failed).toBe(kpiCounts(b).failed - kpiCounts(a).failed);
      }
  });
  test('sums and scales field by field', () => {
    expect(
      sumDeltas([{ sent: 1, failed: 1 }, { failed: -1, opens: 2 }, scaleDelta({ clicks: 1 }, 3)]),
    ).toEqual({
      sent: 1,
      delivered: 0,
      failed: 0,
      opens: 2,
      clicks: 3,
      complaints: 0,
    });
  });
});

describe('a row from hand-off to validity end, with any events', () => {
  const KINDS: OutcomeKind[] = ['delivered', 'ignored', 'delayed', 'soft', 'hard'];
  const failure = (kind: OutcomeKind): Pick<FeedbackEvent, 'failureType' | 'failureReason'> =>
    kind === 'delivered'
      ? { failureType: null, failureReason: null }
      : kind === 'ignored'
        ? { failureType: 'ignored', failureReason: 'out of office' }
        : kind === 'delayed'
          ? { failureType: 'soft', failureReason: 'unreachable' }
          : { failureType: kind, failureReason: kind === 'soft' ? 'mailbox full' : 'user unknown' };
  const scenario = fc.record({
    efs: fc.boolean(),
    attempts: fc.integer({ min: 1, max: 3 }),
    events: fc.array(
      fc.record({
        attempt: fc.integer({ min: 1, max: 3 }),
        kind: fc.constantFrom(...KINDS),
        occurredAt: fc.integer({ min: 0, max: 3 }),
      }),
      { maxLength: 12 },
    ),
  });

  test('the deltas add up to a recount of the final status, counted once as sent', () => {
    fc.assert(
      fc.property(scenario, ({ efs, attempts, events }) => {
        const first = handedOver(efs);
        const start: LogState = {
          status: first.status,
          attempts,
          outcome: null,
          failureType: null,
          failureReason: null,
        };
        const applied = applyEvents(
          start,
          events.map((e, i) => ({ eventId: `e${i}`, ...e, ...failure(e.kind) })),
          efs,
        );
        const end = validityEnd({
          status: applied.state.status,
          attempts,
          outcomeKind: applied.state.outcome?.kind ?? null,
          outcomeAttempt: applied.state.outcome?.attempt ?? null,
        });
        const final = end?.status ?? applied.state.status;
        const total = sumDeltas([
          first.delta,
          { delivered: applied.delivered, failed: applied.failed },
          end?.delta ?? {},
        ]);
        expect(total).toEqual({ sent: 1, ...kpiCounts(final), opens: 0, clicks: 0, complaints: 0 });
        // After the validity end no soft-bounced latest attempt is left counted as delivered.
        if (applied.state.outcome?.kind === 'soft' && applied.state.outcome.attempt === attempts)
          expect(final).toBe('failed');
      }),
    );
  });
});
