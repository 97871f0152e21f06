// Quarantine rules: the reference product's counting, immediate quarantine, reset, release, and properties over any history.
import fc from 'fast-check';
import {
  type AddressOutcome,
  applyAddressOutcome,
  IMMEDIATE_QUARANTINE_REASONS,
  isQuarantined,
  type QuarantineEntry,
  type QuarantineRules,
  releaseTime,
} from './quarantine-rules';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const RULES: QuarantineRules = { threshold: 5, spacingMs: DAY, mailboxFullReleaseMs: 30 * DAY };
const T0 = Date.UTC(2026, 0, 1);

type Step = [hours: number, kind: AddressOutcome['kind'], reason?: string | null];

const outcome = ([hours, kind, reason]: Step, deliveryId = `d${hours}`): AddressOutcome => ({
  email: 'a@example.com',
  deliveryId,
  at: T0 + hours * HOUR,
  kind,
  reason: reason ?? (kind === 'soft' ? 'mailbox full' : kind === 'hard' ? 'user unknown' : null),
});

function run(steps: Step[], rules = RULES, start: QuarantineEntry | null = null): QuarantineEntry | null {
  return steps.reduce((entry, step) => applyAddressOutcome(entry, outcome(step), rules), start);
}

/** Five soft failures a day apart, the last one at hour 96. */
const fiveDays = (reason = 'unreachable'): Step[] => [0, 24, 48, 72, 96].map((h) => [h, 'soft', reason]);

/** An operator's release, as `releaseAddress` writes it. */
const released = (entry: QuarantineEntry, hours: number): QuarantineEntry => ({
  ...entry,
  releasedAt: T0 + hours * HOUR,
  errorCount: 0,
  lastCountedAt: null,
});

describe('counting failures', () => {
  it.each<[string, Step[], { errorCount: number; quarantinedAt: number | null; reason?: string }]>([
    [
      'reaches the threshold with five soft failures a day apart',
      fiveDays(),
      {
        errorCount: 5,
        quarantinedAt: T0 + 96 * HOUR,
        reason: 'unreachable',
      },
    ],
    ['stays out of quarantine with four', fiveDays().slice(0, 4), { errorCount: 4, quarantinedAt: null }],
    [
      'counts a day of hourly retries once',
      Array.from({ length: 24 }, (_, h): Step => [h, 'soft']),
      {
        errorCount: 1,
        quarantinedAt: null,
      },
    ],
    [
      'spaces from the last counted failure, not the last failure',
      [
        [0, 'soft'],
        [23, 'soft'],
        [47, 'soft'],
        [48, 'soft'],
      ],
      {
        errorCount: 2,
        quarantinedAt: null,
      },
    ],
    [
      'never reaches the threshold with a failure every 23 hours counted every other time',
      Array.from({ length: 8 }, (_, i): Step => [i * 23, 'soft']),
      { errorCount: 4, quarantinedAt: null },
    ],
    [
      'quarantines at once on a hard "user unknown"',
      [[5, 'hard', 'user unknown']],
      {
        errorCount: 1,
        quarantinedAt: T0 + 5 * HOUR,
        reason: 'user unknown',
      },
    ],
    [
      'quarantines at once on a spam complaint ("on denylist")',
      [
        [0, 'soft'],
        [1, 'hard', 'on denylist'],
      ],
      {
        errorCount: 2,
        quarantinedAt: T0 + HOUR,
        reason: 'on denylist',
      },
    ],
    [
      'counts another hard failure like a soft one',
      [
        [0, 'hard', 'invalid domain'],
        [1, 'hard', 'invalid domain'],
      ],
      {
        errorCount: 1,
        quarantinedAt: null,
        reason: 'invalid domain',
      },
    ],
    [
      'quarantines on five spaced hard "invalid domain"',
      fiveDays('invalid domain').map(([h]): Step => [h, 'hard', 'invalid domain']),
      {
        errorCount: 5,
        quarantinedAt: T0 + 96 * HOUR,
        reason: 'invalid domain',
      },
    ],
    [
      'never counts ignored answers',
      [...fiveDays().map(([h]): Step => [h, 'ignored', 'out of office']), [200, 'soft']],
      {
        errorCount: 1,
        quarantinedAt: null,
      },
    ],
    [
      'resets the counter on a delivery',
      [...fiveDays().slice(0, 4), [80, 'delivered'], [81, 'soft']],
      {
        errorCount: 1,
        quarantinedAt: null,
      },
    ],
    [
      'keeps a quarantined address quarantined after a delivery',
      [...fiveDays(), [100, 'delivered']],
      {
        errorCount: 5,
        quarantinedAt: T0 + 96 * HOUR,
      },
    ],
    [
      'does not undo a failure with an older delivery that arrives late',
      [
        [0, 'soft'],
        [24, 'soft'],
        [10, 'delivered'],
      ],
      {
        errorCount: 2,
        quarantinedAt: null,
      },
    ],
    [
      'quarantines with the reason of the failure that reached the threshold',
      [
        [0, 'soft', 'refused'],
        [24, 'soft', 'refused'],
        [48, 'soft', 'refused'],
        [72, 'soft', 'refused'],
        [96, 'soft', 'mailbox full'],
      ],
      { errorCount: 5, quarantinedAt: T0 + 96 * HOUR, reason: 'mailbox full' },
    ],
  ])('%s', (_, steps, expected) => {
    expect(run(steps)).toMatchObject(expected);
  });

  it('stores nothing for an address that only has deliveries and ignored answers', () => {
    expect(
      run([
        [0, 'delivered'],
        [1, 'ignored', 'out of office'],
        [2, 'delivered'],
      ]),
    ).toBeNull();
  });

  it('tracks first and last failure and the delivery of the last one', () => {
    const entry = run([
      [10, 'soft'],
      [12, 'soft'],
      [11, 'soft', 'refused'],
    ]);
    expect(entry).toMatchObject({
      firstFailureAt: T0 + 10 * HOUR,
      lastFailureAt: T0 + 12 * HOUR,
      deliveryId: 'd12',
      reason: 'mailbox full',
      failureType: 'soft',
    });
  });

  it('follows the configured threshold and spacing', () => {
    const rules = { threshold: 2, spacingMs: 1000, mailboxFullReleaseMs: 5000 };
    const entry = [0, 999, 1000].reduce<QuarantineEntry | null>(
      (e, ms) => applyAddressOutcome(e, { ...outcome([0, 'soft']), at: T0 + ms }, rules),
      null,
    );
    expect(entry).toMatchObject({ errorCount: 2, quarantinedAt: T0 + 1000 });
  });
});

