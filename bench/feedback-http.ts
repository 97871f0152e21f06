// `npm run bench -- feedback-http [events]`: SparkPost-shaped webhook batches of 100 events POSTed to the receiver,
// run as the Procfile runs it (a feedback-http process and a feedback process), until every event is applied.

import { type ChildProcess, spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSnapshot, cpuSplit } from './cpu';
import { seed, TOKEN } from './feedback-stream';
import { openBenchWorld } from './world';

const REQUEST_EVENTS = 100;
/** Requests in flight at once, as a provider's webhook senders keep several connections busy. */
const IN_FLIGHT = 16;
const SECRET = 'bench-feedback-token-0123456789';
const ROOT = path.resolve(__dirname, '..');

/** One SparkPost batch: 80 % deliveries, 10 % hard bounces, 10 % soft bounces, every event unique. */
function batchBody(first: number, perDelivery: number): string {
  const events = [];
  for (let n = first; n < first + REQUEST_EVENTS; n++) {
    const deliveryId = n % 2 === 0 ? 1 : 2;
    const seq = Math.floor(n / 2) % perDelivery;
    const kind = n % 10 === 3 ? 'hard' : n % 10 === 7 ? 'soft' : 'delivery';
    const event: Record<string, unknown> = {
      type: kind === 'delivery' ? 'delivery' : 'bounce',
      event_id: `bench-${n}`,
      message_id: `sp-${n}`,
      timestamp: String(Date.UTC(2026, 10, 24, 10) / 1000),
      rcpt_meta: { campaign_message_id: `1.${seq}.${deliveryId}.${TOKEN}@bench.test` },
    };
    if (kind === 'hard')
      Object.assign(event, { bounce_class: '10', error_code: '550', raw_reason: '550 5.1.1 user unknown' });
    if (kind === 'soft')
      Object.assign(event, { bounce_class: '22', error_code: '452', raw_reason: '452 4.2.2 mailbox full' });
    events.push({ msys: { message_event: event } });
  }
  return JSON.stringify(events);
}

function startRole(role: string, env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'workers', 'run.ts'), role], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/feedback/generic`, { method: 'GET' });
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`the receiver did not listen on ${port}`);
}

export async function benchFeedbackHttp(sizes: number[]): Promise<Record<string, unknown>> {
  const total = Math.ceil((sizes[0] ?? 200_000) / REQUEST_EVENTS) * REQUEST_EVENTS;
  const perDelivery = Math.round(total / 2);
  const port = 20000 + (process.pid % 20000);
  const world = await openBenchWorld('fbhttp', {
    FEEDBACK_PORT: String(port),
    FEEDBACK_TOKEN: SECRET,
    FEEDBACK_CONCURRENCY: process.env.FEEDBACK_CONCURRENCY ?? '4',
  });
  const { sql, env } = world;
  const children: ChildProcess[] = [];
  try {
    console.log(`seeding ${perDelivery * 2} sent messages…`);
    await seed(sql, perDelivery);
    const bodies: string[] = [];
    for (let first = 0; first < total; first += REQUEST_EVENTS) bodies.push(batchBody(first, perDelivery));
    children.push(startRole('feedback-http', { ...env, METRICS_PORT: '0' }));
    children.push(startRole('feedback', { ...env, METRICS_PORT: '0' }));
    await waitForPort(port);
    console.log(`posting ${total} events in ${bodies.length} requests…`);

    const named = { receiver: children[0]!.pid!, worker: children[1]!.pid! };
    const cpuBefore = cpuSnapshot(named);
    const started = performance.now();
    let next = 0;
    let refused = 0;
    const sender = async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const res = await fetch(`http://127.0.0.1:${port}/feedback/sparkpost`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` },
        });
        await res.arrayBuffer();
        if (res.status !== 200) refused++;
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, sender));
    const acceptedSeconds = (performance.now() - started) / 1000;
    for (;;) {
      const [{ n }] = (await sql`select count(*)::int as n from feedback_events`) as unknown as [
        { n: number },
      ];
      if (n >= total) break;
      await sleep(200);
    }
    const wall = (performance.now() - started) / 1000;
    const cpu = cpuSplit(cpuBefore, cpuSnapshot(named), wall);
    const outcomes =
      await sql`select outcome, count(*)::int as n from feedback_events group by outcome order by outcome`;
    const result = {
      events: total,
      requests: bodies.length,
      requestEvents: REQUEST_EVENTS,
      refused,
      eventsPerSecond: Math.round(total / wall),
      acceptedEventsPerSecond: Math.round(total / acceptedSeconds),
      seconds: Math.round(wall * 100) / 100,
      outcomes: Object.fromEntries(outcomes.map((r) => [r.outcome, r.n])),
      cpu,
      cores: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      node: process.version,
      settings: { inFlight: IN_FLIGHT, feedbackConcurrency: Number(env.FEEDBACK_CONCURRENCY) },
    };
    console.log(
      `${total} events in ${result.seconds} s: ${result.eventsPerSecond} events/s applied ` +
        `(${result.acceptedEventsPerSecond} events/s accepted by the receiver)`,
    );
    return result;
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map(
        (c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.once('exit', resolve))),
      ),
    );
    await world.close();
  }
}
