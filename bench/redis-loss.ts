// `npm run bench -- redis-loss [recipients]`: a delivery whose Redis loses every key at 30 % of its hand-offs,
// against the same delivery undisturbed; a scheduled delivery across the loss; the reconciler's idle cost.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import pino from 'pino';
import { confirmQueue } from '../shared/queues';
import { createWorkerConnection, deleteKeysUnder } from '../shared/redis';
import { parseDuration } from '../shared/rules/duration';
import type { MtaTransport } from '../workers/mta/transport';
import { startProcess } from '../workers/start/process';
import { addBenchOperator, prepareDelivery, writeRecipients } from './delivery-kit';
import { machine, percentile } from './limits';
import { type BenchWorld, openBenchWorld } from './world';

/** The interval the benchmark reconciles at: the bound on how long a loss holds a delivery up. */
const INTERVAL = process.env.RECONCILE_INTERVAL ?? '2s';
const LOSS_AT = 0.3;
const ROLES = ['confirm', 'dispatch', 'feedback', 'retry', 'aggregate'] as const;

/** Drops every message, counting hand-offs by recipient: a count above 1 is a repeat at the MTA. */
function countingTransport(): MtaTransport & { total: () => number; byRecipient: Map<string, number> } {
  const byRecipient = new Map<string, number>();
  let total = 0;
  return {
    byRecipient,
    total: () => total,
    async send(envelope) {
      total++;
      byRecipient.set(envelope.to, (byRecipient.get(envelope.to) ?? 0) + 1);
      return { ok: true };
    },
    async close() {},
  };
}

