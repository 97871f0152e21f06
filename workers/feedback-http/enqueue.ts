// Puts a translation on mta-feedback and tracking-events in jobs of up to 1,000 events, with deterministic ids.
import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import { feedbackQueue } from '../../shared/queues';
import type { Translation } from './translate';

/** Until the lead points it at shared/queues.ts: the tracking-events queue of CONTRACT.md. */
export const trackingQueueName = 'tracking-events';

/** Events a job: big enough to amortize the job, as the feedback worker's transactions are 500. */
const JOB_EVENTS = 1000;

/** A deterministic job id: the same batch re-sent by a provider is the same job while BullMQ keeps it. */
const jobId = (kind: string, ids: string[]) =>
  `http-${kind}-${createHash('sha1').update(ids.join('\n')).digest('hex')}`;

/** Resolves once every job is in Redis; returns the job ids. */
export async function enqueueTranslation(
  queues: { feedback: Queue; tracking: Queue | null },
  t: Translation,
): Promise<string[]> {
  const jobs: Promise<{ id?: string }>[] = [];
  for (let i = 0; i < t.feedback.length; i += JOB_EVENTS) {
    const events = t.feedback.slice(i, i + JOB_EVENTS);
    const opts = {
      ...feedbackQueue.jobOptions,
      jobId: jobId(
        'fb',
        events.map((e) => e.eventId),
      ),
    };
    jobs.push(queues.feedback.add('http', { events }, opts));
  }
  if (t.tracking.length > 0 && !queues.tracking) throw new Error('no tracking-events queue to enqueue on');
  for (let i = 0; i < t.tracking.length; i += JOB_EVENTS) {
    const events = t.tracking.slice(i, i + JOB_EVENTS);
    const opts = {
      ...feedbackQueue.jobOptions,
      jobId: jobId(
        'trk',
        events.map((e) => e.eventId),
      ),
    };
    jobs.push(queues.tracking!.add('http', { events }, opts));
  }
  return (await Promise.all(jobs)).map((job) => job.id ?? '');
}
