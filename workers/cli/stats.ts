// `campaign compute-stats`: recount a delivery's KPIs now, as the tile's "Compute statistics" button does.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { enqueue } from '../../shared/enqueue';
import { computeStatsQueue } from '../../shared/queues';
import { parseDuration } from '../../shared/rules/duration';
import { deliveryIdArgument } from './arguments';
import { type CliContext, output, UserError } from './context';
import { openQueue } from './enqueue';
import { renderTile } from './render';

const POLL_MS = 200;

interface StatsOptions {
  wait?: boolean;
  timeout: string;
  json?: boolean;
}

/** Follows a compute-stats job to its end; returns what the job returned. */
async function waitForJob(
  context: CliContext,
  jobId: string,
  timeoutMs: number,
): Promise<{ drift: Record<string, number>; uniquesRepaired: number }> {
  const queue = await openQueue(context, computeStatsQueue.name);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      // The state first, then the job: a job read before it completed would carry no return value yet.
      const state = await queue.getJobState(jobId);
      const job = await queue.getJob(jobId);
      if (state === 'completed' && job) return job.returnvalue;
      if (state === 'failed' && job && job.attemptsMade >= (job.opts.attempts ?? 1))
        throw new UserError(`compute-stats failed: ${job.failedReason}`);
      if (Date.now() > deadline)
        throw new UserError(
          `the compute-stats job ${jobId} is still ${state}; are the workers running (npm start)?`,
        );
      await sleep(POLL_MS);
    }
  } finally {
    await queue.close();
  }
}

export function registerStatsCommands(program: Command, ctx: () => CliContext): void {
  program
    .command('compute-stats')
    .description("Recount a delivery's KPIs from its logs and tracking events now, and correct the counters.")
    .argument('<id>', 'delivery id')
    .option('--wait', 'wait for the recount and show the tile and how far the counters had drifted')
    .option('--timeout <duration>', 'how long --wait waits (45s, 10m)', '2m')
    .option('--json', 'machine-readable output')
    .action(async (rawId: string, opts: StatsOptions) => {
      const id = deliveryIdArgument(rawId);
      let timeoutMs: number;
      try {
        timeoutMs = parseDuration(opts.timeout);
      } catch (error) {
        throw new UserError(`--timeout: ${(error as Error).message}`);
      }
      const { deliveryExists } = await import('../../db/deliveries');
      const { deliveryStatus } = await import('../../db/delivery-status');
      const sql = await ctx().sql();
      if (!(await deliveryExists(sql, id))) throw new UserError(`delivery ${id} not found`);
      const queue = await openQueue(ctx(), computeStatsQueue.name);
      let jobId: string;
      try {
        jobId = (await enqueue(queue, computeStatsQueue, { deliveryId: id }, { name: 'compute-stats' })).id!;
      } finally {
        await queue.close();
      }
      if (!opts.wait) {
        output(
          opts.json,
          { deliveryId: id, jobId },
          () => `compute-stats of delivery ${id} enqueued (job ${jobId})`,
        );
        return;
      }
      const result = await waitForJob(ctx(), jobId, timeoutMs);
      const status = (await deliveryStatus(sql, id))!;
      const drifted = Object.entries(result.drift).filter(([, d]) => d !== 0);
      output(
        opts.json,
        { ...status, jobId, drift: result.drift, uniquesRepaired: result.uniquesRepaired },
        () =>
          [
            renderTile(status),
            drifted.length === 0 && result.uniquesRepaired === 0
              ? '  drift             none: the counters agreed with the recount'
              : `  drift             ${drifted.map(([k, d]) => `${k} ${d > 0 ? '+' : ''}${d}`).join(', ')}${
                  result.uniquesRepaired > 0 ? `, ${result.uniquesRepaired} unique opens repaired` : ''
                } (corrected)`,
          ].join('\n'),
      );
    });
}
