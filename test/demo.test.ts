// `npm run demo` as a user runs it: a child process that ends with the figures the simulated MTA was told to
// produce, in under two minutes, leaving no database and no queue key behind.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import type { FailureCount, LogOutcome } from '../db/delivery-page';
import type { DeliveryStatus } from '../db/delivery-status';
import { DEFAULT_RATES, engagementOf, fateOf, uniform } from '../demo/fate';
import type { DeliveryDecisions } from '../demo/mta';
import { serverUrl } from './helpers/env';

const ROOT = path.resolve(__dirname, '..');
const RETRY_INTERVAL_MS = 5_000;
// demo/run.ts's RETRY_SWEEP_INTERVAL: how often due retries are looked for.
const RETRY_SWEEP_MS = 5_000;

interface Report {
  elapsedMs: number;
  failedJobs: number;
  deliveries: {
    status: DeliveryStatus;
    failures: FailureCount[];
    decisions: DeliveryDecisions;
    logs: LogOutcome[];
  }[];
}

describe('the simulator decides each recipient from the seed alone', () => {
  test('the same seed gives the same fates, another seed other ones, at about the rates asked', () => {
    const fates = (seed: number) =>
      Array.from({ length: 20_000 }, (_, i) => fateOf(seed, DEFAULT_RATES, '1', i));
    const a = fates(42);
    expect(fates(42)).toEqual(a);
    expect(fates(43)).not.toEqual(a);
    const share = (fate: string) => a.filter((f) => f === fate).length / a.length;
    expect(share('hard')).toBeCloseTo(DEFAULT_RATES.hard, 2);
    expect(share('soft-recover')).toBeCloseTo(DEFAULT_RATES.softRecover, 2);
    expect(share('soft-never')).toBeCloseTo(DEFAULT_RATES.softNever, 2);
    const opened = a.map((_, i) => engagementOf(42, DEFAULT_RATES, '1', i)).filter((e) => e !== 'none');
    expect(opened.length / a.length).toBeCloseTo(DEFAULT_RATES.open, 1);
    expect(uniform(1, 'x')).toBeGreaterThanOrEqual(0);
  });
});

test('npm run demo finishes both deliveries with exactly the figures the simulator decided, and cleans up', async () => {
  const id = randomUUID().replaceAll('-', '').slice(0, 10);
  const database = `campaign_demo_test_${id}`;
  const prefix = `demo-test-${id}`;
  const report = path.join(mkdtempSync(path.join(tmpdir(), 'campaign-demo-test-')), 'report.json');
  const started = Date.now();
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      'demo/run.ts',
      ...['--recipients', '300', '--validity', '20s', '--retry-interval', '5s', '--seed', '7'],
      ...['--port', '0', '--database', database, '--prefix', prefix, '--report', report],
    ],
    { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'error' }, timeout: 120_000 },
  );
  expect(Date.now() - started).toBeLessThan(120_000);

  // The story is told: the refused confirm, the finished deliveries, where to look next.
  expect(stdout).toContain('confirm refused: operator bob lacks the role start-deliveries');
  expect(stdout).toContain('Where to look next');

  const r = JSON.parse(readFileSync(report, 'utf8')) as Report;
  expect(r.failedJobs).toBe(0);
  expect(r.deliveries.map((d) => d.status.efs)).toEqual([true, false]);
  for (const { status, failures, decisions: d, logs } of r.deliveries) {
    expect(status.state).toBe('finished');
    expect([status.toSend, status.sent, d.received, logs.length]).toEqual([300, 300, 300, 300]);
    expect(d.fates.hard).toBeGreaterThan(0);
    expect(d.fates['soft-recover']).toBeGreaterThan(0);
    expect(d.fates['soft-never']).toBeGreaterThan(0);
    // Each recipient ends as the simulator decided (DESIGN.md's two tables), with two exceptions of
    // DESIGN.md's own, both of the clock and both proven from the database, never assumed:
    // - the feedback on its latest attempt was all applied after the finish ("later events change
    //   nothing", docs/CONTRACT.md): it stays as it was at the finish, pending or failed with EFS, sent
    //   without. On a loaded machine the 20 s validity ends while early events (faster than their log)
    //   still wait out their backoff, or a last retry's answer comes after the end;
    // - a soft bounce meant to recover whose retry came due (retry interval after the bounce, and not before
    //   the bounce was applied) after the end, or within the last retry sweep (every 5 s) before it: never
    //   retried ("no attempt after the end"), failed.
    const expected = logs.map((row) => {
      const fate = fateOf(7, DEFAULT_RATES, status.id, row.seq);
      if (row.latestFeedback === 'after')
        return { row, fate, status: !status.efs ? 'sent' : row.attempts === 1 ? 'pending' : 'failed' };
      if (fate === 'soft-recover' && row.attempts === 1) {
        const due = Math.max(row.softAt! + RETRY_INTERVAL_MS, row.softAppliedAt ?? 0);
        expect(due).toBeGreaterThanOrEqual(Date.parse(status.validUntil!) - RETRY_SWEEP_MS);
        return { row, fate, status: 'failed' };
      }
      expect(row.latestFeedback).toBe('before');
      return { row, fate, status: fate === 'delivered' || fate === 'soft-recover' ? 'sent' : 'failed' };
    });
    expect(logs.map((row) => row.status)).toEqual(expected.map((e) => e.status));
    const count = (status: string) => expected.filter((e) => e.status === status).length;
    expect([status.delivered, status.bouncesAndErrors]).toEqual([count('sent'), count('failed')]);
    const reasonOf = { hard: 'user unknown', 'soft-recover': 'mailbox full', 'soft-never': 'unreachable' };
    const byReason = new Map<string, FailureCount>();
    for (const e of expected.filter((e) => e.status === 'failed' && e.fate !== 'delivered')) {
      const reason = reasonOf[e.fate as keyof typeof reasonOf];
      const f = byReason.get(reason) ?? { type: e.fate === 'hard' ? 'hard' : 'soft', reason, count: 0 };
      byReason.set(reason, { ...f, count: f.count + 1 });
    }
    expect(failures).toEqual(
      [...byReason.values()].sort((a, b) => b.count - a.count || a.reason!.localeCompare(b.reason!)),
    );
    // The simulator's side agrees: a delivered event for every recovered soft bounce it retried.
    const notRetried = expected.filter((e) => e.fate === 'soft-recover' && e.row.attempts === 1).length;
    expect(d.softRecoverNotRetried).toBe(notRetried);
    expect(d.delivered).toBe(d.fates.delivered + d.fates['soft-recover'] - notRetried);
    expect([status.opens, status.clicks]).toEqual([d.opens, d.clicks]);
    expect(d.opens).toBeGreaterThan(0);
  }

  // Nothing left behind: no database, no key under the prefix.
  const admin = postgres(serverUrl('postgres'), { max: 1, onnotice: () => {} });
  try {
    expect(await admin`select 1 from pg_database where datname = ${database}`).toHaveLength(0);
  } finally {
    await admin.end();
  }
  const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
  try {
    expect(await redis.keys(`${prefix}:*`)).toEqual([]);
  } finally {
    redis.disconnect();
  }
}, 150_000);
