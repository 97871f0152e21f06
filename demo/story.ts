// The demo's story, told against a running pipeline: operators, two deliveries, a refused and two accepted
// confirms, the send's progress, the live KPI tiles until both deliveries are finished, and the final figures.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import type postgres from 'postgres';
import {
  type FailureCount,
  failuresByReason,
  type LogOutcome,
  logOutcomes,
  softBouncedAfterTheEnd,
} from '../db/delivery-page';
import { type DeliveryStatus, deliveryStatus } from '../db/delivery-status';
import { feedbackQueue, trackingQueue } from '../shared/queues';
import type { RedisClient } from '../shared/redis';
import { renderTile } from '../workers/cli/render';
import { campaign } from './cli';
import type { DeliveryDecisions, SimulatedMta } from './mta';
import { bar, compactLine, LiveArea } from './screen';

/** What the story runs against: the pipeline's environment, database, Redis and the simulated MTA. */
export interface StoryContext {
  env: Record<string, string>;
  sql: postgres.Sql;
  redis: RedisClient;
  mta: SimulatedMta;
  pageUrl: string;
  recipients: number;
  validity: string;
  retryInterval: string;
}

/** What the demo ends with, per delivery: the database's figures beside what the simulator decided. */
export interface StoryResult {
  deliveries: {
    status: DeliveryStatus;
    failures: FailureCount[];
    decisions: DeliveryDecisions | null;
    /** soft bounces of a last retry that came after the end: the message stays as it was (DESIGN.md) */
    bouncedAfterTheEnd: number;
    /** every message, with whether its latest attempt's feedback came after the finish (the test's check) */
    logs: LogOutcome[];
  }[];
  /** feedback and tracking jobs that failed for good (0 expected: the figures would miss their events) */
  failedJobs: number;
}

const POLL_MS = 250;
const SENDING = new Set(['prepared', 'scheduled', 'sending']);
const say = (text = '') => process.stdout.write(`${text}\n`);

