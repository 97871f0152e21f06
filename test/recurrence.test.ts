// Recurring deliveries with an injected clock: executions, confirm-each, skipping, periods, pause, audience.
import type { PipelineProcess } from '../workers/start/process';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { addOperator, recipientsCsv } from './helpers/fixtures';
import { startPipeline, waitFor } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

let t: TestEnv;
let mta: TestMta;
let pipeline: PipelineProcess;
// The workers' clock: moved by the tests; null follows real time. The CLI runs on real time, so a
// schedule's first occurrence is the next one after today, and the tests move the clock from there.
let clock: Date | null = null;
const now = () => clock ?? new Date();
const DAY = 86_400_000;
const HOUR = 3_600_000;
const shift = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

beforeAll(async () => {
  mta = await startTestMta();
  t = await createTestEnv({ MTA_URL: mta.url, RECURRENCE_TICK: '200ms' });
  pipeline = await startPipeline(t, { roles: ['confirm', 'dispatch'], now });
  await addOperator(t, 'alice');
});

beforeEach(async () => {
  await t.sql`delete from quarantine`;
});

// A test that failed before pausing its schedule must not produce executions in the next ones.
afterEach(async () => {
  await t.sql`update recurring_schedules set paused = true`;
});

afterAll(async () => {
  await pipeline.stop();
  await mta.close();
  await t.cleanup();
});

interface Execution {
  id: string | null;
  occurrenceAt: string;
  state: string;
  reason: string | null;
  sent: number;
  periodDeliveryId: string | null;
}
interface Recurring {
  state: string;
  nextOccurrence: string | null;
  recipients: number;
  executions: Execution[];
}
const status = async <T = Recurring>(id: string) => (await cli(t.env, 'status', id, '--json')).json<T>();

async function recurring(count: number, ...options: string[]): Promise<string> {
  const r = await cli(
    t.env,
    'delivery',
    'create',
    '--label',
    'weekly',
    '--recipients',
    recipientsCsv(count),
    '--json',
    ...options,
  );
  if (r.code !== 0) throw new Error(r.stderr);
  expect(r.json()).toMatchObject({ recurring: true });
  return r.json<{ id: string }>().id;
}

/** Moves the clock, then waits until the recurring delivery has `n` executions in a settled state. */
async function advanceTo(iso: string, id: string, n: number, settled = ['sent', 'missed', 'skipped']) {
  // A second after the occurrence; an execution that starts by itself is settled once sent.
  clock = new Date(Date.parse(iso) + 1000);
  return waitFor(
    async () => {
      const s = await status(id);
      return s.executions.length === n && s.executions.every((e) => settled.includes(e.state)) && s;
    },
    20_000,
    `${n} executions of delivery ${id}`,
  );
}

test('without --confirm-each, each occurrence is a delivery of its own that sends by itself', async () => {
  clock = null;
  const id = await recurring(
    3,
    '--recurrence',
    '0 9 * * *',
    '--timezone',
    'Europe/Paris',
    '--validity',
    '6h',
  );
  const created = await status(id);
  expect(created).toMatchObject({ state: 'recurring', recipients: 3, executions: [] });
  const x = created.nextOccurrence!;
  expect(
    new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', timeStyle: 'short' }).format(new Date(x)),
  ).toBe('09:00');
  const sentBefore = mta.received.length;
  const first = await advanceTo(x, id, 1);
  const second = await advanceTo(shift(x, DAY), id, 2);
  expect(second.executions.map((e) => [e.occurrenceAt, e.state, e.sent])).toEqual([
    [x, 'sent', 3],
    [shift(x, DAY), 'sent', 3],
  ]);
  expect(mta.received.length - sentBefore).toBe(6);
  // Each execution has its own id, logs and validity period starting at its occurrence.
  const own = await status<{ toSend: number; sent: number; validUntil: string }>(first.executions[0]!.id!);
  expect(own).toMatchObject({ toSend: 3, sent: 3, validUntil: shift(x, 6 * HOUR) });
  expect(second.executions[1]!.id).not.toBe(first.executions[0]!.id);
  await cli(t.env, 'delivery', 'pause', id);
});

