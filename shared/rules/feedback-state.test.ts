// The delivery-log state machine: DESIGN.md's two status tables row by row, the ordering rules of
// at-least-once, out-of-order feedback, and a property test that counters and final states do not
// depend on the order in which events arrive.
import fc from 'fast-check';
import {
  applyEvent,
  applyEvents,
  type FeedbackEvent,
  type LogState,
  type LogStatus,
  type OutcomeKind,
  outcomeOrder,
  statusFor,
} from './feedback-state';
import { rate } from './kpi';

type Direction = 'goes up' | 'goes down' | 'unchanged';

const FAILURE: Record<OutcomeKind, Pick<FeedbackEvent, 'failureType' | 'failureReason'>> = {
  delivered: { failureType: null, failureReason: null },
  ignored: { failureType: 'ignored', failureReason: 'out of office' },
  delayed: { failureType: 'soft', failureReason: 'unreachable' },
  soft: { failureType: 'soft', failureReason: 'mailbox full' },
  hard: { failureType: 'hard', failureReason: 'user unknown' },
};

const event = (
  kind: OutcomeKind,
  attempt: number,
  occurredAt: number,
  eventId = `${kind}-${attempt}-${occurredAt}`,
) => ({ eventId, attempt, kind, occurredAt, ...FAILURE[kind] }) satisfies FeedbackEvent;

/** A row as dispatch leaves it: handed to the MTA, no feedback yet. */
const handedOff = (efs: boolean, attempts = 1): LogState => ({
  status: statusFor(null, efs),
  attempts,
  outcome: null,
  failureType: null,
  failureReason: null,
});

const stateAfter = (row: LogState, events: FeedbackEvent[], efs: boolean) =>
  applyEvents(row, events, efs).state;

/** Soft-bounced on attempt 1, then retried: the retry worker has moved the row to attempt 2. */
const retried = (efs: boolean): LogState => ({
  ...stateAfter(handedOff(efs), [event('soft', 1, 100)], efs),
  attempts: 2,
});

const recount = (rows: LogState[]) => ({
  delivered: rows.filter((r) => r.status === 'sent').length,
  failed: rows.filter((r) => r.status === 'failed').length,
});

const direction = (before: number, now: number): Direction =>
  now > before ? 'goes up' : now < before ? 'goes down' : 'unchanged';

/**
 * Applies `e` to `subject` in a small delivery (the subject plus a fresh, a delivered and a hard-bounced
 * message) and reads the delivered % and bounces + errors % before and after, as the KPI tile computes them.
 */
function kpiStep(subject: LogState, e: FeedbackEvent, efs: boolean) {
  const others = [
    handedOff(efs),
    stateAfter(handedOff(efs), [event('delivered', 1, 50)], efs),
    stateAfter(handedOff(efs), [event('hard', 1, 50)], efs),
  ];
  const before = recount([subject, ...others]);
  const processed = others.length + 1;
  const t = applyEvent(subject, e, efs);
  const counters = { delivered: before.delivered + t.delivered, failed: before.failed + t.failed };
  expect(counters).toEqual(recount([t.state, ...others]));
  return {
    t,
    deliveredRate: direction(rate(before.delivered, processed), rate(counters.delivered, processed)),
    bouncesRate: direction(rate(before.failed, processed), rate(counters.failed, processed)),
  };
}

interface TableRow {
  step: string;
  before: LogState;
  event: FeedbackEvent;
  status: LogStatus;
  delivered: number;
  failed: number;
  retryDue: boolean;
  deliveredRate: Direction;
  bouncesRate: Direction;
}

function checkTableRow(row: TableRow, efs: boolean) {
  const { t, deliveredRate, bouncesRate } = kpiStep(row.before, row.event, efs);
  expect(t.verdict).toBe('applied');
  expect(t.state.status).toBe(row.status);
  expect({ delivered: t.delivered, failed: t.failed, retryDue: t.retryDue }).toEqual({
    delivered: row.delivered,
    failed: row.failed,
    retryDue: row.retryDue,
  });
  expect({ deliveredRate, bouncesRate }).toEqual({
    deliveredRate: row.deliveredRate,
    bouncesRate: row.bouncesRate,
  });
}

