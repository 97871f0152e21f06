// Three replicas of the confirm process: each occurrence of a recurring delivery produces one execution.
import type { PipelineProcess } from '../workers/start/process';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { recipientsCsv } from './helpers/fixtures';
import { startPipeline, waitFor } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

let t: TestEnv;
let mta: TestMta;
const processes: PipelineProcess[] = [];

beforeAll(async () => {
  mta = await startTestMta();
  t = await createTestEnv({ MTA_URL: mta.url, RECURRENCE_TICK: '100ms' });
  processes.push(await startPipeline(t, { roles: ['dispatch'] }));
  for (let i = 0; i < 3; i++) processes.push(await startPipeline(t, { roles: ['confirm'] }));
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await mta.close();
  await t.cleanup();
});

test('three replicas: every occurrence produces exactly one execution, sent once', async () => {
  const created = await cli(
    t.env,
    'delivery',
    'create',
    '--label',
    'every 2 s',
    '--recipients',
    recipientsCsv(3),
    '--recurrence',
    '*/2 * * * * *',
    '--allow-frequent',
    '--validity',
    '1h',
    '--json',
  );
  const id = created.json<{ id: string }>().id;
  await waitFor(
    async () => (await t.sql`select count(*)::int as n from executions`)[0]!.n >= 4,
    20_000,
    'four executions',
  );
  await cli(t.env, 'delivery', 'pause', id);
  const executions = await t.sql`
    select x.occurrence_at, x.delivery_id, d.state from executions x join deliveries d on d.id = x.delivery_id
    order by x.occurrence_at`;
  // Consecutive occurrences, none missing, none twice, each its own delivery.
  const times = executions.map((e) => (e.occurrence_at as Date).getTime());
  for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(2000);
  expect(new Set(executions.map((e) => e.delivery_id)).size).toBe(executions.length);
  const [deliveries] = await t.sql`select count(*)::int as n from deliveries where occurrence_at is not null`;
  expect(deliveries!.n).toBe(executions.length);
  await waitFor(
    async () =>
      (
        await t.sql`select count(*)::int as n from deliveries where occurrence_at is not null and state = 'sent'`
      )[0]!.n === executions.length,
    20_000,
    'every execution sent',
  );
  expect(mta.received).toHaveLength(3 * executions.length);
});
