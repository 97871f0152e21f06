// The MTA's own retries against the validity period: a message that never got past `delayed` (the MTA still
// retrying it) is not delivered at the validity end, in both modes, and the MTA's later word changes nothing.
import type { PipelineProcess } from '../workers/start/process';
import { bounceMail, deliverBounce, type Sent, sentDelivery } from './helpers/bounce-mail';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { addOperator } from './helpers/fixtures';
import { startPipeline, waitFor } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

let t: TestEnv;
let mta: TestMta;
let pipeline: PipelineProcess;

beforeAll(async () => {
  mta = await startTestMta();
  t = await createTestEnv({ MTA_URL: mta.url });
  pipeline = await startPipeline(t, { roles: ['confirm', 'dispatch', 'feedback', 'retry', 'bounces'] });
  await addOperator(t, 'alice');
});

afterAll(async () => {
  await pipeline?.stop();
  await mta.close();
  await t.cleanup();
});

interface Tile {
  state: string;
  sent: number;
  delivered: number;
  bouncesAndErrors: number;
}
const status = async (id: string) => (await cli(t.env, 'status', id, '--json')).json<Tile>();
const statuses = async (id: string) =>
  (await cli(t.env, 'logs', id, '--json')).json<{ status: string }[]>().map((l) => l.status);
const outcomes = async (id: string) =>
  (
    await t.sql`select outcome from feedback_events where delivery_id = ${id} order by received_at, event_id`
  ).map((r) => r.outcome as string);

async function deliver(raw: string, s: Sent) {
  const answer = await deliverBounce(pipeline, raw, s.verp);
  expect(answer).toMatchObject({ ok: true, response: expect.stringMatching(/feedback events queued/) });
}

describe.each([
  // Without EFS a delay leaves the message `sent` (delivered % unchanged) until the validity end decides it.
  { efs: false, during: { delivered: 3, bouncesAndErrors: 0 }, statuses: ['sent', 'sent', 'sent'] },
  // With EFS a delay is a soft failure at once: bounces + errors go up, delivered % waits for the MTA.
  { efs: true, during: { delivered: 1, bouncesAndErrors: 2 }, statuses: ['failed', 'sent', 'failed'] },
])('EFS $efs', ({ efs, during, statuses: statusesDuring }) => {
  test('delayed at the validity end means failed; the MTA’s delivery after it changes nothing; no retry of ours', async () => {
    // r0 is only ever delayed; r1 is delayed, then delivered by the MTA's own retry within the validity; r2 is
    // delayed, and the MTA delivers it only after the validity end (Postfix retries for 5 days).
    const d = await sentDelivery(
      t,
      mta,
      3,
      ...(efs ? ['--efs'] : []),
      '--retry-interval',
      '1s',
      '--validity',
      '6s',
    );
    const [r0, r1, r2] = d.sent as [Sent, Sent, Sent];
    for (const s of [r0, r1, r2]) await deliver(bounceMail('postfix-delayed.eml', s), s);
    await deliver(bounceMail('postfix-delivered.eml', r1), r1);
    await waitFor(async () => (await outcomes(d.id)).length === 4, 20_000, 'four events');
    expect(await statuses(d.id)).toEqual(statusesDuring);
    expect(await status(d.id)).toMatchObject({ sent: 3, ...during });

    await waitFor(async () => (await status(d.id)).state === 'finished', 20_000, 'the validity end');
    expect(await statuses(d.id)).toEqual(['failed', 'sent', 'failed']);
    const final = { state: 'finished', sent: 3, delivered: 1, bouncesAndErrors: 2 };
    expect(await status(d.id)).toMatchObject(final);

    // The MTA's final word on r2 comes after the validity end: recorded, but the figures are final.
    await deliver(bounceMail('postfix-delivered.eml', r2), r2);
    await waitFor(async () => (await outcomes(d.id)).length === 5, 20_000, 'the late event');
    expect((await outcomes(d.id)).at(-1)).toBe('after-finish');
    expect(await status(d.id)).toMatchObject(final);
    // Every message went to the MTA once: the delays were the MTA's to retry, never ours as well.
    const attempts = mta.received
      .map((m) => m.messageId?.split('.') ?? [])
      .filter(([, , delivery]) => delivery === d.id)
      .map(([attempt, seq]) => `${attempt}.${seq}`);
    expect(attempts).toEqual(['1.0', '1.1', '1.2']);
  });
});
