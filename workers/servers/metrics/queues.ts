// Job counts of every declared queue, read from Redis: what the queue-depth metrics and alerts are made of.
import { Queue } from 'bullmq';
import type { QueueDeclaration } from '../../../shared/queues';
import type { RedisClient } from '../../../shared/redis';

/** The states the metrics export, as BullMQ counts them. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** One queue's job counts by state. */
export interface QueueFigures {
  queue: string;
  counts: Record<QueueState, number>;
}

/** Opens one Queue per declaration (on the shared connection, which they do not close) and reads them all. */
export function queueReader(declarations: readonly QueueDeclaration[], redis: RedisClient, prefix: string) {
  const opened = declarations.map((d) => {
    const queue = new Queue(d.name, { connection: redis, prefix });
    // Redis errors are reported by the connection's own listener (process.ts) and by the failed read.
    queue.on('error', () => {});
    return queue;
  });
  return {
    read: (): Promise<QueueFigures[]> =>
      Promise.all(
        opened.map(async (queue) => {
          const c = await queue.getJobCounts(
            'waiting',
            'prioritized',
            'active',
            'delayed',
            'failed',
            'completed',
          );
          return {
            queue: queue.name,
            counts: {
              // Prioritized jobs wait too (BullMQ keeps them apart); a paused queue's jobs stay in `waiting`.
              waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
              active: c.active ?? 0,
              delayed: c.delayed ?? 0,
              failed: c.failed ?? 0,
              completed: c.completed ?? 0,
            },
          };
        }),
      ),
    close: () => Promise.all(opened.map((q) => q.close())),
  };
}