/** 50 recipients of their own (sched0@…), so that their hand-offs are told apart from the big delivery's. */
function scheduledRecipients(): string {
  const dir = path.join(__dirname, 'tmp');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'recipients-scheduled-50.csv');
  const lines = ['email,first,city'];
  for (let i = 0; i < 50; i++) lines.push(`sched${i}@example.test,Sched${i},City${i}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

async function confirm(world: BenchWorld, deliveryId: string) {
  const connection = createWorkerConnection(world.config.REDIS_URL);
  const queue = new Queue(confirmQueue.name, { connection, prefix: world.config.QUEUE_PREFIX });
  await queue.add('confirm', { deliveryId, operator: 'bench' });
  await queue.close();
  connection.disconnect();
}

const stateOf = async (world: BenchWorld, id: string) =>
  (await world.sql`select state from deliveries where id = ${id}`)[0]!.state as string;

interface Run {
  seconds: number;
  reached: number;
  handOffs: number;
  repeats: number;
  lossAtHandOffs?: number;
  scheduled?: { contactDate: string; sendingAt: string; lateSeconds: number; lossBeforeContact: boolean };
}

/** One delivery of `count`; with `lose`, every key under the prefix is deleted at 30 % of the hand-offs. */
async function run(count: number, file: string, lose: { expectedSeconds: number } | null): Promise<Run> {
  const world = await openBenchWorld(`redis-loss-${lose ? 'lost' : 'calm'}`, {
    RECONCILE_INTERVAL: INTERVAL,
    LOG_LEVEL: 'error',
  });
  const transport = countingTransport();
  const log = pino({ level: 'error' }, pino.destination(2));
  try {
    await addBenchOperator(world.sql);
    const quarantine = { mailboxFullReleaseMs: world.config.QUARANTINE_MAILBOX_FULL_RELEASE };
    const { id } = await prepareDelivery(world.sql, file, `bench ${count}`, quarantine);
    const proc = await startProcess([...ROLES], world.config, log, { transport });
    await proc.ready;
    // A delivery scheduled for a contact date just after the loss: its delayed start is lost with the keys.
    let scheduledId: string | null = null;
    let contactDate: Date | null = null;
    if (lose) {
      contactDate = new Date(Date.now() + (LOSS_AT * lose.expectedSeconds + 5) * 1000);
      scheduledId = (await prepareDelivery(world.sql, scheduledRecipients(), 'scheduled', quarantine)).id;
      await world.sql`update deliveries set contact_date = ${contactDate} where id = ${scheduledId}`;
      await confirm(world, scheduledId);
      while ((await stateOf(world, scheduledId)) !== 'scheduled') await sleep(20);
    }
    const started = performance.now();
    await confirm(world, id);
    let lossAtHandOffs: number | undefined;
    let lostAt = 0;
    for (;;) {
      if (lose && lossAtHandOffs === undefined && transport.total() >= LOSS_AT * count) {
        lossAtHandOffs = transport.total();
        await deleteKeysUnder(world.redis, world.config.QUEUE_PREFIX);
        lostAt = Date.now();
      }
      if ((await stateOf(world, id)) === 'sent') break;
      await sleep(lose && lossAtHandOffs === undefined ? 5 : 50);
    }
    const seconds = (performance.now() - started) / 1000;
    let scheduled: Run['scheduled'];
    if (scheduledId && contactDate) {
      for (;;) {
        const [row] = await world.sql`select state, sending_at from deliveries where id = ${scheduledId}`;
        if (row!.state === 'sent') {
          scheduled = {
            contactDate: contactDate.toISOString(),
            sendingAt: row!.sending_at.toISOString(),
            lateSeconds: Math.round((row!.sending_at.getTime() - contactDate.getTime()) / 10) / 100,
            lossBeforeContact: lostAt < contactDate.getTime(),
          };
          break;
        }
        await sleep(50);
      }
    }
    await proc.stop();
    let mainReached = 0;
    let repeats = 0;
    for (const [to, n] of transport.byRecipient) {
      if (to.startsWith('user')) mainReached++;
      repeats += n - 1;
    }
    return {
      seconds: Math.round(seconds * 100) / 100,
      reached: mainReached,
      handOffs: transport.total(),
      repeats,
      ...(lossAtHandOffs !== undefined ? { lossAtHandOffs } : {}),
      ...(scheduled ? { scheduled } : {}),
    };
  } finally {
    await world.close();
  }
}

/** The reconciler with nothing to do: statements per pass (pg_stat_database) and milliseconds per pass. */
async function idleCost(): Promise<Record<string, unknown>> {
  // The sweeps (their own SQL) and the timer are set far apart, so that only the measured passes run.
  const world = await openBenchWorld('redis-loss-idle', {
    RECONCILE_INTERVAL: '1h',
    RECURRENCE_TICK: '1h',
    RETRY_SWEEP_INTERVAL: '1h',
    LOG_LEVEL: 'error',
  });
  const log = pino({ level: 'error' }, pino.destination(2));
  try {
    const proc = await startProcess([...ROLES], world.config, log, { transport: countingTransport() });
    await proc.ready;
    await proc.reconcile();
    const passes = 100;
    const stat = async () => {
      // An idle backend holds its statistics up to 10 s before it flushes them: wait that out before reading.
      await sleep(11_000);
      const [row] = await world.sql`
        select xact_commit + xact_rollback as n from pg_stat_database where datname = ${world.database}`;
      return Number(row!.n);
    };
    const before = await stat();
    const ms: number[] = [];
    for (let i = 0; i < passes; i++) {
      const t0 = performance.now();
      await proc.reconcile();
      ms.push(performance.now() - t0);
    }
    // The two reads of pg_stat_database are transactions too: one is inside the window.
    const statements = (await stat()) - before - 1;
    await proc.stop();
    const perPass = Math.round((statements / passes) * 10) / 10;
    return {
      roles: ROLES,
      passes,
      statementsPerPass: perPass,
      msPerPass: {
        median: Math.round(percentile(ms, 0.5) * 100) / 100,
        p95: Math.round(percentile(ms, 0.95) * 100) / 100,
      },
      queriesPerMinutePerProcess: {
        [`at ${INTERVAL} (the loss run)`]: Math.round(perPass * (60_000 / parseDuration(INTERVAL))),
        'at 30s (the default)': Math.round(perPass * 2 * 10) / 10,
      },
    };
  } finally {
    await world.close();
  }
}

export async function benchRedisLoss(sizes: number[]): Promise<Record<string, unknown>> {
  const count = sizes[0] || 100_000;
  const file = await writeRecipients(count);
  const calm = await run(count, file, null);
  const lost = await run(count, file, { expectedSeconds: calm.seconds });
  const idle = await idleCost();
  const ratio = Math.round((lost.seconds / calm.seconds) * 100) / 100;
  const repeatShare = Math.round((lost.repeats / count) * 100_000) / 1000;
  return {
    recipients: count,
    reconcileInterval: INTERVAL,
    lossAt: `every key deleted at ${lost.lossAtHandOffs} of ${count} hand-offs`,
    everyRecipientReached: lost.reached === count,
    reached: lost.reached,
    repeatsAtMta: lost.repeats,
    repeatsPercentOfAudience: repeatShare,
    repeatsTarget: '≤ 0.5 %',
    repeatsMet: repeatShare <= 0.5,
    undisturbedSeconds: calm.seconds,
    lostSeconds: lost.seconds,
    timeRatio: ratio,
    timeTarget: '≤ 1.2×',
    timeMet: ratio <= 1.2,
    scheduled: lost.scheduled,
    scheduledWithinInterval:
      lost.scheduled !== undefined && lost.scheduled.lateSeconds * 1000 <= parseDuration(INTERVAL),
    idle,
    runs: { calm, lost },
    ...machine(),
  };
}
