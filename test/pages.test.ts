// The delivery tile pages in a real headless Chromium (Debian's package, driven by playwright-core): they show
// what the database holds, refresh while a delivery is sending, escape what they show, and name no recipient.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { deliveryStatus } from '../db/delivery-status';
import { feedbackQueue } from '../shared/queues';
import type { PipelineProcess } from '../workers/start/process';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { addOperator, createDelivery, recipientsCsv } from './helpers/fixtures';
import { jobOutcome, startPipeline, testQueue, waitFor } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

const ARTIFACTS = path.join(__dirname, 'artifacts');
const RECIPIENTS = 400;

let t: TestEnv;
let mta: TestMta;
let pipeline: PipelineProcess;
let browser: Browser;
let page: Page;
let base: string;

beforeAll(async () => {
  mta = await startTestMta();
  // 100 messages a second across small batches: the send lasts a few seconds, long enough to watch it move.
  t = await createTestEnv({
    MTA_URL: mta.url,
    DISPATCH_RATE_LIMIT: '100',
    DISPATCH_BATCH_SIZE: '50',
    METRICS_CACHE_TTL: '1s',
  });
  pipeline = await startPipeline(t);
  base = `http://127.0.0.1:${pipeline.port()}`;
  await addOperator(t, 'alice');
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 900, height: 820 } });
  page.on('dialog', (dialog) => {
    throw new Error(`the page ran a script from the data: ${dialog.message()}`);
  });
});

afterAll(async () => {
  await browser?.close();
  await pipeline.stop();
  await mta.close();
  await t.cleanup();
});

const text = async (key: string) => (await page.locator(`[data-k="${key}"]`).first().textContent()) ?? '';
/** The cells of each row of a table body, as text. */
const cells = (rows: string) =>
  page
    .locator(rows)
    .evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent ?? '')));
const pct = (fraction: number) => `${(fraction * 100).toFixed(2)} %`;

test('the list shows each delivery with its state and progress, escaped, and no recipient address', async () => {
  const id = await createDelivery(t, 3, '--label', 'Sale <img src=x onerror=alert(1)>');
  await page.goto(`${base}/deliveries`);
  const row = page.locator('tr', { has: page.locator(`a[href="/deliveries/${id}"]`) });
  const [shown] = await row.evaluateAll((trs) =>
    trs.map((tr) => [...tr.children].map((td) => td.textContent)),
  );
  expect(shown).toEqual([id, 'Sale <img src=x onerror=alert(1)>', 'prepared', 'off', ' 0 / 3']);
  expect(await page.locator('img').count()).toBe(0);
  expect(await page.content()).not.toContain('@example.test');
});

