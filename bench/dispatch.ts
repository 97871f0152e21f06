// `npm run bench -- dispatch [recipients]`: confirm to `sent` through a loopback SMTP sink and through a
// dropping transport, each beside its limit measured in the same run: the same count of pre-built messages
// blasted over as many pipelined SMTP connections (no database, no queue), and a bare `unnest` insert of
// the same log rows in transactions of the same size. Three rounds, interleaved.

import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import pino from 'pino';
import { compileMessage } from '../shared/message';
import { envelopeSender, formatMessageId, messageIdDomain } from '../shared/message-id';
import { confirmQueue } from '../shared/queues';
import { createWorkerConnection } from '../shared/redis';
import { droppingTransport } from '../workers/mta/transport';
import { startProcess } from '../workers/start/process';
import { cpuSnapshot, cpuSplit } from './cpu';
import {
  addBenchOperator,
  CONTENT,
  prepareDelivery,
  type Sink,
  startSink,
  writeRecipients,
} from './delivery-kit';
import { interleave, machine, rateFigure } from './limits';
import { type SampledStatement, samplePostgres } from './pg-sampler';
import { blastSmtp, toWire } from './smtp-blast';
import { type BenchWorld, openBenchWorld } from './world';

const CONCURRENCY = Number(process.env.DISPATCH_CONCURRENCY ?? 4);
const CONNECTIONS = Number(process.env.SMTP_POOL_SIZE ?? 8);
/** Log rows a dispatch transaction writes (LOG_EVERY in workers/dispatch/handler.ts). */
const LOG_ROWS = 500;

export interface DispatchRun {
  recipients: number;
  transport: 'smtp' | 'dropping';
  seconds: number;
  messagesPerSecond: number;
  peakRssMb: number;
  cpu: ReturnType<typeof cpuSplit>;
  cpuMicrosPerMessage: Record<string, number>;
  postgres: SampledStatement[];
}

export async function pipelineRun(
  count: number,
  transport: 'smtp' | 'dropping',
  file: string,
  hooks: DispatchHooks = {},
): Promise<DispatchRun> {
  const sink = transport === 'smtp' ? await startSink() : null;
  const world = await openBenchWorld(`dispatch-${count}-${transport}`, dispatchSettings(sink?.url));
  try {
    await addBenchOperator(world.sql);
    const { id } = await prepareDelivery(world.sql, file, `bench ${count}`, {
      mailboxFullReleaseMs: world.config.QUARANTINE_MAILBOX_FULL_RELEASE,
    });
    return await measureDispatch(world, id, count, transport, sink, hooks);
  } finally {
    await sink?.stop();
    await world.close();
  }
}

/** Called around the timed part of a run (bench/dispatch-profile.ts profiles just that part). */
export interface DispatchHooks {
  started?: () => Promise<void>;
  finished?: () => Promise<void>;
}

/** The settings a dispatch world runs with (bench/scale.ts's worlds too). */
export const dispatchSettings = (mtaUrl?: string): Record<string, string> => ({
  DISPATCH_CONCURRENCY: String(CONCURRENCY),
  SMTP_POOL_SIZE: String(CONNECTIONS),
  MTA_URL: mtaUrl ?? 'smtp://127.0.0.1:1',
});

/**
 * Confirms a prepared delivery of `count` recipients and times it to `sent`, with the confirm and dispatch
 * roles started in this process; the peak RSS is this process's, sampled every 100 ms meanwhile.
 */
export async function measureDispatch(
  world: Pick<BenchWorld, 'sql' | 'config' | 'database'>,
  id: string,
  count: number,
  transport: 'smtp' | 'dropping',
  sink: Sink | null,
  hooks: DispatchHooks = {},
): Promise<DispatchRun> {
  const { sql, config } = world;
  const log = pino({ level: 'warn' }, pino.destination(2));
  const proc = await startProcess(
    ['confirm', 'dispatch'],
    config,
    log,
    transport === 'dropping' ? { transport: droppingTransport() } : {},
  );
  await proc.ready;
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 100);
  const named: Record<string, number> = sink?.child.pid ? { sink: sink.child.pid } : {};
  const pgSampler = samplePostgres(sql, world.database);
  await hooks.started?.();
  const cpuBefore = cpuSnapshot(named);
  const started = performance.now();
  const connection = createWorkerConnection(config.REDIS_URL);
  const queue = new Queue(confirmQueue.name, { connection, prefix: config.QUEUE_PREFIX });
  await queue.add('confirm', { deliveryId: id, operator: 'bench' });
  for (;;) {
    const [row] = await sql`select state from deliveries where id = ${id}`;
    if (row!.state === 'sent') break;
    await sleep(50);
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSplit(cpuBefore, cpuSnapshot(named), seconds);
  await hooks.finished?.();
  const postgres = await pgSampler.stop();
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
    cpuMicrosPerMessage: perMessage(cpu, count),
    postgres,
  };
}