describe('DESIGN.md, without the Email Feedback Service (EFS off)', () => {
  const efs = false;

  test('message handed to the MTA: status sent, delivered % starts at 100 %, bounces + errors % at 0 %', () => {
    const rows = [handedOff(efs), handedOff(efs), handedOff(efs)];
    expect(rows.map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);
    const { delivered, failed } = recount(rows);
    expect([rate(delivered, rows.length), rate(failed, rows.length)]).toEqual([1, 0]);
  });

  test.each<TableRow>([
    {
      step: 'hard bounce reported',
      before: handedOff(efs),
      event: event('hard', 1, 200),
      status: 'failed',
      delivered: -1,
      failed: 1,
      retryDue: false,
      deliveredRate: 'goes down',
      bouncesRate: 'goes up',
    },
    // Stays `sent` until the validity period ends; `retryDue` asks the retry worker for the next attempt.
    {
      step: 'soft bounce reported',
      before: handedOff(efs),
      event: event('soft', 1, 200),
      status: 'sent',
      delivered: 0,
      failed: 0,
      retryDue: true,
      deliveredRate: 'unchanged',
      bouncesRate: 'unchanged',
    },
    // A delay (the MTA retrying by itself) is a soft bounce whose retry is the MTA's: none of ours is asked for.
    {
      step: 'delay reported by the MTA',
      before: handedOff(efs),
      event: event('delayed', 1, 200),
      status: 'sent',
      delivered: 0,
      failed: 0,
      retryDue: false,
      deliveredRate: 'unchanged',
      bouncesRate: 'unchanged',
    },
    {
      step: 'a retry succeeds',
      before: retried(efs),
      event: event('delivered', 2, 200),
      status: 'sent',
      delivered: 0,
      failed: 0,
      retryDue: false,
      deliveredRate: 'unchanged',
      bouncesRate: 'unchanged',
    },
  ])('$step: status $status, delivered % $deliveredRate, bounces + errors % $bouncesRate', (row) => {
    checkTableRow(row, efs);
  });

  // The row "retries fail (validity period over) → failed" is the finalization at the end of the
  // validity period (issue 6), not this module: here the last soft bounce only leaves the row `sent`.
  test('retries fail, before the validity period is over: the last soft bounce leaves the row sent', () => {
    const { t, deliveredRate, bouncesRate } = kpiStep(retried(efs), event('soft', 2, 200), efs);
    expect([t.state.status, t.delivered, t.failed, deliveredRate, bouncesRate]).toEqual([
      'sent',
      0,
      0,
      'unchanged',
      'unchanged',
    ]);
  });
});

