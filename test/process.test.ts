// `npm start` as a process: bad config, waiting for PostgreSQL, riding out a Redis outage, SIGTERM.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { confirmQueue } from '../shared/queues';
import { cli } from './helpers/cli';
import { deleteKeys, serverUrl } from './helpers/env';
import { recipientsCsv } from './helpers/fixtures';
import { testQueue, waitFor } from './helpers/pipeline';
import { type OutageProxy, startProxy } from './helpers/proxy';
import { startTestMta, type TestMta } from './helpers/smtp';

const ROOT = path.resolve(__dirname, '..');

interface Started {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

function start(script: string, env: Record<string, string>, args: string[] = []): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'workers', script), ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exit };
}

async function probe(port: number, route: string): Promise<{ status: number; body: string } | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${route}`);
    return { status: res.status, body: await res.text() };
  } catch {
    return null;
  }
}

test('a bad setting stops the process with one line naming the variable', async () => {
  const p = start('main.ts', { METRICS_PORT: 'abc', LOG_LEVEL: 'silent' });
  expect(await p.exit).toBe(1);
  expect(p.output().trim()).toBe(
    'config: METRICS_PORT="abc" is not a port; expected an integer from 0 to 65535',
  );
});

test('a Procfile process type that does not exist is refused', async () => {
  const p = start('run.ts', {}, ['nonsense']);
  expect(await p.exit).toBe(2);
  expect(p.output()).toContain('unknown process type "nonsense"; expected one of ');
  // Every process type of the Procfile is a role the message offers.
  const procfile = readFileSync(path.join(__dirname, '..', 'Procfile'), 'utf8');
  for (const type of procfile.match(/^[a-z-]+(?=:)/gm) ?? []) expect(p.output()).toContain(type);
});

describe('npm start', () => {
  const id = randomUUID().replaceAll('-', '').slice(0, 12);
  const database = `campaign_start_${id}`;
  const prefix = `test-start-${id}`;
  let pg: OutageProxy;
  let redis: OutageProxy;
  let mta: TestMta;
  let proc: Started;
  let port = 0;

  beforeAll(async () => {
    pg = await startProxy(5432, '127.0.0.1', false);
    redis = await startProxy(6379);
    mta = await startTestMta();
  });

  afterAll(async () => {
    proc?.child.kill('SIGKILL');
    await Promise.all([pg.close(), redis.close(), mta.close()]);
    const admin = postgres(serverUrl('postgres'), { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists "${database}" with (force)`);
    await admin.end();
    await deleteKeys(prefix);
  });

  test('waits for PostgreSQL, creates and migrates the database, rides out a Redis outage, stops on SIGTERM', async () => {
    const env = {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${pg.port}/${database}`,
      REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      QUEUE_PREFIX: prefix,
      // Port 0: the process picks a free port and logs it (a random fixed port could be taken).
      METRICS_PORT: '0',
      FEEDBACK_PORT: '0',
      BOUNCE_PORT: '0',
      BOUNCE_HOST: '127.0.0.1',
      CONSOLE_PORT: '0',
      MTA_URL: mta.url,
      LOG_LEVEL: 'info',
    };
    proc = start('main.ts', env);

    // The port is logged before the database wait; a start-up under a loaded machine may take a while.
    port = await waitFor(
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`npm start exited early:\n${proc.output()}`);
        const line = proc.output().match(/"port":(\d+)[^\n]*Serving \/healthz/);
        return line ? Number(line[1]) : null;
      },
      60_000,
      'the health port in the log',
    );
    // PostgreSQL is down: alive, not ready, and the log says what to do.
    await waitFor(async () => (await probe(port, '/healthz'))?.status === 200, 20_000, '/healthz');
    await waitFor(
      async () => proc.output().includes('PostgreSQL is not reachable at'),
      10_000,
      'the PostgreSQL warning',
    );
    // Refused connections are said as such, not taken for migrations still to run.
    const notReady = await probe(port, '/readyz');
    expect(notReady?.status).toBe(503);
    expect(JSON.parse(notReady!.body).postgres).toMatch(/^unreachable \(/);
    expect(proc.output()).toContain('start it with: pg_ctlcluster');

    await pg.up();
    await waitFor(async () => (await probe(port, '/readyz'))?.status === 200, 30_000, '/readyz 200');

    // Through the real servers (not the proxies), as an upstream service would.
    const direct = {
      DATABASE_URL: serverUrl(database),
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'silent',
    };
    await cli(direct, 'operator', 'add', 'alice', '--role', 'start-deliveries');
    const created = await cli(
      direct,
      'delivery',
      'create',
      '--label',
      'outage',
      '--recipients',
      recipientsCsv(7),
      '--json',
    );
    const deliveryId = created.json<{ id: string }>().id;

    await redis.down();
    await waitFor(
      async () => (await probe(port, '/readyz'))?.status === 503,
      10_000,
      '/readyz 503 on Redis loss',
    );
    const producer = testQueue(
      { config: { REDIS_URL: 'redis://127.0.0.1:6379' }, prefix } as never,
      confirmQueue.name,
    );
    await producer.queue.add('confirm', { deliveryId, operator: 'alice' }, confirmQueue.jobOptions);
    await producer.close();
    await redis.up();

    await waitFor(
      async () =>
        (await cli(direct, 'status', deliveryId, '--json')).json<{ state: string }>().state === 'sent',
      30_000,
      'the confirm enqueued during the outage to be applied',
    );
    expect(mta.received).toHaveLength(7);
    expect(proc.child.exitCode).toBeNull();

    proc.child.kill('SIGTERM');
    expect(await proc.exit).toBe(0);
    expect(proc.output()).toContain('Shut down cleanly.');
  }, 180_000);
});
