// Retention: `campaign purge --before DATE` drops whole history ranges of deliveries that ended before DATE,
// keeps every range holding a delivery still running or within its validity, and leaves each tile as it was.
import type postgres from 'postgres';
import { computeDeliveryStats } from '../db/aggregate';
import { ensureHistoryPartitions } from '../db/partitions';
import type { PurgeReport } from '../db/purge';
import { RETENTION_STATE_KEY, runRetention } from '../db/purge';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { startPipeline, waitFor } from './helpers/pipeline';

let t: TestEnv;
let sql: postgres.Sql;
const now = new Date();
const DAY = 86_400_000;
/** Targets and unique opens of every delivery before any purge. */
let everyRecipient: Record<string, [number, number]>;

/** A delivery with `logs` targets and log rows, a feedback event, an open and a unique open for each, and its KPI row. */
async function addDelivery(o: { state: string; endedDaysAgo: number; validDaysLeft?: number; logs: number }) {
  const ended = new Date(now.getTime() - o.endedDaysAgo * DAY);
  const validUntil = o.validDaysLeft === undefined ? ended : new Date(now.getTime() + o.validDaysLeft * DAY);
  const [row] = await sql`
    insert into deliveries (label, state, validity_seconds, retry_interval_seconds, sender, subject, token, to_send,
      created_at, confirmed_at, valid_until, finished_at)
    values ('purge test', ${o.state}, 86400, 3600, 's@example.test', 'Hi', 'tok', ${o.logs},
      ${ended}, ${ended}, ${validUntil}, ${o.state === 'finished' ? ended : null})
    returning id`;
  const id = String(row!.id);
  await ensureHistoryPartitions(sql, id, now);
  await sql`
    insert into delivery_logs (delivery_id, seq, email, status, message_id)
    select ${id}, s, 'r' || s || '@example.test', 'sent', '1.' || s || '.' || ${id} || '.tok@example.test'
    from generate_series(0, ${o.logs - 1}) s`;
  await sql`
    insert into feedback_events (event_id, message_id, delivery_id, seq, attempt, type, occurred_at, outcome)
    select 'fb-' || seq, message_id, delivery_id, seq, 1, 'delivered', now(), 'applied'
    from delivery_logs where delivery_id = ${id}`;
  await sql`
    insert into tracking_events (event_id, message_id, delivery_id, seq, type, occurred_at)
    select 'trk-' || seq, message_id, delivery_id, seq, 'open', now() from delivery_logs where delivery_id = ${id}`;
  await addRecipients(id, o.logs);
  await sql`
    insert into delivery_kpis (delivery_id, sent, delivered, opens) values (${id}, ${o.logs}, ${o.logs}, ${o.logs})`;
  return id;
}

/** `n` targets and unique opens of a delivery, from seq `from` on. */
async function addRecipients(id: string, n: number, from = 0) {
  await sql`
    insert into delivery_targets (delivery_id, seq, email)
    select ${id}, s, 'r' || s || '@example.test' from generate_series(${from}::int, ${from + n - 1}::int) s`;
  await sql`
    insert into tracking_uniques (delivery_id, seq, clicked)
    select ${id}, s, false from generate_series(${from}::int, ${from + n - 1}::int) s`;
}

/** Targets and unique opens of each delivery that has any, by id. */
const recipientsLeft = async () =>
  Object.fromEntries(
    (
      await sql`
        select d.id, (select count(*) from delivery_targets t where t.delivery_id = d.id)::int as targets,
               (select count(*) from tracking_uniques u where u.delivery_id = d.id)::int as uniques
        from deliveries d order by d.id`
    )
      .filter((r) => r.targets + r.uniques > 0)
      .map((r) => [String(r.id), [r.targets, r.uniques] as [number, number]]),
  );

const jumpTo = (next: number) => sql`select setval('deliveries_id_seq', ${next - 1})`;
const purge = (...flags: string[]) => cli(t.env, 'purge', ...flags);
const exists = async (name: string) =>
  (await sql`select to_regclass(${name}) is not null as found`)[0]!.found as boolean;

