// The queues the console produces on, through the typed producer upstream services use (shared/enqueue.ts):
// opened once on the console's own fail-fast connection, closed with it.
import { Queue } from 'bullmq';
import type { RedisClient } from '../../../shared/redis';

/** A queue by name, opened on first use. */
export interface ConsoleQueues {
  get(name: string): Queue;
  close(): Promise<void>;
}

export function consoleQueues(connection: RedisClient, prefix: string): ConsoleQueues {
  const open = new Map<string, Queue>();
  return {
    get(name) {
      let queue = open.get(name);
      if (!queue) {
        queue = new Queue(name, { connection, prefix });
        queue.on('error', () => {});
        open.set(name, queue);
      }
      return queue;
    },
    close: async () => void (await Promise.all([...open.values()].map((q) => q.close()))),
  };
}
