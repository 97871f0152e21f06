// `npm run bench -- first-message [recipients…]`: what a user feels after a confirm: the time from the confirm
// job's enqueueing to the first message fully received by the MTA (a loopback SMTP sink in its own process),
// for 1,000 and 1,000,000 recipients (`firstMessageMs`). Three rounds, the sizes interleaved.

import { Queue } from 'bullmq';
import pino from 'pino';
import { confirmQueue, dispatchQueue } from '../shared/queues';
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
  const batches = new Queue(dispatchQueue.name, { connection: redis, prefix: config.QUEUE_PREFIX });
  const log = pino({ level: 'warn' }, pino.destination(2));
  try {
    await addBenchOperator(sql);
    const once = (count: number) => async () => {
      const { id } = await prepareDelivery(sql, files.get(count)!, `first ${count}`, {
        mailboxFullReleaseMs: config.QUARANTINE_MAILBOX_FULL_RELEASE,
      });
      await sql`vacuum analyze delivery_targets`;
      const proc = await startProcess(['confirm', 'dispatch'], config, log);
      await proc.ready;
      const first = sink.nextMessageAt();
      const confirmedAt = performance.timeOrigin + performance.now();
      await confirms.add('confirm', { deliveryId: id, operator: 'bench' });
      const ms = (await first) - confirmedAt;
      // The rest of the delivery is not the point: stop it, let the batches in hand end, drop the others.
      await sql`update deliveries set state = 'stopped', state_reason = 'benchmark' where id = ${id}`;
      await proc.stop();
      await batches.obliterate({ force: true });
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
    await batches.close();
    await sink.stop();
    await world.close();
  }
}
