// Builds a BullMQ worker from a queue declaration: validates payloads, dead-letters bad ones, binds logs.
import { DelayedError, type Job, UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import type postgres from 'postgres';
import type { z } from 'zod';
import { recordDeadLetters } from '../db/dead-letters';
import type { Logger } from './logger';
import { jobDurationSeconds } from './metrics';
import { describeInvalid, type QueueDeclaration } from './queues';
import type { RedisClient } from './redis';

/** What a handler receives besides its payload. */
export interface JobContext {
  job: Job;
  log: Logger;
  /** The worker's lock token of the job: what `job.moveToDelayed` needs to postpone the job itself. */
  token?: string;
}

/** A queue's handler: a plain function of the validated payload. */
export type Handler<S extends z.ZodType> = (payload: z.output<S>, ctx: JobContext) => Promise<unknown>;

/** Wraps a processor to time each job by queue and outcome (campaign_job_duration_seconds). */
function timed(queue: string, processor: (job: Job, token?: string) => Promise<unknown>) {
  return async (job: Job, token?: string): Promise<unknown> => {
    const end = jobDurationSeconds.startTimer({ queue });
    try {
      const result = await processor(job, token);
      end({ status: 'completed' });
      return result;
    } catch (error) {
      end({ status: error instanceof DelayedError ? 'postponed' : 'failed' });
      throw error;
    }
  };
}

export interface WorkerDeps {
  connection: RedisClient;
  prefix: string;
  sql: postgres.Sql;
  log: Logger;
}

/**
 * Starts a worker for a declared queue. The job name is ignored: the queue decides the handler. A payload
 * that fails the schema is dead-lettered and fails unretried, naming the bad field.
 */
export function startWorker<S extends z.ZodType>(
  declaration: QueueDeclaration<S>,
  handler: Handler<S>,
  deps: WorkerDeps,
  options: Partial<WorkerOptions> = {},
): Worker {
  const queueLog = deps.log.child({ worker: declaration.name, queue: declaration.name });
  const worker = new Worker(
    declaration.name,
    timed(declaration.name, async (job: Job, token?: string) => {
      const parsed = declaration.payload.safeParse(job.data);
      if (!parsed.success) {
        const reason = `invalid payload: ${describeInvalid(parsed.error)}`;
        await recordDeadLetters(deps.sql, [
          { queue: declaration.name, jobId: job.id ?? null, reason, payload: job.data },
        ]);
        queueLog.warn({ jobId: job.id, reason }, 'Refused a payload that does not match the queue contract.');
        throw new UnrecoverableError(reason);
      }
      const deliveryId = (parsed.data as { deliveryId?: string }).deliveryId;
      const log = queueLog.child({ jobId: job.id, ...(deliveryId ? { deliveryId } : {}) });
      return handler(parsed.data, { job, log, token });
    }),
    { connection: deps.connection, prefix: deps.prefix, autorun: true, ...options },
  );
  worker.on('failed', (job, error) => {
    const final =
      error instanceof UnrecoverableError || (job && job.attemptsMade >= (job.opts.attempts ?? 1));
    queueLog[final ? 'warn' : 'info'](
      { jobId: job?.id, attemptsMade: job?.attemptsMade, err: error.message },
      final ? 'A job failed for good and is kept in the failed set.' : 'A job failed and will be retried.',
    );
  });
  worker.on('error', (error) =>
    queueLog.warn({ err: error.message }, 'The worker lost Redis; it reconnects by itself.'),
  );
  return worker;
}