test('--confirm-each: an execution waits for a confirm, and one left unconfirmed is skipped, never sent late', async () => {
  clock = null;
  const id = await recurring(2, '--recurrence', '0 9 * * *', '--confirm-each', '--validity', '2d');
  const x = (await status(id)).nextOccurrence!;
  const sentBefore = mta.received.length;
  const waits = ['sent', 'prepared', 'skipped'];
  const one = await advanceTo(x, id, 1, waits);
  expect(one.executions[0]).toMatchObject({ state: 'prepared', sent: 0 });
  expect(mta.received.length).toBe(sentBefore);

  // A confirm of the recurring delivery confirms its waiting execution (through the delivery-confirm queue).
  const confirmed = await cli(t.env, 'confirm', id, '--as', 'alice', '--wait', '--json');
  expect(confirmed.code).toBe(0);
  expect(confirmed.json()).toMatchObject({ id: one.executions[0]!.id, state: 'sent', sent: 2 });

  const two = await advanceTo(shift(x, DAY), id, 2, waits);
  const waiting = two.executions[1]!;
  expect(waiting).toMatchObject({ state: 'prepared' });
  const three = await advanceTo(shift(x, 2 * DAY), id, 3, waits);
  expect(three.executions.map((e) => e.state)).toEqual(['sent', 'skipped', 'prepared']);
  expect(three.executions[1]!.reason).toBe(
    `not confirmed before the next occurrence (${shift(x, 2 * DAY)}); never sent late`,
  );
  expect(await status<{ state: string; stateReason: string }>(waiting.id!)).toMatchObject({
    state: 'skipped',
    stateReason: three.executions[1]!.reason,
  });
  const late = await cli(t.env, 'confirm', waiting.id!, '--as', 'alice', '--wait');
  expect(late.code).toBe(1);
  expect(late.stderr).toContain(
    `delivery ${waiting.id} is not prepared (it is skipped: not confirmed before the next occurrence`,
  );
  // The next occurrence comes: a confirm of the waiting execution is refused at once, even before the
  // sweep has produced that occurrence and skipped it.
  clock = new Date(Date.parse(shift(x, 3 * DAY)) + 1000);
  const tooLate = await cli(t.env, 'confirm', three.executions[2]!.id!, '--as', 'alice', '--wait');
  expect(tooLate.code).toBe(1);
  expect(tooLate.stderr).toMatch(
    /next occurrence came at|it is skipped: not confirmed before the next occurrence/,
  );
  expect(mta.received.length - sentBefore).toBe(2);
  await cli(t.env, 'delivery', 'pause', id);
});

test('with an aggregation period, the executions of one period add their messages to one delivery', async () => {
  clock = null;
  const id = await recurring(2, '--recurrence', '0 */6 * * *', '--aggregate', 'day', '--validity', '1h');
  const x = (await status(id)).nextOccurrence!;
  let s = await advanceTo(x, id, 1);
  for (let i = 1; i < 5; i++) s = await advanceTo(shift(x, i * 6 * HOUR), id, i + 1);
  // Five occurrences six hours apart span two days: two deliveries, each the sum of its executions.
  const byPeriod = new Map<string, number>();
  for (const e of s.executions)
    byPeriod.set(e.periodDeliveryId!, (byPeriod.get(e.periodDeliveryId!) ?? 0) + 1);
  expect(byPeriod.size).toBe(2);
  for (const [period, executions] of byPeriod) {
    // Its logs are its executions' logs, one line per message.
    const logs = await cli(t.env, 'logs', period, '--json');
    expect(logs.json<{ status: string }[]>()).toHaveLength(2 * executions);
    const failures = await t.sql`
      select l.delivery_id, l.status, l.failure_reason from delivery_logs l join deliveries d on d.id = l.delivery_id
      where d.parent_id = ${period} and l.status <> 'sent'`;
    expect(failures).toEqual([]);
    expect(await status(period)).toMatchObject({
      state: 'sent',
      toSend: 2 * executions,
      sent: 2 * executions,
      delivered: 2 * executions,
      deliveredRate: 1,
    });
  }
  await cli(t.env, 'delivery', 'pause', id);
});