beforeAll(async () => {
  t = await createTestEnv();
  sql = t.sql;
  // The template's first range is [1, 65): three deliveries that ended 100 days ago fill part of it.
  for (const logs of [30, 20, 10]) await addDelivery({ state: 'finished', endedDaysAgo: 100, logs });
  // A recurring template in the same range: no history of its own, and its targets are its executions' audience.
  const [template] = await sql`
    insert into deliveries (label, state, validity_seconds, retry_interval_seconds, sender, subject, token, created_at)
    values ('template', 'recurring', 86400, 3600, 's@example.test', 'Hi', 'tok', ${new Date(now.getTime() - 100 * DAY)})
    returning id`;
  await addRecipients(String(template!.id), 4);
  // [65, 81): one still sending, and one finished but still within its validity period.
  await jumpTo(65);
  await addDelivery({ state: 'sending', endedDaysAgo: 100, validDaysLeft: 1, logs: 5 });
  await addDelivery({ state: 'finished', endedDaysAgo: 100, validDaysLeft: 2, logs: 5 });
  // [81, 97): the newest range but one, which the next deliveries enter.
  await jumpTo(81);
  await addDelivery({ state: 'finished', endedDaysAgo: 100, logs: 5 });
  everyRecipient = await recipientsLeft();
  expect(everyRecipient).toEqual({
    '1': [30, 30],
    '2': [20, 20],
    '3': [10, 10],
    '4': [4, 4],
    '65': [5, 5],
    '66': [5, 5],
    '81': [5, 5],
  });
});

afterAll(async () => {
  await t.cleanup();
});

describe('campaign purge', () => {
  it('refuses a bad or future date, naming the flag', async () => {
    const bad = await purge('--before', 'last year');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--before "last year" is not an ISO 8601 date');
    const future = await purge('--before', '2999-01-01');
    expect(future.code).toBe(1);
    expect(future.stderr).toContain('is in the future');
  });

  it('--dry-run says what it would drop and what it keeps, and why, changing nothing', async () => {
    const before = new Date(now.getTime() - 30 * DAY).toISOString();
    const run = await purge('--before', before, '--dry-run', '--json');
    expect(run.code).toBe(0);
    const report = run.json<PurgeReport>();
    expect(report.dryRun).toBe(true);
    expect(report.dropped).toEqual([
      {
        lo: '1',
        hi: '65',
        partitions: ['delivery_logs_p1', 'feedback_events_p1', 'tracking_events_p1'],
        rows: {
          deliveryLogs: 60,
          feedbackEvents: 60,
          trackingEvents: 60,
          deliveryTargets: 60,
          trackingUniques: 60,
        },
        deliveries: ['1', '2', '3'],
      },
    ]);
    expect(report.kept).toEqual([
      {
        lo: '65',
        hi: '81',
        reason: expect.stringMatching(/^delivery 65 is sending, not finished \(and 1 more\)$/),
      },
      { lo: '81', hi: '97', reason: 'deliveries created from now on (id 82 and up) go into it' },
      // Made ahead of need when delivery 81 entered [81, 97).
      { lo: '97', hi: '113', reason: 'deliveries created from now on (id 82 and up) go into it' },
    ]);
    expect(report.totals).toEqual({
      deliveryLogs: 60,
      feedbackEvents: 60,
      trackingEvents: 60,
      deliveryTargets: 60,
      trackingUniques: 60,
      partitions: 3,
      deliveries: 3,
    });
    expect(report.earlierPurged).toEqual({ deliveries: 0, deliveryTargets: 0, trackingUniques: 0 });
    expect(await exists('delivery_logs_p1')).toBe(true);
    expect(await recipientsLeft()).toEqual(everyRecipient);
    const text = await purge('--before', before, '--dry-run');
    expect(text.stdout).toContain(
      'would drop 3 partitions (60 log rows, 60 feedback events, 60 tracking events) of 3 deliveries; ' +
        'would delete their 60 recipients (targets) and 60 unique opens',
    );
    expect(text.stdout).toContain('kept      deliveries [65, 81): delivery 65 is sending, not finished');
  });

  it('drops the range, marks its deliveries, and keeps their tiles', async () => {
    const tileBefore = (await cli(t.env, 'status', '2', '--json')).json<Record<string, unknown>>();
    const run = await purge('--before', new Date(now.getTime() - 30 * DAY).toISOString(), '--json');
    expect(run.code).toBe(0);
    expect(run.json<PurgeReport>().totals.deliveries).toBe(3);
    for (const p of ['delivery_logs_p1', 'feedback_events_p1', 'tracking_events_p1'])
      expect(await exists(p)).toBe(false);
    const [left] = await sql`
      select (select count(*) from delivery_logs where delivery_id < 65)::int as logs,
             (select count(*) from delivery_logs where delivery_id >= 65)::int as kept`;
    expect(left).toEqual({ logs: 0, kept: 15 });
    // Targets and unique opens of the purged deliveries only: not the template's, nor those of the
    // deliveries still sending (65) or within their validity period (66), nor of the newest range (81).
    const { '1': _1, '2': _2, '3': _3, ...rest } = everyRecipient;
    expect(await recipientsLeft()).toEqual(rest);

    const tile = (await cli(t.env, 'status', '2', '--json')).json<Record<string, unknown>>();
    expect(tile).toEqual({ ...tileBefore, logsPurgedAt: expect.any(String) });
    expect((await cli(t.env, 'status', '2')).stdout).toMatch(
      /logs {14}purged .* the figures above are final/,
    );
    // A recount of a purged delivery would find no logs: it leaves the tile as it was instead.
    const stats = await computeDeliveryStats(sql, '2', () => new Date());
    expect(stats!.counters).toMatchObject({ sent: 20, delivered: 20, opens: 20 });
    expect(Object.values(stats!.drift).every((d) => d === 0)).toBe(true);
    expect((await cli(t.env, 'status', '2', '--json')).json()).toEqual(tile);
  });

  it('a later purge drops nothing twice, and deletes the late events of purged deliveries', async () => {
    // A late event for purged delivery 1: its range is gone, so the default partition takes it.
    await sql`
      insert into feedback_events (event_id, message_id, delivery_id, seq, attempt, type, occurred_at, outcome)
      values ('late-1', '1.0.1.tok@example.test', 1, 0, 1, 'delivered', now(), 'unknown')`;
    // Recipients left by a purge of an earlier version (which deleted none), or a unique open counted since.
    await addRecipients('2', 3);
    await sql`insert into tracking_uniques (delivery_id, seq, clicked) values (1, 0, true)`;
    const dry = (await purge('--before', new Date(now.getTime() - 30 * DAY).toISOString(), '--dry-run'))
      .stdout;
    expect(dry).toContain(
      'would delete 3 recipients (targets) and 4 unique opens left by earlier purges of 2 deliveries',
    );
    const report = (
      await purge('--before', new Date(now.getTime() - 30 * DAY).toISOString(), '--json')
    ).json<PurgeReport>();
    expect(report.dropped).toEqual([]);
    expect(report.strayRows).toBe(1);
    expect(report.earlierPurged).toEqual({ deliveries: 2, deliveryTargets: 3, trackingUniques: 4 });
    expect(Object.keys(await recipientsLeft())).toEqual(['4', '65', '66', '81']);
    const [row] = await sql`select count(*)::int as n from feedback_events where delivery_id = 1`;
    expect(row!.n).toBe(0);
  });
});

