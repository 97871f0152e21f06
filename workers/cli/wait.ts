// `confirm --wait`: follows the confirm job, then the delivery's progress, until every message is at the MTA.
import { setTimeout as sleep } from 'node:timers/promises';
import { SingleBar } from 'cli-progress';
import { type DeliveryStatus, deliveryStatus } from '../../db/delivery-status';
import { confirmQueue } from '../../shared/queues';
import { type CliContext, UserError } from './context';
import { openQueue } from './enqueue';

const POLL_MS = 250;
const DONE_STATES = new Set(['sent', 'finished', 'stopped', 'skipped']);

export async function waitForDelivery(
  context: CliContext,
  deliveryId: string,
  jobId: string,
  options: { timeoutMs: number; bar: boolean },
): Promise<DeliveryStatus> {
  const deadline = Date.now() + options.timeoutMs;
  const queue = await openQueue(context, confirmQueue.name);
  try {
    // First the confirm itself: a refusal (no role, wrong state) ends the wait with its reason.
    for (;;) {
      // The state first, then the job: a job read before it completed would carry no return value yet.
      const state = await queue.getJobState(jobId);
      const job = await queue.getJob(jobId);
      if (state === 'completed') {
        // A confirm of a recurring delivery confirms its waiting execution: follow that one.
        deliveryId = (job?.returnvalue as { deliveryId?: string } | undefined)?.deliveryId ?? deliveryId;
        break;
      }
      // A job that will be retried waits in `delayed`; in `failed` it has failed for good (a refusal).
      if (state === 'failed' && job) throw new UserError(`confirm refused: ${job.failedReason}`);
      if (Date.now() > deadline)
        throw new UserError(
          `the confirm job ${jobId} is still ${state}; are the workers running (npm start)?`,
        );
      await sleep(POLL_MS);
    }
  } finally {
    await queue.close();
  }

  const sql = await context.sql();
  const bar = options.bar
    ? new SingleBar({
        format: 'sending [{bar}] {percentage}% | {value}/{total} | {state}',
        stream: process.stderr,
      })
    : null;
  try {
    for (;;) {
      const status = await deliveryStatus(sql, deliveryId);
      if (!status) throw new UserError(`delivery ${deliveryId} not found`);
      if (bar) {
        if (!bar.isActive) bar.start(status.toSend, status.sent, { state: status.state });
        bar.update(status.sent, { state: status.state });
      }
      if (DONE_STATES.has(status.state)) return status;
      if (Date.now() > deadline) {
        throw new UserError(
          `delivery ${deliveryId} is still ${status.state} (${status.sent}/${status.toSend}); waited long enough`,
        );
      }
      await sleep(POLL_MS);
    }
  } finally {
    bar?.stop();
  }
}