test('the next execution leaves out addresses quarantined by then, and takes a replaced audience', async () => {
  clock = null;
  const id = await recurring(3, '--recurrence', '0 9 * * *', '--validity', '1h');
  const x = (await status(id)).nextOccurrence!;
  await advanceTo(x, id, 1);
  await t.sql`insert into quarantine (email, error_count, quarantined_at, reason) values ('r1@example.test', 1, ${x}, 'user unknown')`;
  const two = await advanceTo(shift(x, DAY), id, 2);
  expect(two.executions.map((e) => e.sent)).toEqual([3, 2]);

  const replaced = await cli(t.env, 'delivery', 'recipients', id, '--replace', recipientsCsv(5), '--json');
  expect(replaced.json()).toMatchObject({ toSend: 5 });
  const three = await advanceTo(shift(x, 2 * DAY), id, 3);
  expect(three.executions.map((e) => e.sent)).toEqual([3, 2, 4]);
  expect(three.recipients).toBe(5);

  // A bad file changes nothing, and says why.
  const bad = await cli(
    t.env,
    'delivery',
    'recipients',
    id,
    '--replace',
    recipientsCsv(2, () => 'x').replace('.csv', '-none.csv'),
  );
  expect(bad).toMatchObject({ code: 1 });
  expect(bad.stderr).toContain('cannot read');
  expect((await status(id)).recipients).toBe(5);
  await cli(t.env, 'delivery', 'pause', id);
});

test('pause stops the recurrence; resume goes on from the next occurrence after now', async () => {
  clock = null;
  const id = await recurring(1, '--recurrence', '*/2 * * * * *', '--allow-frequent', '--validity', '1h');
  await waitFor(async () => (await status(id)).executions.length >= 1, 10_000, 'a first execution');
  expect((await cli(t.env, 'delivery', 'pause', id, '--json')).json()).toMatchObject({ paused: true });
  const paused = (await status(id)).executions.length;
  await new Promise((resolve) => setTimeout(resolve, 3000)); // at least one occurrence falls while paused
  expect(await status(id)).toMatchObject({ nextOccurrence: null });
  expect((await status(id)).executions).toHaveLength(paused);
  const resumed = (await cli(t.env, 'delivery', 'resume', id, '--json')).json<{ nextOccurrenceAt: string }>();
  expect(Date.parse(resumed.nextOccurrenceAt)).toBeGreaterThan(Date.now() - 1000);
  const after = await waitFor(
    async () => {
      const s = await status(id);
      return s.executions.length > paused && s;
    },
    10_000,
    'an execution after resume',
  );
  // Nothing was produced for the occurrences that fell while paused.
  const gap =
    Date.parse(after.executions[paused]!.occurrenceAt) -
    Date.parse(after.executions[paused - 1]!.occurrenceAt);
  expect(gap).toBeGreaterThanOrEqual(4000);
  await cli(t.env, 'delivery', 'pause', id);
});

test('occurrences that fell while no process ran: produced once if still valid, otherwise recorded as missed', async () => {
  clock = null;
  const id = await recurring(1, '--recurrence', '0 9 * * *', '--validity', '1d');
  const x = (await status(id)).nextOccurrence!;
  // Two days and three hours later: the first two validity periods are over, the third is not.
  const back = await advanceTo(shift(x, 2 * DAY + 3 * HOUR), id, 3);
  expect(back.executions.map((e) => [e.occurrenceAt, e.state])).toEqual([
    [x, 'missed'],
    [shift(x, DAY), 'missed'],
    [shift(x, 2 * DAY), 'sent'],
  ]);
  expect(back.executions[0]!.reason).toContain(`its validity period ended at ${shift(x, DAY)}`);
  await cli(t.env, 'delivery', 'pause', id);
});

