// `npm run bench -- feedback-http [events]`: SparkPost-shaped webhook batches of 100 events POSTed to the receiver,
// run as the Procfile runs it (a feedback-http process and a feedback process), until every event is applied;
// beside it, its limit in the same round: the same requests POSTed to a bare node:http server in its own
// process that parses each body and answers 200 (bench/http-sink.ts). Three rounds, interleaved.

import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSnapshot, cpuSplit } from './cpu';
import { seed, TOKEN } from './feedback-stream';
import { interleave, machine, rateFigure } from './limits';
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
    // Its log (warn and above: LOG_LEVEL of the world) goes to our stderr, so a failed start says why.
    stdio: ['ignore', 2, 'inherit'],
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

/** A port nobody listens on now (the OS picks it), for this round's receiver. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** POSTs every body, `IN_FLIGHT` at a time; returns the seconds it took and the requests refused. */
async function postAll(port: number, bodies: string[]): Promise<{ seconds: number; refused: number }> {
  let next = 0;
  let refused = 0;
  const started = performance.now();
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
  return { seconds: (performance.now() - started) / 1000, refused };
}

const bodiesOf = (total: number, perDelivery: number) => {
  const bodies: string[] = [];
  for (let first = 0; first < total; first += REQUEST_EVENTS) bodies.push(batchBody(first, perDelivery));
  return bodies;
};

async function limitRun(total: number): Promise<number> {
  const bodies = bodiesOf(total, Math.round(total / 2));
  const child = fork(path.join(__dirname, 'http-sink.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  try {
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const { seconds } = await postAll(Number(line.toString().trim()), bodies);
    return total / seconds;
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
}

interface ReceiverRun {
  refused: number;
  eventsPerSecond: number;
  acceptedEventsPerSecond: number;
  seconds: number;
  outcomes: Record<string, number>;
  cpu: ReturnType<typeof cpuSplit>;
}

async function receiverRun(total: number): Promise<ReceiverRun> {
  const perDelivery = Math.round(total / 2);
  const port = await freePort();
  const world = await openBenchWorld('fbhttp', {
    FEEDBACK_PORT: String(port),
    FEEDBACK_TOKEN: SECRET,
    FEEDBACK_CONCURRENCY: process.env.FEEDBACK_CONCURRENCY ?? '4',
  });
  const { sql, env } = world;
  const children: ChildProcess[] = [];
  try {
    await seed(sql, perDelivery);
    const bodies = bodiesOf(total, perDelivery);
    children.push(startRole('feedback-http', { ...env, METRICS_PORT: '0' }));
    children.push(startRole('feedback', { ...env, METRICS_PORT: '0' }));
    await waitForPort(port);
    const named = { receiver: children[0]!.pid!, worker: children[1]!.pid! };
    const cpuBefore = cpuSnapshot(named);
    const started = performance.now();
    const { seconds: acceptedSeconds, refused } = await postAll(port, bodies);
    for (;;) {
      const [{ n }] = (await sql`select count(*)::int as n from feedback_events`) as unknown as [
        { n: number },
      ];
      if (n >= total) break;
      await sleep(100);
    }
    const wall = (performance.now() - started) / 1000;
    const cpu = cpuSplit(cpuBefore, cpuSnapshot(named), wall);
    const outcomes =
      await sql`select outcome, count(*)::int as n from feedback_events group by outcome order by outcome`;
    return {
      refused,
      eventsPerSecond: Math.round(total / wall),
      acceptedEventsPerSecond: Math.round(total / acceptedSeconds),
      seconds: Math.round(wall * 100) / 100,
      outcomes: Object.fromEntries(outcomes.map((r) => [r.outcome, r.n])),
      cpu,
    };
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

export async function benchFeedbackHttp(sizes: number[]): Promise<Record<string, unknown>> {
  const total = Math.ceil((sizes[0] ?? 100_000) / REQUEST_EVENTS) * REQUEST_EVENTS;
  const runs: ReceiverRun[] = [];
  const v = await interleave([
    ['limit', () => limitRun(total)],
    [
      'receiver',
      async () => {
        const run = await receiverRun(total);
        runs.push(run);
        return run.acceptedEventsPerSecond;
      },
    ],
  ]);
  const figure = rateFigure(
    'feedback receiver (HTTP), accepted',
    'events/s',
    v.receiver,
    'bareHttpEventsPerSecond',
    v.limit,
  );
  return {
    events: total,
    requests: total / REQUEST_EVENTS,
    requestEvents: REQUEST_EVENTS,
    refused: runs.reduce((n, r) => n + r.refused, 0),
    acceptedEventsPerSecond: figure.value.median,
    bareHttpEventsPerSecond: figure.limit!.median,
    shareOfLimit: figure.share!.median,
    appliedEventsPerSecond: [...runs.map((r) => r.eventsPerSecond)].sort((a, b) => a - b)[
      Math.floor((runs.length - 1) / 2)
    ],
    figures: [figure],
    ...machine(),
    settings: { inFlight: IN_FLIGHT, feedbackConcurrency: Number(process.env.FEEDBACK_CONCURRENCY ?? 4) },
    runs,
  };
}
