// `npm run bench -- dispatch`: confirm to `sent` for 100,000 and 1,000,000 recipients, through a dropping
// transport and a loopback SMTP sink; prints messages/s, peak RSS and the CPU split.

import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createDeliveryWithTargets } from '../db/import';
import { confirmQueue } from '../shared/queues';
import { readRecipients } from '../shared/recipients';
import { droppingTransport } from '../workers/mta/transport';
import { startProcess } from '../workers/start/process';
import { cpuSnapshot, cpuSplit } from './cpu';
import { openBenchWorld } from './world';

const TMP = path.join(__dirname, 'tmp');

async function writeRecipients(count: number): Promise<string> {
  mkdirSync(TMP, { recursive: true });
  const file = path.join(TMP, `recipients-${count}.csv`);
  const out = createWriteStream(file);
  out.write('email,first,city\n');
  for (let i = 0; i < count; i++) {
    if (!out.write(`user${i}@example${i % 97}.test,First${i},City${i % 500}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return file;
}

async function startSink(): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(path.join(__dirname, 'smtp-sink.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, url: `smtp://127.0.0.1:${line.toString().trim()}` };
}

export interface DispatchRun {
  recipients: number;
  transport: 'smtp' | 'dropping';
  seconds: number;
  messagesPerSecond: number;
  peakRssMb: number;
  cpu: ReturnType<typeof cpuSplit>;
}

async function runOnce(count: number, transport: 'smtp' | 'dropping', file: string): Promise<DispatchRun> {
  const sink = transport === 'smtp' ? await startSink() : null;
  const world = await openBenchWorld(`dispatch-${count}-${transport}`, {
    DISPATCH_CONCURRENCY: process.env.DISPATCH_CONCURRENCY ?? '4',
    SMTP_POOL_SIZE: process.env.SMTP_POOL_SIZE ?? '8',
    MTA_URL: sink?.url ?? 'smtp://127.0.0.1:1',
  });
  const { sql, config } = world;
  const log = pino({ level: 'warn' }, pino.destination(2));
  try {
    await sql`insert into operators (login) values ('bench')`;
    await sql`insert into operator_roles (operator_id, role) select id, 'start-deliveries' from operators`;
    const { id } = await createDeliveryWithTargets(
      sql,
      {
        label: `bench ${count}`,
        efs: false,
        validitySeconds: 86_400,
        retryIntervalSeconds: 3600,
        contactDate: null,
        sender: 'bench@example.test',
        subject: 'Hello {{first}}',
        textBody: 'Dear {{first}},\nthe weather in {{city}} is fine.\n'.repeat(8),
        htmlBody: '<p>Dear {{first}},</p><p>the weather in {{city}} is fine.</p>'.repeat(8),
        columns: ['first', 'city'],
      },
      readRecipients(file, ['first', 'city']),
      { now: Date.now(), quarantine: { mailboxFullReleaseMs: config.QUARANTINE_MAILBOX_FULL_RELEASE } },
    );
    const proc = await startProcess(
      ['confirm', 'dispatch'],
      config,
      log,
      transport === 'dropping' ? { transport: droppingTransport() } : {},
    );
    await proc.ready;
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 100);
    const named: Record<string, number> = sink?.child.pid ? { sink: sink.child.pid } : {};
    const cpuBefore = cpuSnapshot(named);
    const started = performance.now();
    const connection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(confirmQueue.name, { connection, prefix: config.QUEUE_PREFIX });
    await queue.add('confirm', { deliveryId: id, operator: 'bench' });
    let lastShown = 0;
    for (;;) {
      const [row] =
        await sql`select d.state, k.sent from deliveries d join delivery_kpis k on k.delivery_id = d.id where d.id = ${id}`;
      if (row!.state === 'sent') break;
      if (performance.now() - lastShown > 5000) {
        lastShown = performance.now();
        process.stderr.write(`  ${transport} ${count}: ${row!.sent} sent…\n`);
      }
      await sleep(100);
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuSplit(cpuBefore, cpuSnapshot(named), seconds);
    clearInterval(sampler);
    await queue.close();
    connection.disconnect();
    await proc.stop();
    return {
      recipients: count,
      transport,
      seconds: Math.round(seconds * 100) / 100,
      messagesPerSecond: Math.round(count / seconds),
      peakRssMb: Math.round(peakRss / 1024 / 1024),
      cpu,
    };
  } finally {
    sink?.child.kill('SIGTERM');
    await world.close();
  }
}

export async function benchDispatch(sizes: number[]): Promise<Record<string, unknown>> {
  const runs: DispatchRun[] = [];
  for (const count of sizes) {
    const file = await writeRecipients(count);
    for (const transport of (process.env.BENCH_TRANSPORTS ?? 'dropping,smtp').split(',') as (
      | 'smtp'
      | 'dropping'
    )[]) {
      // A fresh process per run would be fairer for RSS; here runs are sequential in one process,
      // so each peak is read after the previous run's memory was released (gc when exposed).
      (globalThis as { gc?: () => void }).gc?.();
      const run = await runOnce(count, transport, file);
      runs.push(run);
      console.log(
        `${transport.padEnd(8)} ${String(count).padStart(9)} recipients: ${run.messagesPerSecond} msg/s in ${run.seconds} s, ` +
          `peak RSS ${run.peakRssMb} MB, CPU cores: ${Object.entries(run.cpu)
            .map(([k, v]) => `${k} ${v.cores}`)
            .join(', ')}`,
      );
    }
  }
  const find = (t: string, n: number) => runs.find((r) => r.transport === t && r.recipients === n);
  const largest = Math.max(...sizes);
  const smallest = Math.min(...sizes);
  return {
    smtpMessagesPerSecond: find('smtp', largest)?.messagesPerSecond ?? null,
    droppingMessagesPerSecond: find('dropping', largest)?.messagesPerSecond ?? null,
    peakRssMb100k: Math.max(
      find('smtp', smallest)?.peakRssMb ?? 0,
      find('dropping', smallest)?.peakRssMb ?? 0,
    ),
    peakRssMb1M: Math.max(find('smtp', largest)?.peakRssMb ?? 0, find('dropping', largest)?.peakRssMb ?? 0),
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    node: process.version,
    settings: {
      batchSize: 1000,
      dispatchConcurrency: Number(process.env.DISPATCH_CONCURRENCY ?? 4),
      smtpPoolSize: Number(process.env.SMTP_POOL_SIZE ?? 8),
    },
    runs,
  };
}
