// `npm run bench -- first-message [recipients…]`: what a user feels after a confirm: the time from the confirm
// job's enqueueing to the first message fully received by the MTA (a loopback SMTP sink in its own process),
// for 1,000 and 1,000,000 recipients (`firstMessageMs`). Three rounds, the sizes interleaved; each size's
// delivery is imported once and put back to `prepared` (its few logs and every queue key removed) between rounds.

import { Queue } from 'bullmq';
import pino from 'pino';
import { confirmQueue } from '../shared/queues';
import { deleteKeysUnder } from '../shared/redis';
import { startProcess } from '../workers/start/process';
import { addBenchOperator, prepareDelivery, startSink, writeRecipients } from './delivery-kit';
import { interleave, latencyFigure, machine } from './limits';
import { openBenchWorld } from './world';

export async function benchFirstMessage(sizes: number[]): Promise<Record<string, unknown>> {
  const counts = sizes.length > 0 ? sizes : [1000, 1_000_000];
  const files = new Map<number, string>();
  for (const count of counts) files.set(count, await writeRecipients(count));
  const sink = await startSink();
  const world = await openBenchWorld('first', {
    MTA_URL: sink.url,
    DISPATCH_CONCURRENCY: process.env.DISPATCH_CONCURRENCY ?? '4',
    SMTP_POOL_SIZE: process.env.SMTP_POOL_SIZE ?? '8',
  });
  const { sql, config, redis } = world;
  const confirms = new Queue(confirmQueue.name, { connection: redis, prefix: config.QUEUE_PREFIX });
  const log = pino({ level: 'warn' }, pino.destination(2));
  try {
    await addBenchOperator(sql);
    const ids = new Map<number, string>();
    for (const count of counts) {
      const { id } = await prepareDelivery(sql, files.get(count)!, `first ${count}`, {
        mailboxFullReleaseMs: config.QUARANTINE_MAILBOX_FULL_RELEASE,
      });
      ids.set(count, id);
    }
    await sql`vacuum analyze`;
    const once = (count: number) => async () => {
      const id = ids.get(count)!;
      const proc = await startProcess(['confirm', 'dispatch'], config, log);
      await proc.ready;
      const first = sink.nextMessageAt();
      const confirmedAt = performance.timeOrigin + performance.now();
      await confirms.add('confirm', { deliveryId: id, operator: 'bench' });
      const ms = (await first) - confirmedAt;
      // The rest of the delivery is not the point: stop it, let the batches in hand end, then put it back.
      await sql`update deliveries set state = 'stopped', state_reason = 'benchmark' where id = ${id}`;
      await proc.stop();
      await deleteKeysUnder(redis, config.QUEUE_PREFIX);
      await sql`delete from delivery_logs where delivery_id = ${id}`;
      await sql`delete from dispatch_batches where delivery_id = ${id}`;
      await sql`delete from confirm_attempts where delivery_id = ${id}`;
      await sql`update delivery_kpis set sent = 0, delivered = 0, failed = 0 where delivery_id = ${id}`;
      await sql`
        update deliveries set state = 'prepared', state_reason = null, valid_until = null, batch_size = null,
          batches_total = null, batches_done = 0, confirmed_at = null, confirmed_by = null, confirm_job_id = null,
          sending_at = null, sent_at = null, finished_at = null
        where id = ${id}`;
      return ms;
    };
    const v = await interleave(counts.map((c) => [String(c), once(c)] as [string, () => Promise<number>]));
    const figures = counts.map((c) =>
      latencyFigure(
        `confirm → first message at the MTA, ${c.toLocaleString('en')} recipients`,
        v[String(c)]!,
        c >= 1_000_000 ? { of: 'value', atMost: 1000 } : undefined,
      ),
    );
    return {
      firstMessageMs: Object.fromEntries(counts.map((c, i) => [c, figures[i]!.value.median])),
      figures,
      ...machine(),
      settings: { batchSize: config.DISPATCH_BATCH_SIZE, dispatchConcurrency: config.DISPATCH_CONCURRENCY },
    };
  } finally {
    await confirms.close();
    await sink.stop();
    await world.close();
  }
}