test.each([
  [
    'spring forward',
    '2027-03-27T00:00:00Z',
    ['2027-03-27T01:30:00.000Z', '2027-03-28T01:30:00.000Z', '2027-03-29T00:30:00.000Z'],
  ],
  [
    'fall back',
    '2027-10-30T00:00:00Z',
    ['2027-10-30T00:30:00.000Z', '2027-10-31T00:30:00.000Z', '2027-11-01T01:30:00.000Z'],
  ],
])(
  '%s in Europe/Paris: a daily 02:30 runs once each day, none skipped, none doubled',
  async (_, from, expected) => {
    clock = new Date(from);
    const id = await recurring(
      1,
      '--recurrence',
      '30 2 * * *',
      '--timezone',
      'Europe/Paris',
      '--validity',
      '5d',
    );
    // The schedule starts at the injected date instead of today's.
    await t.sql`
    update recurring_schedules set next_occurrence_at = ${expected[0]!}
    where template_id = ${id}`;
    const s = await advanceTo(shift(expected[2]!, HOUR), id, 3);
    expect(s.executions.map((e) => e.occurrenceAt)).toEqual(expected);
  },
);

test('bad schedules are refused at create time with the reason', async () => {
  const createWithFloor = (floor: string, ...options: string[]) =>
    cli(
      { ...t.env, RECURRENCE_MIN_INTERVAL: floor },
      'delivery',
      'create',
      '--label',
      'x',
      '--recipients',
      recipientsCsv(1),
      ...options,
    );
  const create = (...options: string[]) => createWithFloor('1h', ...options);
  const cases: [string[], string][] = [
    [
      ['--recurrence', '0 9 * * 1', '--confirm-each', '--aggregate', 'week'],
      '--confirm-each needs --aggregate none',
    ],
    [['--recurrence', '0 25 * * *'], '--recurrence "0 25 * * *" is not a cron expression'],
    [
      ['--recurrence', '0 9 * * 1', '--timezone', 'Europe/Parys'],
      '--timezone "Europe/Parys" is not a time zone',
    ],
    [
      ['--recurrence', '0 9 * * 1', '--aggregate', 'year'],
      '--aggregate "year" is not accepted; expected one of none, day, week, month',
    ],
    [['--confirm-each'], '--confirm-each is an option of recurring deliveries; give --recurrence too'],
    [['--recurrence', '0 9 * * 1', '--until', '2020-01-01T00:00:00Z'], 'is in the past'],
    // An empty or blank schedule once mailed every minute (cron-parser reads "" as "* * * * *").
    [['--recurrence', ''], '--recurrence is empty; give a cron expression'],
    [['--recurrence', '   '], '--recurrence is empty; give a cron expression'],
    [
      ['--recurrence', 'every monday'],
      '--recurrence "every monday" is not a cron expression: it has 2 fields, and a cron expression has five',
    ],
    [
      ['--recurrence', '* * * * *'],
      '--recurrence "* * * * *" runs every 1m, more often than once every 1h (RECURRENCE_MIN_INTERVAL); give --allow-frequent',
    ],
    [['--allow-frequent'], '--allow-frequent is an option of recurring deliveries'],
  ];
  for (const [options, reason] of cases) {
    const r = await create(...options);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(reason);
  }
  const [{ n }] = (await t.sql`select count(*)::int as n from deliveries where label = 'x'`) as unknown as [
    { n: number },
  ];
  expect(n).toBe(0);
  // A recurring delivery is paused, not stopped: the refusal says so.
  const weekly = await recurring(1, '--recurrence', '0 9 * * 1');
  const stop = await cli(t.env, 'delivery', 'stop', weekly);
  expect(stop.code).toBe(1);
  expect(stop.stderr).toContain(
    `delivery ${weekly} is a recurring delivery, which sends nothing itself: pause its schedule with campaign delivery pause ${weekly}`,
  );
  await cli(t.env, 'delivery', 'pause', weekly);
  // Asked for explicitly, or with the floor set lower, a frequent schedule is accepted.
  const allowed = await create('--recurrence', '*/10 * * * *', '--allow-frequent', '--json');
  expect(allowed.code).toBe(0);
  const lowered = await createWithFloor('5m', '--recurrence', '*/10 * * * *');
  expect(lowered.code).toBe(0);
  for (const r of [allowed, lowered]) {
    const id = /(\d+)/.exec(r.stdout)![1]!;
    await cli(t.env, 'delivery', 'pause', id);
  }
});
