// Dispatch under stress: a worker killed mid-batch, a contact date across a restart, the shared rate limit.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { startQueue } from '../shared/queues';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { addOperator, createDelivery } from './helpers/fixtures';
import { startPipeline, testQueue, waitFor } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

let t: TestEnv;
let mta: TestMta;
const ROOT = path.resolve(__dirname, '..');

beforeAll(async () => {
  mta = await startTestMta();
  t = await createTestEnv({ WORKER_LOCK_DURATION: '2s' });
  t.env.MTA_URL = mta.url;
  await addOperator(t, 'alice');
});

afterAll(async () => {
  await mta.close();
  await t.cleanup();
});

beforeEach(() => {
  mta.received.length = 0;
  mta.setDelay(0);
});

async function status(id: string) {
  return (await cli(t.env, 'status', id, '--json')).json<Record<string, unknown>>();
}

function spawnDispatchWorker(env: Record<string, string>): ChildProcess {
  // `node --import tsx` rather than the tsx wrapper: SIGKILL must hit the worker itself, not a parent.
  return spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'workers', 'run.ts'), 'dispatch'], {
    cwd: ROOT,
    env: { ...process.env, ...env, LOG_LEVEL: 'warn', NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

test('a dispatch worker killed with SIGKILL mid-batch: every message is handed over and logged exactly once', async () => {
  mta.setDelay(25);
  const env = { ...t.env, DISPATCH_BATCH_SIZE: '50', DISPATCH_CONCURRENCY: '2', METRICS_PORT: '0' };
  const id = await createDelivery(t, 300);
  const confirmer = await startPipeline(t, { roles: ['confirm'], env });
  const child = spawnDispatchWorker(env);
  try {
    await cli(t.env, 'confirm', id, '--as', 'alice');
    await waitFor(async () => mta.received.length >= 40, 30_000, 'the child to be mid-batch');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const [before] = await t.sql`select count(*)::int as n from delivery_logs where delivery_id = ${id}`;
    expect(before!.n).toBeLessThan(300);

    mta.setDelay(0);
    const replacement = await startPipeline(t, { roles: ['dispatch'], env });
    try {
      await waitFor(async () => (await status(id)).state === 'sent', 60_000, 'delivery sent after the kill');
    } finally {
      await replacement.stop();
    }
  } finally {
    child.kill('SIGKILL');
    await confirmer.stop();
  }
  const [logs] = await t.sql`
    select count(*)::int as rows, count(distinct seq)::int as seqs, count(distinct message_id)::int as ids
    from delivery_logs where delivery_id = ${id}`;
  expect(logs).toEqual({ rows: 300, seqs: 300, ids: 300 });
  expect(await status(id)).toMatchObject({ sent: 300, delivered: 300, toSend: 300 });
  // At-least-once hand-off: every address arrived, and a repeat carries the same message id.
  const byAddress = new Map<string, Set<string | null>>();
  for (const m of mta.received) {
    const ids = byAddress.get(m.to[0]!) ?? new Set();
    ids.add(m.messageId);
    byAddress.set(m.to[0]!, ids);
  }
  expect(byAddress.size).toBe(300);
  expect([...byAddress.values()].every((ids) => ids.size === 1)).toBe(true);
});

test('a future contact date schedules the dispatch, which survives a restart of every process', async () => {
  const contactDate = new Date(Date.now() + 3000);
  const id = await createDelivery(t, 8, '--contact-date', contactDate.toISOString());
  const first = await startPipeline(t);
  await cli(t.env, 'confirm', id, '--as', 'alice');
  await waitFor(async () => (await status(id)).state === 'scheduled', 10_000, 'scheduled');
  await first.stop();

  const q = testQueue(t, startQueue.name);
  try {
    const job = await q.queue.getJob(`start-${id}`);
    expect(await job?.getState()).toBe('delayed');
  } finally {
    await q.close();
  }
  expect(mta.received).toHaveLength(0);

  const second = await startPipeline(t);
  try {
    await waitFor(async () => (await status(id)).state === 'sent', 20_000, 'sent after the contact date');
  } finally {
    await second.stop();
  }
  expect(mta.received).toHaveLength(8);
  const [row] =
    await t.sql`select min(handed_off_at) as first, valid_until from delivery_logs l join deliveries d on d.id = l.delivery_id where d.id = ${id} group by valid_until`;
  expect(row!.first.getTime()).toBeGreaterThanOrEqual(contactDate.getTime());
  expect(row!.valid_until.getTime()).toBe(contactDate.getTime() + 3 * 86_400_000);
});

test('the rate limit is shared by two replicas: no one-second window carries more than two windows of messages', async () => {
  const env = { DISPATCH_RATE_LIMIT: '40', DISPATCH_BATCH_SIZE: '20' };
  const arrivals: number[] = [];
  mta.setPolicy(() => {
    arrivals.push(Date.now());
    return undefined;
  });
  const a = await startPipeline(t, { env });
  const b = await startPipeline(t, { env, roles: ['dispatch'] });
  try {
    const id = await createDelivery(t, 120);
    await cli(t.env, 'confirm', id, '--as', 'alice');
    await waitFor(async () => (await status(id)).state === 'sent', 30_000, 'sent under the rate limit');
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    mta.setPolicy(() => undefined);
  }
  expect(arrivals).toHaveLength(120);
  arrivals.sort((x, y) => x - y);
  // A fixed one-second window admits 40; a sliding second can straddle two windows, so at most 80.
  let worst = 0;
  for (let i = 0, j = 0; i < arrivals.length; i++) {
    while (arrivals[i]! - arrivals[j]! >= 1000) j++;
    worst = Math.max(worst, i - j + 1);
  }
  expect(worst).toBeLessThanOrEqual(80);
});

test('an MTA that cannot be reached defers the batch, which goes out once the MTA is back', async () => {
  const { startProxy } = await import('./helpers/proxy');
  const proxy = await startProxy(mta.port, '127.0.0.1', false);
  const pipeline = await startPipeline(t, { env: { MTA_URL: `smtp://127.0.0.1:${proxy.port}` } });
  try {
    const id = await createDelivery(t, 5);
    await cli(t.env, 'confirm', id, '--as', 'alice');
    const q = testQueue(t, 'dispatch');
    try {
      await waitFor(
        async () => ((await q.queue.getJob(`dispatch-${id}-0`))?.attemptsMade ?? 0) >= 1,
        20_000,
        'a deferred batch',
      );
    } finally {
      await q.close();
    }
    expect(mta.received).toHaveLength(0);
    expect(await status(id)).toMatchObject({ state: 'sending', sent: 0 });
    await proxy.up();
    await waitFor(async () => (await status(id)).state === 'sent', 30_000, 'sent once the MTA is back');
    expect(mta.received).toHaveLength(5);
  } finally {
    await pipeline.stop();
    await proxy.close();
  }
});