test('the tile refreshes while the delivery is sending and ends with the figures the database holds', async () => {
  const id = await createDelivery(t, RECIPIENTS, '--efs', '--label', 'Winter sale');
  await page.goto(`${base}/deliveries/${id}`);
  expect(await text('state')).toBe('prepared');
  expect((await cli(t.env, 'confirm', id, '--as', 'alice')).code).toBe(0);

  // What the page shows, without reloading it, until every message is at the MTA.
  const seen = new Set<number>();
  await waitFor(
    async () => {
      seen.add(Number(await text('sent')));
      return (await text('state')) === 'sent';
    },
    60_000,
    'the page to show the delivery sent',
  );
  expect([...seen].some((n) => n > 0 && n < RECIPIENTS)).toBe(true);
  expect(await text('sent')).toBe(String(RECIPIENTS));

  // Feedback: a few hard bounces and soft bounces, the rest delivered; the tile and the breakdown follow.
  const logs = await t.sql`select seq, message_id from delivery_logs where delivery_id = ${id} order by seq`;
  const events = logs.map((l, i) => ({
    eventId: `e-${id}-${l.seq}`,
    messageId: l.message_id as string,
    occurredAt: new Date().toISOString(),
    ...(i % 20 === 0
      ? { type: 'hard_bounce', smtpCode: 550, enhancedStatus: '5.1.1', diagnostic: 'user unknown' }
      : i % 20 === 1
        ? { type: 'soft_bounce', smtpCode: 452, enhancedStatus: '4.2.2', diagnostic: 'mailbox full' }
        : { type: 'delivered' }),
  }));
  const feedback = testQueue(t, feedbackQueue.name);
  try {
    const job = await feedback.queue.add('fb', { events });
    expect((await jobOutcome(feedback.queue, job.id!)).state).toBe('completed');
  } finally {
    await feedback.close();
  }
  const status = (await deliveryStatus(t.sql, id))!;
  expect(status.bouncesAndErrors).toBe(RECIPIENTS / 10);
  await waitFor(
    async () => (await text('bouncesAndErrorsRate')) === pct(status.bouncesAndErrorsRate),
    10_000,
    'the page to show the bounces',
  );
  expect(await text('toSend')).toBe(String(status.toSend));
  expect(await text('deliveredRate')).toBe(pct(status.deliveredRate));
  expect(await text('deliveredRateSub')).toBe(`${status.delivered} messages`);
  expect(await text('bouncesAndErrorsRateSub')).toBe(`${status.bouncesAndErrors} messages`);
  expect(await text('openRate')).toBe(pct(status.openRate));
  expect(await text('validUntil')).toBe(status.validUntil);
  expect(await cells('#failures tr')).toEqual([
    ['mailbox full', 'soft', String(RECIPIENTS / 20)],
    ['user unknown', 'hard', String(RECIPIENTS / 20)],
  ]);

  // Read-only: the button tells how to recount, it enqueues nothing.
  await page.getByRole('button', { name: 'Compute statistics' }).click();
  expect(await page.locator('#howto').textContent()).toContain(`npx campaign compute-stats ${id} --wait`);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'tile.png'), fullPage: true });
  // README's picture (with the complaints card): `UPDATE_SCREENSHOTS=1 npx jest test/pages.test.ts`.
  if (process.env.UPDATE_SCREENSHOTS === '1')
    await page.screenshot({ path: path.join(__dirname, '..', 'docs', 'tile.png'), fullPage: true });
});

test('the page of a recurring delivery shows its schedule, pause state and executions; a stopped one its reason', async () => {
  const file = recipientsCsv(2);
  const r = await cli(
    t.env,
    'delivery',
    'create',
    '--label',
    'Weekly',
    '--recipients',
    file,
    '--recurrence',
    '0 9 * * 1',
    '--json',
  );
  const id = r.json<{ id: string }>().id;
  await page.goto(`${base}/deliveries/${id}`);
  expect(await page.locator('#schedule').textContent()).toContain('0 9 * * 1');
  expect(await text('paused')).toBe('running');
  expect(await page.locator('#executions').textContent()).toBe('no execution yet');
  expect((await cli(t.env, 'delivery', 'pause', id)).code).toBe(0);
  await page.goto(`${base}/deliveries/${id}`);
  expect(await text('paused')).toBe('paused');

  const stopped = await createDelivery(t, 2);
  expect((await cli(t.env, 'delivery', 'stop', stopped)).code).toBe(0);
  await page.goto(`${base}/deliveries/${stopped}`);
  expect(await page.locator('#state-reason').textContent()).toMatch(/^stopped: .+/);
});

test('the JSON behind the tile is the status of docs/CONTRACT.md; an unknown delivery is a 404', async () => {
  const id = await createDelivery(t, 2);
  const response = await fetch(`${base}/deliveries/${id}.json`);
  expect(response.status).toBe(200);
  const body = (await response.json()) as { status: unknown; failures: unknown[] };
  expect(body.status).toEqual(await deliveryStatus(t.sql, id));
  expect(body.failures).toEqual([]);
  expect((await fetch(`${base}/deliveries/999999`)).status).toBe(404);
  expect((await fetch(`${base}/deliveries/999999.json`)).status).toBe(404);
});

test('a path the pages do not know (/deliveries/abc) is a 404 that lists /deliveries among the paths', async () => {
  const response = await fetch(`${base}/deliveries/abc`);
  expect(response.status).toBe(404);
  expect(((await response.json()) as { error: string }).error).toBe(
    'not found; try /healthz, /readyz, /metrics or /deliveries',
  );
});

test('only the process running the metrics role serves the pages', async () => {
  const other = await startPipeline(t, { roles: ['tracking'] });
  try {
    const response = await fetch(`http://127.0.0.1:${other.port()}/deliveries`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: string }).error).toBe(
      'not found; try /healthz, /readyz or /metrics',
    );
  } finally {
    await other.stop();
  }
});
