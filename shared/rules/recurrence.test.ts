// Recurrence arithmetic: validation, occurrences across daylight-saving changes, aggregation periods.
import {
  nextOccurrence,
  occurrencesBetween,
  periodKey,
  recurrenceProblem,
  shortestInterval,
} from './recurrence';

const at = (iso: string) => new Date(iso);
const iso = (dates: Date[]) => dates.map((d) => d.toISOString());
const paris = (cron: string) => ({ cron, timezone: 'Europe/Paris', until: null });

describe('recurrenceProblem', () => {
  const now = at('2026-11-24T12:00:00Z');
  it.each([
    [{ cron: '0 9 * * 1', timezone: 'Europe/Paris', until: null }, null],
    [{ cron: '*/5 * * * * *', timezone: 'UTC', until: null }, null],
    [{ cron: '0 9 * * 1', timezone: 'Mars/Olympus', until: null }, 'is not a time zone; give an IANA name'],
    [{ cron: '61 * * * *', timezone: 'UTC', until: null }, 'is not a cron expression (Constraint error'],
    [{ cron: 'every monday', timezone: 'UTC', until: null }, 'is not a cron expression'],
    [{ cron: '0 9 * * 1', timezone: 'UTC', until: at('2026-11-01T00:00:00Z') }, 'is in the past'],
    [
      { cron: '0 9 1 1 *', timezone: 'UTC', until: at('2026-12-01T00:00:00Z') },
      'has no occurrence before --until',
    ],
    [{ cron: '', timezone: 'UTC', until: null }, '--recurrence is empty'],
    [{ cron: '  ', timezone: 'UTC', until: null }, '--recurrence is empty'],
    [
      { cron: 'every monday', timezone: 'UTC', until: null },
      'is not a cron expression: it has 2 fields, and a cron expression has five',
    ],
    [{ cron: '* * *', timezone: 'UTC', until: null }, 'has 3 fields'],
    [{ cron: '@daily', timezone: 'UTC', until: null }, null],
  ])('%j → %s', (r, problem) => {
    const found = recurrenceProblem(r, now);
    if (problem === null) expect(found).toBeNull();
    else expect(found).toContain(problem);
  });
});

describe('the frequency floor', () => {
  const now = at('2026-11-24T12:00:00Z');
  const hour = 3_600_000;
  it.each([
    ['0 9 * * 1', null],
    ['0 * * * *', null],
    ['* * * * *', 'runs every 1m, more often than once every 1h'],
    ['*/2 * * * * *', 'runs every 2s'],
    // Hourly most of the day, but 09:00 and 09:30 are half an hour apart.
    ['0,30 9 * * *', 'runs every 30m'],
    ['* 9 1 1 *', 'runs every 1m'],
  ])('%s → %s', (cron, problem) => {
    const found = recurrenceProblem({ cron, timezone: 'Europe/Paris', until: null }, now, hour);
    if (problem === null) expect(found).toBeNull();
    else expect(found).toContain(problem);
  });

  it('no floor (0) accepts any schedule', () => {
    expect(recurrenceProblem({ cron: '* * * * * *', timezone: 'UTC', until: null }, now, 0)).toBeNull();
  });

  it('shortestInterval is the closest pair among the next occurrences, within --until', () => {
    expect(shortestInterval({ cron: '0 9,17 * * *', timezone: 'UTC', until: null }, now)).toBe(8 * hour);
    const until = at('2026-11-24T12:30:00Z');
    expect(shortestInterval({ cron: '0 * * * *', timezone: 'UTC', until }, now)).toBeNull();
  });
});

describe('occurrencesBetween', () => {
  it('Mondays at 09:00 in Paris follow the local clock across the change to winter time', () => {
    expect(
      iso(occurrencesBetween(paris('0 9 * * 1'), at('2026-10-18T00:00:00Z'), at('2026-11-03T00:00:00Z'))),
    ).toEqual([
      '2026-10-19T07:00:00.000Z', // summer time, UTC+2
      '2026-10-26T08:00:00.000Z', // winter time, UTC+1
      '2026-11-02T08:00:00.000Z',
    ]);
  });

  it('spring forward: a daily 02:30 that does not exist that day runs once, at the shifted time', () => {
    // 2026-03-29 in Paris: 02:00 jumps to 03:00.
    expect(
      iso(occurrencesBetween(paris('30 2 * * *'), at('2026-03-27T12:00:00Z'), at('2026-03-31T12:00:00Z'))),
    ).toEqual([
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:30:00.000Z', // 03:30 local: once, not skipped
      '2026-03-30T00:30:00.000Z',
      '2026-03-31T00:30:00.000Z',
    ]);
  });

  it('fall back: a daily 02:30 that happens twice that day runs once', () => {
    // 2026-10-25 in Paris: 03:00 falls back to 02:00, so 02:30 happens at 00:30Z and at 01:30Z.
    const runs = occurrencesBetween(
      paris('30 2 * * *'),
      at('2026-10-23T12:00:00Z'),
      at('2026-10-27T12:00:00Z'),
    );
    expect(iso(runs)).toEqual([
      '2026-10-24T00:30:00.000Z',
      '2026-10-25T00:30:00.000Z', // once, not doubled
      '2026-10-26T01:30:00.000Z',
      '2026-10-27T01:30:00.000Z',
    ]);
  });

  it('an hourly schedule runs every real hour through the fall-back night, none twice', () => {
    const runs = occurrencesBetween(
      paris('0 * * * *'),
      at('2026-10-24T23:30:00Z'),
      at('2026-10-25T03:30:00Z'),
    );
    expect(iso(runs)).toEqual([
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T01:00:00.000Z',
      '2026-10-25T02:00:00.000Z',
      '2026-10-25T03:00:00.000Z',
    ]);
  });

  it('stops at --until, and excludes the start instant', () => {
    const r = { cron: '0 * * * *', timezone: 'UTC', until: at('2026-11-24T03:00:00Z') };
    expect(iso(occurrencesBetween(r, at('2026-11-24T01:00:00Z'), at('2026-11-25T00:00:00Z')))).toEqual([
      '2026-11-24T02:00:00.000Z',
      '2026-11-24T03:00:00.000Z',
    ]);
    expect(nextOccurrence(r, at('2026-11-24T03:00:00Z'))).toBeNull();
  });
});

describe('periodKey', () => {
  it.each([
    ['2026-11-24T23:30:00Z', 'UTC', 'day', '2026-11-24'],
    ['2026-11-24T23:30:00Z', 'Europe/Paris', 'day', '2026-11-25'],
    ['2026-11-24T10:00:00Z', 'UTC', 'month', '2026-11'],
    ['2026-11-30T23:30:00Z', 'Europe/Paris', 'month', '2026-12'],
    ['2026-11-24T10:00:00Z', 'UTC', 'week', '2026-W48'],
    ['2026-01-01T10:00:00Z', 'UTC', 'week', '2026-W01'], // a Thursday
    ['2027-01-01T10:00:00Z', 'UTC', 'week', '2026-W53'], // a Friday of 2026's last week
    ['2024-12-30T10:00:00Z', 'UTC', 'week', '2025-W01'], // a Monday in week 1 of 2025
    ['2026-11-29T23:30:00Z', 'Europe/Paris', 'week', '2026-W49'], // Monday already in Paris
  ] as const)('%s in %s by %s is %s', (when, zone, period, key) => {
    expect(periodKey(at(when), zone, period)).toBe(key);
  });
});
