// Every queue, declared once: its name, its payload schema and its default job options.
// Producers, workers and the CLI import these declarations; the schema is the documentation.
import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

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
  /** Public queues are written by other systems (CONTRACT.md); their shape changes only by adding. */
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

export type ConfirmPayload = z.output<typeof confirmQueue.payload>;
export type StartPayload = z.output<typeof startQueue.payload>;
export type DispatchPayload = z.output<typeof dispatchQueue.payload>;

/** Every declared queue; a process refuses to start if one of them has no handler, or two. */
export const queues: readonly QueueDeclaration[] = [confirmQueue, startQueue, dispatchQueue];

/** Deterministic job ids: a repeat of the same work is the same job, whoever enqueues it. */
export const jobIds = {
  start: (deliveryId: string) => `start-${deliveryId}`,
  dispatch: (deliveryId: string, batch: number) => `dispatch-${deliveryId}-${batch}`,
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