async function recipientsFile(dir: string, name: string, count: number): Promise<string> {
  const file = path.join(dir, `${name}.csv`);
  const lines = ['email,first'];
  for (let i = 1; i <= count; i++) lines.push(`customer${i}@${name}.example.com,Customer ${i}`);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

async function createDelivery(ctx: StoryContext, dir: string, label: string, efs: boolean): Promise<string> {
  const file = await recipientsFile(dir, efs ? 'efs' : 'std', ctx.recipients);
  const argv = ['delivery', 'create', '--label', label, '--recipients', file];
  const content = ['--subject', 'Winter sale, {{first}}', '--text', 'Dear {{first}}, the sale starts now.'];
  const timing = ['--validity', ctx.validity, '--retry-interval', ctx.retryInterval];
  const r = await campaign(ctx.env, [...argv, ...(efs ? ['--efs'] : []), ...timing, ...content, '--json'], {
    command: `delivery create --label "${label}" --recipients ${path.basename(file)}${efs ? ' --efs' : ''} --validity ${ctx.validity} --retry-interval ${ctx.retryInterval} …`,
  });
  if (r.code !== 0) throw new Error(`could not create the delivery: ${r.stderr.trim()}`);
  return (JSON.parse(r.stdout) as { id: string }).id;
}

async function statuses(sql: postgres.Sql, ids: string[]): Promise<DeliveryStatus[]> {
  return Promise.all(ids.map(async (id) => (await deliveryStatus(sql, id))!));
}

/** Phase 1: the progress bars of both sends, until every message of both is at the MTA. */
async function followSending(ctx: StoryContext, ids: string[], area: LiveArea): Promise<void> {
  for (;;) {
    const all = await statuses(ctx.sql, ids);
    const lines = all.map(
      (s) =>
        `sending delivery ${s.id} ${bar(s.progress)} ${Math.round(s.progress * 100)} % ${s.sent}/${s.toSend}`,
    );
    area.draw(lines, lines);
    if (all.every((s) => !SENDING.has(s.state))) return area.release();
    await sleep(POLL_MS);
  }
}

/** Phase 2: the KPI tiles moving with feedback, retries and the compressed hourly job, until both finish. */
async function followTiles(ctx: StoryContext, ids: string[], area: LiveArea): Promise<void> {
  for (;;) {
    const all = await statuses(ctx.sql, ids);
    const end = Math.max(...all.map((s) => (s.validUntil ? Date.parse(s.validUntil) : 0)));
    const left = Math.max(0, Math.round((end - Date.now()) / 1000));
    const footer = `validity period ends in ${left} s; feedback, retries and the hourly job (every 5 s here) move the tiles`;
    area.draw([...all.flatMap((s) => [renderTile(s), '']), footer], [...all.map(compactLine), footer]);
    if (all.every((s) => s.state === 'finished')) return area.release();
    await sleep(1000);
  }
}

/** Waits until the simulator has said everything and the pipeline has applied it; returns jobs failed for good. */
async function drain(ctx: StoryContext): Promise<number> {
  const queues = [feedbackQueue, trackingQueue].map(
    (q) => new Queue(q.name, { connection: ctx.redis, prefix: ctx.env.QUEUE_PREFIX }),
  );
  try {
    for (;;) {
      const counts = await Promise.all(queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed')));
      const busy = counts.some((c) => Object.values(c).some((n) => n > 0));
      if (ctx.mta.idle() && !busy)
        return (await Promise.all(queues.map((q) => q.getJobCountByTypes('failed')))).reduce((a, b) => a + b);
      await sleep(POLL_MS);
    }
  } finally {
    await Promise.all(queues.map((q) => q.close()));
  }
}

function describeDecisions(id: string, d: DeliveryDecisions | null): string {
  if (!d) return `  delivery ${id}: the MTA received nothing`;
  return (
    `  delivery ${id}: ${d.received} recipients: ${d.fates.delivered} delivered, ${d.fates.hard} hard bounces ` +
    `(550 5.1.1 user unknown), ${d.fates['soft-recover']} soft bounces delivered on retry, ` +
    `${d.fates['soft-never']} soft bounces that never succeed; ${d.opens} opened, ${d.clicks} clicked`
  );
}

export async function tellStory(ctx: StoryContext): Promise<StoryResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'campaign-demo-'));
  try {
    say(`The tile page, live while the demo runs: ${ctx.pageUrl}\n`);
    say('Two operators: alice may start deliveries, bob may not.');
    await campaign(ctx.env, ['operator', 'add', 'alice', '--role', 'start-deliveries']);
    await campaign(ctx.env, ['operator', 'add', 'bob']);
    say(`\nTwo deliveries of ${ctx.recipients} recipients each, one with the Email Feedback Service (EFS).`);
    const efs = await createDelivery(ctx, dir, 'Winter sale (EFS)', true);
    const std = await createDelivery(ctx, dir, 'Winter sale', false);
    say('\nbob confirms: refused, nothing is sent.');
    await campaign(ctx.env, ['confirm', efs, '--as', 'bob', '--wait']);
    say('\nalice confirms both.');
    await campaign(ctx.env, ['confirm', efs, '--as', 'alice']);
    await campaign(ctx.env, ['confirm', std, '--as', 'alice']);
    say();
    const ids = [efs, std];
    const area = new LiveArea(process.stdout, 2000);
    await followSending(ctx, ids, area);
    say(
      '\nEvery message is at the MTA. With EFS, delivered % rises as the MTA confirms; without, it starts at 100 %\nand falls with bounces.\n',
    );
    await followTiles(ctx, ids, new LiveArea(process.stdout, 5000));
    const failedJobs = await drain(ctx);
    if (failedJobs > 0)
      say(
        `\n${failedJobs} feedback or tracking jobs failed for good: the figures miss their events (see the log).`,
      );
    say('\nBoth deliveries are finished. "Compute statistics" recounts every figure from the logs:');
    for (const id of ids) {
      const r = await campaign(ctx.env, ['compute-stats', id, '--wait', '--json'], {
        command: `compute-stats ${id} --wait`,
        output: false,
      });
      if (r.code !== 0) throw new Error(`compute-stats failed: ${r.stderr.trim()}`);
      const drift = Object.values((JSON.parse(r.stdout) as { drift: Record<string, number> }).drift);
      say(`  drift ${drift.every((n) => n === 0) ? 'none: the counters agreed with the recount' : drift}`);
    }
    const decisions = ctx.mta.decisions();
    const result: StoryResult = { deliveries: [], failedJobs };
    say('\nFinal tiles:\n');
    for (const status of await statuses(ctx.sql, ids)) {
      const failures = await failuresByReason(ctx.sql, status.id);
      const late = await softBouncedAfterTheEnd(ctx.sql, status.id);
      const decided = decisions[status.id] ?? null;
      const logs = await logOutcomes(ctx.sql, status.id);
      result.deliveries.push({ status, failures, decisions: decided, bouncedAfterTheEnd: late, logs });
      say(renderTile(status));
      say(
        `  failures          ${failures.map((f) => `${f.count} ${f.reason} (${f.type})`).join(', ') || 'none'}`,
      );
      if (late > 0 && !status.efs)
        say(
          `  (${late} last retries were handed over just before the end and bounced after it: the validity\n` +
            '   period was over, so they stay as they were: sent, counted delivered)',
        );
      say();
    }
    say('What the simulated MTA was told to do (seeded, so every run tells this story):');
    for (const id of ids) say(describeDecisions(id, decisions[id] ?? null));
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