/** The same content's messages, built before the clock starts (1,000 of them, cycled). */
function wireMessages() {
  const build = compileMessage(CONTENT);
  const domain = messageIdDomain(CONTENT.sender);
  return Array.from({ length: 1000 }, (_, i) => {
    const messageId = formatMessageId({ deliveryId: '1', seq: i, attempt: 1, token: 'bec0ffee0123' }, domain);
    const email = `user${i}@example${i % 97}.test`;
    const raw = build({ email, data: { first: `First${i}`, city: `City${i % 500}` } }, messageId, new Date());
    return toWire(envelopeSender(CONTENT.sender, null, messageId), email, raw);
  });
}

/** CPU microseconds a message, by process group: what a share is made of on a saturated machine. */
const perMessage = (cpu: ReturnType<typeof cpuSplit>, count: number) =>
  Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, Math.round((v.seconds * 1e6) / count)]));

const limitRuns: {
  messagesPerSecond: number;
  cpu: ReturnType<typeof cpuSplit>;
  cpuMicrosPerMessage: object;
}[] = [];

async function smtpLimitRun(count: number): Promise<number> {
  const messages = wireMessages();
  const sink = await startSink();
  try {
    const named = { sink: sink.child.pid! };
    const before = cpuSnapshot(named);
    const blast = await blastSmtp(sink.port, CONNECTIONS, messages, count);
    const cpu = cpuSplit(before, cpuSnapshot(named), blast.seconds);
    limitRuns.push({
      messagesPerSecond: Math.round(blast.messagesPerSecond),
      cpu,
      cpuMicrosPerMessage: perMessage(cpu, count),
    });
    return blast.messagesPerSecond;
  } finally {
    await sink.stop();
  }
}

/** The dispatch's log rows, inserted bare: `CONCURRENCY` writers, 500 rows a transaction, no KPI, no queue. */
async function dbLimitRun(count: number): Promise<number> {
  const world = await openBenchWorld(`dispatch-db-${count}`, {}, { sqlMax: CONCURRENCY });
  const { sql } = world;
  try {
    const [d] = await sql`
      insert into deliveries (label, efs, validity_seconds, retry_interval_seconds, sender, subject, token, state)
      values ('bench limit', false, 86400, 3600, 'bench@example.test', 's', 'bec0ffee0123', 'sending')
      returning id`;
    const id = String(d!.id);
    const domain = messageIdDomain(CONTENT.sender);
    const chunks: { seqs: number[]; emails: string[]; ids: string[] }[] = [];
    for (let first = 0; first < count; first += LOG_ROWS) {
      const seqs = Array.from({ length: Math.min(LOG_ROWS, count - first) }, (_, i) => first + i);
      chunks.push({
        seqs,
        emails: seqs.map((s) => `user${s}@example${s % 97}.test`),
        ids: seqs.map((s) =>
          formatMessageId({ deliveryId: id, seq: s, attempt: 1, token: 'bec0ffee0123' }, domain),
        ),
      });
    }
    let next = 0;
    const now = new Date();
    const started = performance.now();
    const writer = async () => {
      while (next < chunks.length) {
        const c = chunks[next++]!;
        await sql.begin(
          (tx) => tx`
          insert into delivery_logs (delivery_id, seq, email, status, attempts, message_id, handed_off_at, updated_at)
          select ${id}, u.seq, u.email, 'sent', 1, u.message_id, ${now}, ${now}
          from unnest(${c.seqs}::int[], ${c.emails}::text[], ${c.ids}::text[]) as u(seq, email, message_id)`,
        );
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, writer));
    return count / ((performance.now() - started) / 1000);
  } finally {
    await world.close();
  }
}

export async function benchDispatch(sizes: number[]): Promise<Record<string, unknown>> {
  const count = sizes[0] ?? 100_000;
  const file = await writeRecipients(count);
  const runs: DispatchRun[] = [];
  const pipeline = (transport: 'smtp' | 'dropping') => async () => {
    const run = await pipelineRun(count, transport, file);
    runs.push(run);
    return run.messagesPerSecond;
  };
  const v = await interleave([
    ['smtpLimit', () => smtpLimitRun(count)],
    ['smtp', pipeline('smtp')],
    ['dbLimit', () => dbLimitRun(count)],
    ['dropping', pipeline('dropping')],
  ]);
  const smtp = rateFigure('dispatch through SMTP', 'msg/s', v.smtp, 'smtpLimitPerSecond', v.smtpLimit, {
    of: 'share',
    atLeast: 0.8,
  });
  const dropping = rateFigure(
    'dispatch, dropping transport',
    'msg/s',
    v.dropping,
    'dbLimitRowsPerSecond',
    v.dbLimit,
  );
  return {
    recipients: count,
    smtpMessagesPerSecond: smtp.value.median,
    smtpLimitPerSecond: smtp.limit!.median,
    smtpShareOfLimit: smtp.share!.median,
    droppingMessagesPerSecond: dropping.value.median,
    dbLimitRowsPerSecond: dropping.limit!.median,
    droppingShareOfLimit: dropping.share!.median,
    peakRssMb: Math.max(...runs.map((r) => r.peakRssMb)),
    figures: [smtp, dropping],
    ...machine(),
    settings: {
      batchSize: 1000,
      dispatchConcurrency: CONCURRENCY,
      smtpConnections: CONNECTIONS,
      logRows: LOG_ROWS,
    },
    runs,
    smtpLimitRuns: limitRuns,
  };
}