describe('in quarantine', () => {
  it('keeps the quarantine reason when later soft failures come', () => {
    const entry = run([
      [0, 'hard', 'user unknown'],
      [30, 'soft', 'mailbox full'],
    ]);
    expect(entry).toMatchObject({ reason: 'user unknown', errorCount: 1, lastFailureAt: T0 + 30 * HOUR });
  });

  it('turns a "mailbox full" quarantine into a lasting one on "user unknown"', () => {
    const entry = run([...fiveDays('mailbox full'), [100, 'hard', 'user unknown']])!;
    expect(entry).toMatchObject({
      reason: 'user unknown',
      failureType: 'hard',
      quarantinedAt: T0 + 96 * HOUR,
    });
    expect(isQuarantined(entry, T0 + 96 * HOUR + 31 * DAY, RULES)).toBe(true);
  });
});

describe('release', () => {
  const mailboxFull = run(fiveDays('mailbox full'))!;
  const quarantinedAt = T0 + 96 * HOUR;

  it.each<[string, number, boolean]>([
    ['quarantines "mailbox full" until its release delay', quarantinedAt + 30 * DAY - 1, true],
    ['releases "mailbox full" by itself once the delay has run out', quarantinedAt + 30 * DAY, false],
  ])('%s', (_, now, expected) => {
    expect(isQuarantined(mailboxFull, now, RULES)).toBe(expected);
  });

  it('never releases another reason by itself', () => {
    const entry = run(fiveDays('refused'))!;
    expect(isQuarantined(entry, quarantinedAt + 3650 * DAY, RULES)).toBe(true);
  });

  it('ends a quarantine when an operator releases it', () => {
    const entry = released(run([[0, 'hard', 'user unknown']])!, 5);
    expect(isQuarantined(entry, T0 + 6 * HOUR, RULES)).toBe(false);
    expect(releaseTime(entry, T0 + 6 * HOUR, RULES)).toBe(T0 + 5 * HOUR);
  });

  it('counts from zero again after an operator release', () => {
    const start = released(run([[0, 'hard', 'user unknown']])!, 5);
    const once = run([[6, 'soft']], RULES, start);
    expect(once).toMatchObject({ errorCount: 1, quarantinedAt: null, releasedAt: T0 + 5 * HOUR });
    const again = run(
      [
        [6, 'soft'],
        [30, 'soft'],
        [54, 'soft'],
        [78, 'soft'],
        [102, 'soft'],
      ],
      RULES,
      start,
    )!;
    expect(again).toMatchObject({ errorCount: 5, quarantinedAt: T0 + 102 * HOUR });
    expect(isQuarantined(again, T0 + 103 * HOUR, RULES)).toBe(true);
  });

  it('counts from zero again once "mailbox full" released itself', () => {
    const after = quarantinedAt + 31 * DAY;
    const entry = applyAddressOutcome(mailboxFull, { ...outcome([0, 'soft']), at: after }, RULES);
    expect(entry).toMatchObject({ errorCount: 1, quarantinedAt: null, releasedAt: quarantinedAt + 30 * DAY });
  });

  it('does not count a late failure that happened before the release', () => {
    const start = released(run([[0, 'hard', 'user unknown']])!, 5);
    const entry = run([[4, 'hard', 'user unknown']], RULES, start)!;
    expect(entry).toMatchObject({ errorCount: 0, quarantinedAt: null });
    expect(isQuarantined(entry, T0 + 6 * HOUR, RULES)).toBe(false);
  });
});

