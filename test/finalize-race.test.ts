// The end of the validity period against a soft bounce being applied at that very moment (found by the demo):
// the finalization waits for it, so the message ends `failed`, never `sent` in a finished delivery.
import { setTimeout as sleep } from 'node:timers/promises';
import { finalizeDelivery } from '../db/retry';
import type { PipelineProcess } from '../workers/start/process';
import { createTestEnv, type TestEnv } from './helpers/env';
import { addOperator, confirmedDelivery } from './helpers/fixtures';
import { startPipeline } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

let t: TestEnv;
let mta: TestMta;
let pipeline: PipelineProcess;

beforeAll(async () => {
  mta = await startTestMta();
  t = await createTestEnv({ MTA_URL: mta.url });
  // No retry role: the test runs the finalization itself, at the moment it chooses.
  pipeline = await startPipeline(t, { roles: ['confirm', 'dispatch'] });
  await addOperator(t, 'alice');
});

afterAll(async () => {
  await pipeline.stop();
  await mta.close();
  await t.cleanup();
});

test('a soft bounce committed while the validity period ends makes its message failed (EFS off)', async () => {
  const id = await confirmedDelivery(t, 1, '--validity', '1h');
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let locked: () => void = () => {};
  const rowLocked = new Promise<void>((resolve) => {
    locked = resolve;
  });
  // What the feedback worker does for a soft bounce without EFS: lock the row, record the soft outcome of its
  // latest attempt, keep the status `sent` (a retry would follow), and commit, here only once told to.
  const feedback = t.sql.begin(async (tx) => {
    await tx`select 1 from delivery_logs where delivery_id = ${id} for update`;
    await tx`update delivery_logs set outcome_kind = 'soft', outcome_attempt = attempts, outcome_at = now(),
             failure_type = 'soft', failure_reason = 'mailbox full' where delivery_id = ${id}`;
    locked();
    await held;
  });
  await rowLocked;
  let finished = false;
  const end = finalizeDelivery(t.sql, id, new Date(Date.now() + 2 * 3600_000)).then((r) => {
    finished = true;
    return r;
  });
  await sleep(300);
  expect(finished).toBe(false);
  release();
  await feedback;
  expect(await end).toEqual({ failed: 1 });
  const [row] = await t.sql`select status from delivery_logs where delivery_id = ${id}`;
  expect(row!.status).toBe('failed');
  const [kpi] = await t.sql`select delivered, failed from delivery_kpi_totals where delivery_id = ${id}`;
  expect([kpi!.delivered, kpi!.failed]).toEqual([0, 1]);
});
