// The one way a producer puts work on a queue: the declaration's job options, a payload of its schema's
// input type, a deterministic job id, and the time the job is due (a delay from `now`).
import type { Job, JobsOptions, Queue } from 'bullmq';
import type { z } from 'zod';
import type { QueueDeclaration } from './queues';

/** How one job is enqueued besides its payload. */
export interface EnqueueOptions {
  /** Deterministic id (shared/queues.ts jobIds): enqueueing the same work twice is one job. */
  jobId?: string;
  /** When the job is due; with `now`, the delay. Absent or past: at once. */
  at?: Date;
  /** The clock the delay is measured from (injected, so time stays testable); defaults to the wall clock. */
  now?: Date;
  /** The job's name; defaults to the queue's name. */
  name?: string;
}

/** A job as BullMQ's addBulk takes it, built from its declaration. */
export function jobFor<S extends z.ZodType>(
  declaration: QueueDeclaration<S>,
  payload: z.input<S>,
  options: EnqueueOptions = {},
): { name: string; data: z.input<S>; opts: JobsOptions } {
  const opts: JobsOptions = { ...declaration.jobOptions };
  if (options.jobId !== undefined) opts.jobId = options.jobId;
  if (options.at !== undefined) {
    const now = (options.now ?? new Date()).getTime();
    opts.delay = Math.max(0, options.at.getTime() - now);
  }
  return { name: options.name ?? declaration.name, data: payload, opts };
}

function assertQueue(queue: Queue, declaration: QueueDeclaration): void {
  if (queue.name !== declaration.name)
    throw new Error(`a ${declaration.name} job was to be added to the queue ${queue.name}`);
}

/** Adds one job of the declared queue to `queue` (which must be that queue). */
export function enqueue<S extends z.ZodType>(
  queue: Queue,
  declaration: QueueDeclaration<S>,
  payload: z.input<S>,
  options: EnqueueOptions = {},
): Promise<Job> {
  assertQueue(queue, declaration);
  const job = jobFor(declaration, payload, options);
  return queue.add(job.name, job.data, job.opts);
}

/** Adds many jobs of the declared queue in one round trip. */
export function enqueueBulk<S extends z.ZodType>(
  queue: Queue,
  declaration: QueueDeclaration<S>,
  jobs: readonly { payload: z.input<S>; options?: EnqueueOptions }[],
): Promise<Job[]> {
  assertQueue(queue, declaration);
  if (jobs.length === 0) return Promise.resolve([]);
  return queue.addBulk(jobs.map((j) => jobFor(declaration, j.payload, j.options)));
}
