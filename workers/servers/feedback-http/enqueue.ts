// Puts a translation on mta-feedback and tracking-events in jobs of up to 1,000 events, with deterministic ids.

import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import { enqueue } from '../../../shared/enqueue';
import { feedbackQueue, trackingQueue } from '../../../shared/queues';
import type { Translation } from './translate';

/** Events a job: big enough to amortize the job, as the feedback worker's transactions are 500. */
const JOB_EVENTS = 1000;

/**
 * A deterministic job id: the same batch re-sent by a provider is the same job while BullMQ keeps it. It
 * hashes the whole events, not only their ids: two different batches of events without ids (which the
 * worker dead-letters) must not share a job and be dropped as one.
 */
const jobId = (kind: string, events: unknown[]) =>
  `http-${kind}-${createHash('sha1').update(JSON.stringify(events)).digest('hex')}`;

/** Resolves once every job is in Redis; returns the job ids. */
export async function enqueueTranslation(
  queues: { feedback: Queue; tracking: Queue | null },
  t: Translation,
): Promise<string[]> {
  const jobs: Promise<{ id?: string }>[] = [];
  for (let i = 0; i < t.feedback.length; i += JOB_EVENTS) {
    const events = t.feedback.slice(i, i + JOB_EVENTS);
    jobs.push(
      enqueue(queues.feedback, feedbackQueue, { events }, { name: 'http', jobId: jobId('fb', events) }),
    );
  }
  if (t.tracking.length > 0 && !queues.tracking) throw new Error('no tracking-events queue to enqueue on');
  for (let i = 0; i < t.tracking.length; i += JOB_EVENTS) {
    const events = t.tracking.slice(i, i + JOB_EVENTS);
    jobs.push(
      enqueue(queues.tracking!, trackingQueue, { events }, { name: 'http', jobId: jobId('trk', events) }),
    );
  }
  return (await Promise.all(jobs)).map((job) => job.id ?? '');
}

/**
 * Merges the translations of requests that arrive together into shared jobs of up to 1,000 events, so that
 * providers' small batches (SparkPost sends ~100 events a request) do not cost the worker a transaction each.
 * Each request still resolves only once the jobs holding its events are in Redis.
 */
export class Coalescer {
  private pending: { t: Translation; resolve: (ids: string[]) => void; reject: (e: unknown) => void }[] = [];
  private events = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly write: (t: Translation) => Promise<string[]>,
    /** How long a request may wait for others to share its job: a few ms of latency against 10× fewer jobs. */
    private readonly maxWaitMs = 5,
    private readonly maxEvents = JOB_EVENTS,
  ) {}

  submit(t: Translation): Promise<string[]> {
    const size = t.feedback.length + t.tracking.length;
    if (size === 0) return Promise.resolve([]);
    if (this.events + size > this.maxEvents) this.flush();
    return new Promise((resolve, reject) => {
      this.pending.push({ t, resolve, reject });
      this.events += size;
      if (this.events >= this.maxEvents) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.maxWaitMs);
    });
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = [];
    this.events = 0;
    if (batch.length === 0) return;
    const merged: Translation = {
      feedback: batch.flatMap((p) => p.t.feedback),
      tracking: batch.flatMap((p) => p.t.tracking),
      ignored: 0,
    };
    this.write(merged).then(
      (ids) => {
        for (const p of batch) p.resolve(ids);
      },
      (error) => {
        for (const p of batch) p.reject(error);
      },
    );
  }
}