describe('DESIGN.md, with the Email Feedback Service (EFS on)', () => {
  const efs = true;

  test('message handed to the MTA: status pending, delivered % starts at 0 %, bounces + errors % at 0 %', () => {
    const rows = [handedOff(efs), handedOff(efs), handedOff(efs)];
    expect(rows.map((r) => r.status)).toEqual(['pending', 'pending', 'pending']);
    const { delivered, failed } = recount(rows);
    expect([rate(delivered, rows.length), rate(failed, rows.length)]).toEqual([0, 0]);
  });

  const lastSoftBounce = stateAfter(retried(efs), [event('soft', 2, 200)], efs);
  test.each<TableRow>([
    {
      step: 'delivery confirmed by the MTA',
      before: handedOff(efs),
      event: event('delivered', 1, 200),
      status: 'sent',
      delivered: 1,
      failed: 0,
      retryDue: false,
      deliveredRate: 'goes up',
      bouncesRate: 'unchanged',
    },
    {
      step: 'hard bounce reported',
      before: handedOff(efs),
      event: event('hard', 1, 200),
      status: 'failed',
      delivered: 0,
      failed: 1,
      retryDue: false,
      deliveredRate: 'unchanged',
      bouncesRate: 'goes up',
    },
    {
      step: 'soft bounce reported',
      before: handedOff(efs),
      event: event('soft', 1, 200),
      status: 'failed',
      delivered: 0,
      failed: 1,
      retryDue: true,
      deliveredRate: 'unchanged',
      bouncesRate: 'goes up',
    },
    {
      step: 'delay reported by the MTA',
      before: handedOff(efs),
      event: event('delayed', 1, 200),
      status: 'failed',
      delivered: 0,
      failed: 1,
      retryDue: false,
      deliveredRate: 'unchanged',
      bouncesRate: 'goes up',
    },
    {
      step: "the MTA's own retry succeeds after a delay",
      before: stateAfter(handedOff(efs), [event('delayed', 1, 100)], efs),
      event: event('delivered', 1, 200),
      status: 'sent',
      delivered: 1,
      failed: -1,
      retryDue: false,
      deliveredRate: 'goes up',
      bouncesRate: 'goes down',
    },
    {
      step: 'the MTA gives up after a delay',
      before: stateAfter(handedOff(efs), [event('delayed', 1, 100)], efs),
      event: event('hard', 1, 200),
      status: 'failed',
      delivered: 0,
      failed: 0,
      retryDue: false,
      deliveredRate: 'unchanged',
      bouncesRate: 'unchanged',
    },
    {
      step: 'a retry succeeds',
      before: retried(efs),
      event: event('delivered', 2, 200),
      status: 'sent',
      delivered: 1,
      failed: -1,
      retryDue: false,
      deliveredRate: 'goes up',
      bouncesRate: 'goes down',
    },
    // Whether another attempt fits in the validity period is the retry worker's call (issue 6).
    {
      step: 'retries fail (the last attempt soft-bounces)',
      before: retried(efs),
      event: event('soft', 2, 200),
      status: 'failed',
      delivered: 0,
      failed: 0,
      retryDue: true,
      deliveredRate: 'unchanged',
      bouncesRate: 'unchanged',
    },
    {
      step: 'retries fail (a further soft bounce of the same attempt)',
      before: lastSoftBounce,
      event: event('soft', 2, 300),
      status: 'failed',
      delivered: 0,
      failed: 0,
      retryDue: true,
      deliveredRate: 'unchanged',
      bouncesRate: 'unchanged',
    },
  ])('$step: status $status, delivered % $deliveredRate, bounces + errors % $bouncesRate', (row) => {
    checkTableRow(row, efs);
  });
});