describe('RETENTION', () => {
  it('runs once across replicas: the second run of the day finds it claimed', async () => {
    const runs = await Promise.all([
      runRetention(sql, { retentionMs: 400 * DAY, now }),
      runRetention(sql, { retentionMs: 400 * DAY, now }),
    ]);
    expect(runs.filter((r) => r === null)).toHaveLength(1);
    expect(runs.find((r) => r !== null)!.before).toBe(new Date(now.getTime() - 400 * DAY).toISOString());
  });

  it('the aggregate role applies it at start: ranges past the cut-off go, the rest stay', async () => {
    await sql`delete from pipeline_state where key = ${RETENTION_STATE_KEY}`;
    // Make [65, 81) purgeable: both deliveries finished 100 days ago, validity over.
    await sql`
      update deliveries set state = 'finished', valid_until = now() - interval '100 days',
        finished_at = now() - interval '100 days' where id in (65, 66)`;
    const pipeline = await startPipeline(t, { roles: ['aggregate'], env: { RETENTION: '30d' } });
    try {
      await waitFor(async () => !(await exists('delivery_logs_p65')));
      const [marked] = await sql`
        select count(*)::int as n from deliveries where id in (65, 66) and logs_purged_at is not null`;
      expect(marked!.n).toBe(2);
      expect(await exists('delivery_logs_p81')).toBe(true);
    } finally {
      await pipeline.stop();
    }
  });
});