describe('properties over any history', () => {
  const REASONS = ['mailbox full', 'unreachable', 'invalid domain', ...IMMEDIATE_QUARANTINE_REASONS];
  const anOutcome = fc.record({
    email: fc.constant('a@example.com'),
    deliveryId: fc.constantFrom('1', '2', '3'),
    at: fc.integer({ min: 0, max: 60 * DAY }).map((ms) => T0 + ms),
    kind: fc.constantFrom<AddressOutcome['kind']>('delivered', 'ignored', 'soft', 'hard'),
    reason: fc.constantFrom(...REASONS),
  });
  const history = fc.array(anOutcome, { maxLength: 40 });
  const rules = fc.record({
    threshold: fc.integer({ min: 1, max: 6 }),
    spacingMs: fc.integer({ min: 1, max: 3 * DAY }),
    mailboxFullReleaseMs: fc.integer({ min: 1, max: 40 * DAY }),
  });
  const replay = (outcomes: AddressOutcome[], r: QuarantineRules) =>
    outcomes.reduce<QuarantineEntry | null>((e, o) => applyAddressOutcome(e, o, r), null);

  it('never counts beyond the threshold, and quarantines only at it or on an immediate reason', () => {
    fc.assert(
      fc.property(history, rules, (outcomes, r) => {
        let entry: QuarantineEntry | null = null;
        let now = 0; // feedback comes out of order: the state is checked at the latest time seen
        for (const o of outcomes) {
          entry = applyAddressOutcome(entry, o, r);
          now = Math.max(now, o.at);
          if (entry === null) continue;
          expect(entry.errorCount).toBeGreaterThanOrEqual(0);
          expect(entry.errorCount).toBeLessThanOrEqual(r.threshold);
          if (isQuarantined(entry, now, r))
            expect(
              entry.errorCount === r.threshold || IMMEDIATE_QUARANTINE_REASONS.includes(entry.reason ?? ''),
            ).toBe(true);
        }
      }),
    );
  });

  it('is the same whether ignored answers come or not', () => {
    fc.assert(
      fc.property(history, rules, (outcomes, r) => {
        expect(replay(outcomes, r)).toEqual(
          replay(
            outcomes.filter((o) => o.kind !== 'ignored'),
            r,
          ),
        );
      }),
    );
  });

  it('changes nothing on a duplicate (feedback is at-least-once)', () => {
    fc.assert(
      fc.property(history, rules, (outcomes, r) => {
        expect(
          replay(
            outcomes.flatMap((o) => [o, o]),
            r,
          ),
        ).toEqual(replay(outcomes, r));
      }),
    );
  });

  it('counts at most one failure per spacing period when failures come in order', () => {
    fc.assert(
      fc.property(history, rules, (outcomes, r) => {
        const failures = outcomes
          .filter((o) => o.kind === 'soft' || o.kind === 'hard')
          .map((o) => ({ ...o, kind: 'soft' as const, reason: 'unreachable' }))
          .sort((a, b) => a.at - b.at);
        const entry = replay(failures, r);
        if (entry === null) return;
        const span = failures.at(-1)!.at - failures[0]!.at;
        expect(entry.errorCount).toBeLessThanOrEqual(Math.floor(span / r.spacingMs) + 1);
      }),
    );
  });
});
