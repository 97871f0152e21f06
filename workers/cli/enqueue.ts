// Enqueues jobs on public queues exactly as upstream services do.
import { Queue } from 'bullmq';
import { enqueue } from '../../shared/enqueue';
import { type ConfirmPayload, confirmQueue } from '../../shared/queues';
import type { CliContext } from './context';

/** Adds a confirm job; returns its job id. */
export async function enqueueConfirm(context: CliContext, payload: ConfirmPayload): Promise<string> {
  const queue = await openQueue(context, confirmQueue.name);
  try {
    const job = await enqueue(queue, confirmQueue, payload, { name: 'confirm' });
    return job.id!;
  } finally {
    await queue.close();
  }
}

export async function openQueue(context: CliContext, name: string): Promise<Queue> {
  const connection = await context.redisConnection();
  return new Queue(name, { connection, prefix: context.config.QUEUE_PREFIX });
}
