// Jobs built from a queue declaration: its options, the job id, and the delay from `at` measured at `now`.
import { jobFor } from './enqueue';
import { finalizeQueue, startQueue } from './queues';

test('a job takes its declaration options, its name defaults to the queue name', () => {
  const job = jobFor(finalizeQueue, { deliveryId: '7' });
  expect(job).toEqual({
    name: 'delivery-finalize',
    data: { deliveryId: '7' },
    opts: finalizeQueue.jobOptions,
  });
});

test('the delay runs from now to at; a time in the past is at once', () => {
  const now = new Date('2026-12-01T09:00:00Z');
  const at = new Date('2026-12-01T09:01:30Z');
  expect(jobFor(startQueue, { deliveryId: '7' }, { jobId: 'start-7', at, now }).opts).toEqual({
    ...startQueue.jobOptions,
    jobId: 'start-7',
    delay: 90_000,
  });
  expect(jobFor(startQueue, { deliveryId: '7' }, { at: now, now: at }).opts.delay).toBe(0);
});

test('the declaration options are copied, never changed', () => {
  const before = structuredClone(startQueue.jobOptions);
  jobFor(startQueue, { deliveryId: '7' }, { jobId: 'x', name: 'start' });
  expect(startQueue.jobOptions).toEqual(before);
});
