// Every queue, declared once: its name, its payload schema and its default job options.
// Producers, workers and the CLI import these declarations; the schema is the documentation.
import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import { FAILURE_REASONS } from './rules/classify';

const deliveryId = z
  .union([
    z.string().regex(/^\d+$/, { message: 'must be a delivery id made of digits, e.g. "42"' }),
    z.number().int(),
  ])
  .transform(String)
  .refine((id) => BigInt(id) > 0n && BigInt(id) < 2n ** 63n, { message: 'must be a positive delivery id' });

/** A queue's contract: name, payload schema and the job options producers should use. */
export interface QueueDeclaration<S extends z.ZodType = z.ZodType> {
  name: string;
  /** Public queues are written by other systems (docs/CONTRACT.md); their shape changes only by adding. */
  visibility: 'public' | 'internal';
  payload: S;
  jobOptions: JobsOptions;
}

const keepFailed: JobsOptions = {
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: false,
};

export const confirmQueue = {
  name: 'delivery-confirm',
  visibility: 'public',
  payload: z.object({
    deliveryId,
    operator: z.string().trim().min(1, { message: 'must be the login of an operator, e.g. "alice"' }),
  }),
  jobOptions: { ...keepFailed, attempts: 5, backoff: { type: 'exponential', delay: 1000 } },
} satisfies QueueDeclaration;

/** Starts the dispatch of a confirmed delivery; delayed until the contact date when it is in the future. */
export const startQueue = {
  name: 'delivery-start',
  visibility: 'internal',
  payload: z.object({ deliveryId }),
  jobOptions: { ...keepFailed, attempts: 10, backoff: { type: 'exponential', delay: 2000 } },
} satisfies QueueDeclaration;

/** One batch of a delivery's recipients: the range of target seq numbers [batch × size, (batch + 1) × size). */
export const dispatchQueue = {
  name: 'dispatch',
  visibility: 'internal',
  payload: z.object({ deliveryId, batch: z.number().int().min(0) }),
  // Enough attempts with backoff to ride out an MTA outage of several minutes before a batch is parked.
  jobOptions: { ...keepFailed, attempts: 12, backoff: { type: 'exponential', delay: 2000 } },
} satisfies QueueDeclaration;

/** The fields every event about a message carries, MTA feedback or tracking alike. */
function eventFields(eventIdExample: string) {
  return {
    eventId: z
      .string()
      .trim()
      .min(1, { message: `must be ${eventIdExample}` })
      .max(200),
    messageId: z
      .string()
      .trim()
      .min(1, { message: 'must be the message id the dispatch gave the MTA' })
      .max(500),
    occurredAt: z.iso.datetime({
      offset: true,
      message: 'must be an ISO 8601 date-time, e.g. 2026-11-23T10:15:00Z',
    }),
  };
}

/** One MTA event as docs/CONTRACT.md states it; validated one by one so that a bad event spoils nothing else. */
export const feedbackEvent = z.object({
  ...eventFields('the MTA\'s unique id of the event, e.g. "mta-7f3a"'),
  // `complaint`: the recipient reported the message as spam (a feedback loop); the log keeps its status.
  // `delayed`: the MTA deferred the message and retries it itself; a soft failure that schedules no retry.
  type: z.enum(['delivered', 'hard_bounce', 'soft_bounce', 'complaint', 'delayed'], {
    message: 'must be one of delivered, hard_bounce, soft_bounce, complaint, delayed',
  }),
  smtpCode: z
    .number()
    .int()
    .min(200)
    .max(599, { message: 'must be an SMTP reply code from 200 to 599' })
    .optional(),
  enhancedStatus: z
    .string()
    .regex(/^[245]\.\d{1,3}\.\d{1,3}$/, { message: 'must be an RFC 3463 status such as 5.1.1' })
    .optional(),
  diagnostic: z.string().max(2000).optional(),
  // A provider that classifies bounces itself says so here (translated by its own documented table).
  reason: z.enum(FAILURE_REASONS, { message: `must be one of ${FAILURE_REASONS.join(', ')}` }).optional(),
});

/** The MTA reports what became of each message: one event or thousands a job. */
export const feedbackQueue = {
  name: 'mta-feedback',
  visibility: 'public',
  // Only the envelope is checked here; each event is validated (and dead-lettered) on its own.
  payload: z.object({ events: z.array(z.unknown(), { message: 'must be a list of events' }) }),
  jobOptions: { ...keepFailed, attempts: 8, backoff: { type: 'exponential', delay: 1000 } },
} satisfies QueueDeclaration;

/** Retries of one delivery's soft-bounced messages that are due; `sweep` finds deliveries with due retries. */
export const retryQueue = {
  name: 'soft-bounce-retry',
  visibility: 'internal',
  payload: z.union([z.object({ deliveryId }), z.object({ sweep: z.literal(true) })]),
  // Removed once done, so that a later retry of the same delivery and minute can be enqueued again.
  jobOptions: {
    removeOnComplete: true,
    removeOnFail: false,
    attempts: 10,
    backoff: { type: 'exponential', delay: 2000 },
  },
} satisfies QueueDeclaration;

