// A real Prometheus scrapes a whole pipeline during a delivery: its delivered ratio moves as feedback arrives.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { feedbackQueue } from '../shared/queues';
import type { PipelineProcess } from '../workers/start/process';
import { cli } from './helpers/cli';
import { freePort } from './helpers/daemon';
import { createTestEnv, type TestEnv } from './helpers/env';
import { debianTool } from './helpers/exposition';
import { addOperator, createDelivery } from './helpers/fixtures';
import { jobOutcome, startPipeline, testQueue, waitFor } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

const binary = debianTool('prometheus');
if (!binary) {
  console.warn(
    'Skipping the Prometheus end-to-end test: /usr/bin/prometheus is missing (apt-get install prometheus).',
  );
}
const describeWithPrometheus = binary ? describe : describe.skip;

describeWithPrometheus('Prometheus scraping npm start', () => {
  let t: TestEnv;
  let mta: TestMta;
  let pipeline: PipelineProcess;
  let producer: ReturnType<typeof testQueue>;
  let prometheus: ChildProcess | undefined;
  let exited: Promise<unknown>;
  let dir: string;
  let api: string;
  let output = '';

  beforeAll(async () => {
    mta = await startTestMta();
    t = await createTestEnv();
    // Every role in one process, as `npm start` runs them; figures re-read at most every second.
    pipeline = await startPipeline(t, { env: { MTA_URL: mta.url, METRICS_CACHE_TTL: '1s' } });
    producer = testQueue(t, feedbackQueue.name);
    await addOperator(t, 'alice');

    dir = mkdtempSync(path.join(tmpdir(), 'campaign-prometheus-'));
    const config = path.join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'scrape_configs:',
        '  - job_name: campaign',
        `    static_configs: [{ targets: ['127.0.0.1:${pipeline.port()}'], labels: { role: all } }]`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      binary!,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stdout!.on('data', (d) => (output += d));
    prometheus.stderr!.on('data', (d) => (output += d));
    exited = new Promise((resolve) => prometheus!.once('exit', resolve));
    await waitFor(
      () =>
        fetch(`${api}/-/ready`)
          .then((r) => r.ok)
          .catch(() => false),
      30_000,
      `Prometheus to be ready (its output: ${output})`,
    );
  });

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      prometheus.kill('SIGTERM');
      const killed = setTimeout(() => prometheus!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killed);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    await producer?.close();
    await pipeline?.stop();
    await mta?.close();
    await t?.cleanup();
  });

  /** One instant query's single value, or undefined when it has no result yet. */
  async function query(promql: string): Promise<number | undefined> {
    const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data: { result: { value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`query ${promql} failed: ${JSON.stringify(body)}`);
    const [first] = body.data.result;
    return first ? Number(first.value[1]) : undefined;
  }

  const until = (promql: string, expected: number) =>
    waitFor(async () => (await query(promql)) === expected, 30_000, `${promql} to be ${expected}`);

  test("the delivered ratio of a running EFS delivery goes 0 → 0.5 → 1 in Prometheus's data", async () => {
    const id = await createDelivery(t, 4, '--efs');
    expect((await cli(t.env, 'confirm', id, '--as', 'alice', '--wait')).code).toBe(0);
    const ids = (
      await t.sql`select message_id from delivery_logs where delivery_id = ${id} order by seq`
    ).map((r) => r.message_id as string);
    const ratio = `campaign_delivery_delivered_ratio{job="campaign",delivery_id="${id}"}`;
    await until(ratio, 0);

    const deliver = async (messageIds: string[]) => {
      const job = await producer.queue.add('fb', {
        events: messageIds.map((messageId) => ({
          eventId: `p-${messageId}`,
          messageId,
          type: 'delivered',
          occurredAt: new Date().toISOString(),
        })),
      });
      expect((await jobOutcome(producer.queue, job.id!)).state).toBe('completed');
    };
    await deliver(ids.slice(0, 2));
    await until(ratio, 0.5);
    await deliver(ids.slice(2));
    await until(ratio, 1);

    // Prometheus kept the whole movement, not just the last value.
    expect(await query(`min_over_time(${ratio}[10m])`)).toBe(0);
    expect(await query(`max_over_time(${ratio}[10m])`)).toBe(1);
    expect(await query(`campaign_delivery_messages_sent{delivery_id="${id}"}`)).toBe(4);
    expect(
      await query(`sum(campaign_feedback_events_total{type="delivered",outcome="applied"})`),
    ).toBeGreaterThanOrEqual(4);
  });
});