describe.each([false, true])('feedback ordering rules (EFS %p)', (efs) => {
  test.each<OutcomeKind>(['delivered', 'ignored', 'soft', 'hard'])(
    'a later %s event for an older attempt never overrides the newer attempt’s outcome',
    (kind) => {
      const row = stateAfter(retried(efs), [event('delivered', 2, 200)], efs);
      const t = applyEvent(row, event(kind, 1, 900), efs);
      expect(t).toEqual({ verdict: 'stale', state: row, delivered: 0, failed: 0, retryDue: false });
    },
  );

  test.each<OutcomeKind>(['delivered', 'ignored', 'soft'])(
    'a hard bounce is final: a later %s event of the same attempt is stale',
    (kind) => {
      const row = stateAfter(handedOff(efs), [event('hard', 1, 100)], efs);
      const t = applyEvent(row, event(kind, 1, 900), efs);
      expect(t).toEqual({ verdict: 'stale', state: row, delivered: 0, failed: 0, retryDue: false });
      expect(row.status).toBe('failed');
    },
  );

  test.each<OutcomeKind>(['delivered', 'ignored', 'soft', 'hard'])(
    'a duplicate %s event (same id, same content) is a no-op',
    (kind) => {
      const e = event(kind, 1, 100, 'evt-1');
      const row = stateAfter(handedOff(efs), [e], efs);
      expect(applyEvent(row, { ...e }, efs)).toEqual({
        verdict: 'stale',
        state: row,
        delivered: 0,
        failed: 0,
        retryDue: false,
      });
    },
  );

  test.each([0, 2])(
    'an event for attempt %i of a row at attempt 1 is unknown-attempt and changes nothing',
    (n) => {
      const row = handedOff(efs);
      const t = applyEvent(row, event('hard', n, 100), efs);
      expect(t).toEqual({ verdict: 'unknown-attempt', state: row, delivered: 0, failed: 0, retryDue: false });
    },
  );

  test('a soft bounce of an older attempt asks for no retry', () => {
    const t = applyEvent(handedOff(efs, 2), event('soft', 1, 100), efs);
    expect([t.verdict, t.retryDue]).toEqual(['applied', false]);
  });

  test.each([
    ['delivered then soft', event('delivered', 1, 100), event('soft', 1, 200), 'soft'],
    ['soft then delivered', event('soft', 1, 100), event('delivered', 1, 200), 'delivered'],
  ])('same attempt, %s: the later occurredAt wins in either arrival order', (_, first, second, winner) => {
    const forward = stateAfter(handedOff(efs), [first, second], efs);
    expect(stateAfter(handedOff(efs), [second, first], efs)).toEqual(forward);
    expect(forward.outcome?.kind).toBe(winner);
    expect(forward.status).toBe(statusFor(forward.outcome, efs));
  });

  test.each([
    // Equal times: the kind decides (a soft bounce over a delivery), then the event id.
    ['delivered and soft', event('delivered', 1, 100, 'b'), event('soft', 1, 100, 'a'), 'a'],
    [
      'two soft bounces',
      event('soft', 1, 100, 'a'),
      { ...event('soft', 1, 100, 'b'), failureReason: 'refused' as const },
      'b',
    ],
  ])(
    'same attempt, %s at equal times: resolved the same way in either arrival order',
    (_, one, other, winner) => {
      const forward = stateAfter(handedOff(efs), [one, other], efs);
      expect(stateAfter(handedOff(efs), [other, one], efs)).toEqual(forward);
      expect(forward.outcome?.eventId).toBe(winner);
    },
  );
});

describe('delivered and ignored outcomes', () => {
  test('delivered without EFS changes no status or counter, after a hand-off or a soft bounce', () => {
    for (const row of [handedOff(false), stateAfter(handedOff(false), [event('soft', 1, 100)], false)]) {
      const t = applyEvent(row, event('delivered', 1, 200), false);
      expect([t.state.status, t.delivered, t.failed, t.retryDue]).toEqual(['sent', 0, 0, false]);
    }
  });

  test.each([false, true])(
    'a delivery after a soft bounce clears the failure type and reason (EFS %p)',
    (efs) => {
      const t = applyEvent(retried(efs), event('delivered', 2, 200), efs);
      expect(retried(efs)).toMatchObject({ failureType: 'soft', failureReason: 'mailbox full' });
      expect(t.state).toMatchObject({ status: 'sent', failureType: null, failureReason: null });
    },
  );

  test.each([
    ['EFS off, handed off', false, handedOff(false), 0, 0],
    ['EFS on, pending', true, handedOff(true), 1, 0],
    ['EFS on, after a soft bounce', true, retried(true), 1, -1],
  ])(
    'an ignored (out-of-office) answer counts as delivered, never as failed (%s)',
    (_, efs, row, dDelivered, dFailed) => {
      const t = applyEvent(row, event('ignored', row.attempts, 200), efs);
      expect(t.state).toMatchObject({
        status: 'sent',
        failureType: 'ignored',
        failureReason: 'out of office',
      });
      expect([t.delivered, t.failed, t.retryDue]).toEqual([dDelivered, dFailed, false]);
    },
  );
});