/** Ends a delivery's validity period: soft-bounced messages become final, the delivery `finished`. */
export const finalizeQueue = {
  name: 'delivery-finalize',
  visibility: 'internal',
  payload: z.object({ deliveryId }),
  jobOptions: { ...keepFailed, attempts: 10, backoff: { type: 'exponential', delay: 5000 } },
} satisfies QueueDeclaration;

/** One open or click as docs/CONTRACT.md states it; validated one by one, like feedback events. */
export const trackingEvent = z.object({
  ...eventFields('the tracker\'s unique id of the event, e.g. "trk-1"'),
  type: z.enum(['open', 'click'], { message: 'must be one of open, click' }),
  url: z.url({ message: 'must be the clicked link, e.g. https://example.com/offer' }).max(4000).optional(),
});

/** Opens and clicks from the tracker: one event or thousands a job. */
export const trackingQueue = {
  name: 'tracking-events',
  visibility: 'public',
  payload: z.object({ events: z.array(z.unknown(), { message: 'must be a list of events' }) }),
  jobOptions: { ...keepFailed, attempts: 8, backoff: { type: 'exponential', delay: 1000 } },
} satisfies QueueDeclaration;

/** "Compute statistics": recount one delivery's KPIs from its logs and tracking events, now. */
export const computeStatsQueue = {
  name: 'compute-stats',
  visibility: 'public',
  payload: z.object({ deliveryId }),
  jobOptions: { ...keepFailed, attempts: 5, backoff: { type: 'exponential', delay: 2000 } },
} satisfies QueueDeclaration;

/** One tick of the hourly open and click aggregation; its job id is the tick, so replicas add it once. */
export const aggregationQueue = {
  name: 'kpi-aggregation',
  visibility: 'internal',
  payload: z.object({
    scheduledAt: z.iso.datetime({ message: "must be the tick's ISO 8601 date-time" }),
  }),
  jobOptions: { ...keepFailed, attempts: 5, backoff: { type: 'exponential', delay: 5000 } },
} satisfies QueueDeclaration;

/** A sweep that produces the recurring deliveries' due occurrences; run every RECURRENCE_TICK. */
export const recurrenceQueue = {
  name: 'recurrence',
  visibility: 'internal',
  payload: z.object({ sweep: z.literal(true) }),
  jobOptions: {
    removeOnComplete: true,
    removeOnFail: 100,
    attempts: 3,
    backoff: { type: 'exponential', delay: 1000 },
  },
} satisfies QueueDeclaration;

export type ConfirmPayload = z.output<typeof confirmQueue.payload>;
export type StartPayload = z.output<typeof startQueue.payload>;
export type DispatchPayload = z.output<typeof dispatchQueue.payload>;
export type FeedbackPayload = z.output<typeof feedbackQueue.payload>;
export type RetryPayload = z.output<typeof retryQueue.payload>;
export type FinalizePayload = z.output<typeof finalizeQueue.payload>;
export type FeedbackEventInput = z.output<typeof feedbackEvent>;
export type TrackingPayload = z.output<typeof trackingQueue.payload>;
export type TrackingEventInput = z.output<typeof trackingEvent>;
export type ComputeStatsPayload = z.output<typeof computeStatsQueue.payload>;
export type AggregationPayload = z.output<typeof aggregationQueue.payload>;

/** Every declared queue; a process refuses to start if one of them has no handler, or two. */
export const queues: readonly QueueDeclaration[] = [
  confirmQueue,
  startQueue,
  dispatchQueue,
  feedbackQueue,
  retryQueue,
  finalizeQueue,
  trackingQueue,
  computeStatsQueue,
  aggregationQueue,
  recurrenceQueue,
];

/** Deterministic job ids: a repeat of the same work is the same job, whoever enqueues it. */
export const jobIds = {
  start: (deliveryId: string) => `start-${deliveryId}`,
  dispatch: (deliveryId: string, batch: number) => `dispatch-${deliveryId}-${batch}`,
  /** One retry job per delivery and second: the soft bounces due in the same second share it. */
  retry: (deliveryId: string, at: Date) => `retry-${deliveryId}-${Math.ceil(at.getTime() / 1000)}`,
  finalize: (deliveryId: string) => `finalize-${deliveryId}`,
  /** One aggregation job per tick of the schedule, to the second: every replica's timer adds the same one. */
  aggregation: (scheduledAt: Date) => `aggregate-${Math.floor(scheduledAt.getTime() / 1000)}`,
};

/** Turns a zod error into one sentence naming each bad field and what it expects. */
export function describeInvalid(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.length > 0 ? issue.path.join('.') : 'payload';
      if (issue.code === 'invalid_type' && issue.input === undefined) return `${field} is missing`;
      return `${field} ${issue.message}`;
    })
    .join('; ');
}
