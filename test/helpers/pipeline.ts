// Starts pipeline processes in-process for a test, and waits for conditions without fixed sleeps.
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import pino from 'pino';
import { loadConfig } from '../../shared/config';
import { createWorkerConnection } from '../../shared/redis';
import type { MtaTransport } from '../../workers/mta/transport';
import { type PipelineProcess, startProcess } from '../../workers/start/process';
import { ROLES, type Role } from '../../workers/start/roles';
import type { TestEnv } from './env';

/** Starts a process with the given roles against the test's database, prefix and MTA. */
export async function startPipeline(
  t: TestEnv,
  options: { roles?: Role[]; env?: Record<string, string>; transport?: MtaTransport; now?: () => Date } = {},
): Promise<PipelineProcess> {
  const config = loadConfig({ ...t.env, ...options.env });
  // Logs go to stderr so that they never mix with a CLI command's captured stdout.
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }, pino.destination(2));
  const proc = await startProcess(options.roles ?? [...ROLES], config, log, {
    transport: options.transport,
    now: options.now,
  });
  await proc.ready;
  return proc;
}

/** Polls until `check` returns a truthy value, or fails the test after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A producer queue on the test's prefix, as an upstream service would use. */
export function testQueue(t: TestEnv, name: string): { queue: Queue; close(): Promise<void> } {
  const connection = createWorkerConnection(t.config.REDIS_URL);
  const queue = new Queue(name, { connection, prefix: t.prefix });
  return {
    queue,
    close: async () => {
      await queue.close();
      connection.disconnect();
    },
  };
}

/** Waits for a job to complete or fail; returns its final state and reason. */
export async function jobOutcome(
  queue: Queue,
  jobId: string,
  timeoutMs = 20_000,
): Promise<{ state: string; reason: string; value: unknown }> {
  return waitFor(
    async () => {
      // The state first, then the job: a job read before it completed would carry no return value yet.
      const state = await queue.getJobState(jobId);
      const job = await queue.getJob(jobId);
      if (!job) return null;
      const finalFailure =
        state === 'failed' && (job.finishedOn !== undefined || job.attemptsMade >= (job.opts.attempts ?? 1));
      if (state === 'completed' || finalFailure)
        return { state, reason: job.failedReason ?? '', value: job.returnvalue };
      return null;
    },
    timeoutMs,
    `job ${jobId}`,
  );
}