describe('any sequence of events, with duplicates, in any order of arrival', () => {
  const KINDS: OutcomeKind[] = ['delivered', 'ignored', 'delayed', 'soft', 'hard'];
  const REASONS = {
    soft: ['mailbox full', 'unreachable'],
    hard: ['user unknown', 'invalid domain'],
  } as const;

  interface Arrival {
    row: number;
    event: FeedbackEvent;
  }

  const toEvent = (kind: OutcomeKind, attempt: number, occurredAt: number, reason: 0 | 1, eventId: string) =>
    ({
      ...event(kind, attempt, occurredAt, eventId),
      ...(kind === 'soft' || kind === 'hard' ? { failureReason: REASONS[kind][reason] } : {}),
    }) satisfies FeedbackEvent;

  // A few rows; events for them with attempts up to one past the row's (unknown-attempt included) and
  // times from a tiny range so that ties happen; some events repeated verbatim; two orders of arrival.
  const scenario = fc
    .array(fc.record({ efs: fc.boolean(), attempts: fc.integer({ min: 1, max: 3 }) }), {
      minLength: 1,
      maxLength: 4,
    })
    .chain((rows) => {
      const anEvent = fc.integer({ min: 0, max: rows.length - 1 }).chain((row) =>
        fc.record({
          row: fc.constant(row),
          attempt: fc.integer({ min: 1, max: rows[row]!.attempts + 1 }),
          kind: fc.constantFrom(...KINDS),
          occurredAt: fc.integer({ min: 0, max: 3 }),
          reason: fc.constantFrom<0 | 1>(0, 1),
        }),
      );
      return fc.record({
        rows: fc.constant(rows),
        events: fc.array(anEvent, { maxLength: 24 }),
        repeats: fc.array(fc.nat(), { maxLength: 8 }),
      });
    })
    .map(({ rows, events, repeats }) => {
      const unique: Arrival[] = events.map((e, i) => ({
        row: e.row,
        event: toEvent(e.kind, e.attempt, e.occurredAt, e.reason, `evt-${i}`),
      }));
      const duplicates =
        unique.length === 0 ? [] : repeats.map((n) => structuredClone(unique[n % unique.length]!));
      return { rows, all: [...unique, ...duplicates] };
    })
    .chain(({ rows, all }) => {
      const order = fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
      return fc.record({ rows: fc.constant(rows), arrival: order, permutation: order });
    });

  test('counters always equal a recount, and every order of arrival ends in the same states', () => {
    fc.assert(
      fc.property(scenario, ({ rows, arrival, permutation }) => {
        const initial = rows.map(({ efs, attempts }) => handedOff(efs, attempts));

        // (a) In arrival order, one event at a time, keeping the running KPI counters.
        const states = [...initial];
        const counters = { delivered: recount(initial).delivered, failed: 0 };
        for (const { row, event: e } of arrival) {
          const t = applyEvent(states[row]!, e, rows[row]!.efs);
          states[row] = t.state;
          counters.delivered += t.delivered;
          counters.failed += t.failed;
          expect(counters).toEqual(recount(states));
        }

        // (b) Another order of the same events, a row's events at once, lands on the same states.
        const permuted = initial.map((row, i) => {
          const mine = permutation.filter((a) => a.row === i).map((a) => a.event);
          return applyEvents(row, mine, rows[i]!.efs);
        });
        expect(permuted.map((p) => p.state)).toEqual(states);
        const sum = permuted.reduce(
          (s, p) => ({ delivered: s.delivered + p.delivered, failed: s.failed + p.failed }),
          {
            delivered: recount(initial).delivered,
            failed: 0,
          },
        );
        expect(sum).toEqual(counters);

        // The deciding outcome is the greatest event of an attempt the row has, whatever the order.
        states.forEach((state, i) => {
          const known = arrival.filter((a) => a.row === i && a.event.attempt <= state.attempts);
          const best = known
            .map((a) => a.event)
            .sort((x, y) => outcomeOrder(x, y))
            .at(-1);
          expect(state.outcome?.eventId ?? null).toBe(best?.eventId ?? null);
          expect(state.status).toBe(statusFor(state.outcome, rows[i]!.efs));
        });
      }),
      { numRuns: 1000 },
    );
  });
});
