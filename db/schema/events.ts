// The schema of what happens around deliveries: MTA feedback, opens and clicks, the hourly run's ticks,
// quarantine, confirm attempts, dead letters and the pipeline's small named values.
import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { id, tstz, xid8 } from './columns';
import { failureType } from './deliveries';

/**
 * The raw MTA feedback: the audit trail, and idempotency by the MTA's event id within its delivery (a repeat
 * names the same message, so the same delivery). Partitioned by delivery id range with delivery_logs
 * (migration 0010): a unique index must carry the partition key, and every lookup carries delivery_id.
 */
export const feedbackEvents = pgTable(
  'feedback_events',
  {
    eventId: text('event_id').notNull(),
    messageId: text('message_id').notNull(),
    deliveryId: id('delivery_id'),
    seq: integer('seq'),
    attempt: smallint('attempt'),
    type: text('type').notNull(),
    occurredAt: tstz('occurred_at').notNull(),
    smtpCode: smallint('smtp_code'),
    enhancedStatus: text('enhanced_status'),
    diagnostic: text('diagnostic'),
    failureType: failureType('failure_type'),
    failureReason: text('failure_reason'),
    outcome: text('outcome').notNull(),
    receivedAt: tstz('received_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('feedback_events_event_idx').on(t.deliveryId, t.eventId),
    index('feedback_events_delivery_idx').on(t.deliveryId, t.seq),
  ],
);

/** Opens and clicks, partitioned by delivery id range with delivery_logs (migration 0010). */
export const trackingEvents = pgTable(
  'tracking_events',
  {
    id: bigserial('id', { mode: 'number' }).notNull(),
    eventId: text('event_id').notNull(),
    messageId: text('message_id').notNull(),
    deliveryId: id('delivery_id').notNull(),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    url: text('url'),
    occurredAt: tstz('occurred_at').notNull(),
    receivedAt: tstz('received_at').notNull().defaultNow(),
    /**
     * The inserting transaction. Ids are handed out before commit, so "id > watermark" could skip a
     * slow transaction's rows; every transaction below the oldest one still running has ended, so a
     * watermark on this column reads each committed row exactly once.
     */
    xact: xid8('xact').notNull().default(sql`pg_current_xact_id()`),
  },
  (t) => [
    primaryKey({ columns: [t.deliveryId, t.id] }),
    uniqueIndex('tracking_events_event_idx').on(t.deliveryId, t.eventId),
    index('tracking_events_delivery_idx').on(t.deliveryId, t.seq, t.type),
    index('tracking_events_xact_idx').on(t.xact),
  ],
);

/** Unique opens and clicks: one row per recipient of a delivery that opened (or clicked, which implies it). */
export const trackingUniques = pgTable(
  'tracking_uniques',
  {
    deliveryId: id('delivery_id').notNull(),
    seq: integer('seq').notNull(),
    clicked: boolean('clicked').notNull(),
  },
  (t) => [primaryKey({ columns: [t.deliveryId, t.seq] })],
);

/** One row per tick of the hourly job: its primary key is what makes a tick run once, whoever fires it. */
export const aggregationRuns = pgTable('aggregation_runs', {
  scheduledAt: tstz('scheduled_at').primaryKey(),
  startedAt: tstz('started_at').notNull().defaultNow(),
  finishedAt: tstz('finished_at'),
  events: integer('events'),
  deliveries: integer('deliveries'),
});

/** Addresses' error history; `quarantinedAt` set (and `releasedAt` not) means excluded from later deliveries. */
export const quarantine = pgTable(
  'quarantine',
  {
    email: text('email').primaryKey(),
    errorCount: integer('error_count').notNull().default(0),
    lastErrorOn: date('last_error_on'),
    /** The last failure that counted: a soft failure counts only this long after the previous counted one. */
    lastCountedAt: tstz('last_counted_at'),
    firstFailureAt: tstz('first_failure_at'),
    lastFailureAt: tstz('last_failure_at'),
    failureType: failureType('failure_type'),
    reason: text('reason'),
    /** The delivery whose failure put the address in quarantine (or last counted). */
    deliveryId: id('delivery_id'),
    quarantinedAt: tstz('quarantined_at'),
    releasedAt: tstz('released_at'),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [index('quarantine_quarantined_idx').on(t.quarantinedAt)],
);

/** Who tried to confirm what, and whether it was refused. */
export const confirmAttempts = pgTable(
  'confirm_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    deliveryId: text('delivery_id').notNull(),
    operator: text('operator'),
    outcome: text('outcome').notNull(),
    reason: text('reason'),
    jobId: text('job_id'),
    at: tstz('at').notNull().defaultNow(),
  },
  (t) => [index('confirm_attempts_delivery_idx').on(t.deliveryId)],
);

/** Payloads and events that could not be applied, with the reason; never dropped. */
export const deadLetters = pgTable(
  'dead_letters',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    queue: text('queue').notNull(),
    jobId: text('job_id'),
    reason: text('reason').notNull(),
    payload: jsonb('payload').notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
    replayedAt: tstz('replayed_at'),
  },
  (t) => [
    index('dead_letters_created_idx').on(t.createdAt),
    index('dead_letters_job_idx').on(t.queue, t.jobId),
  ],
);

/** Small named values the pipeline keeps between runs (watermarks, last aggregation time). */
export const pipelineState = pgTable('pipeline_state', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});

/**
 * The ranges of delivery ids that delivery_logs, feedback_events and tracking_events are partitioned by:
 * one partition of each table per range, `[lo, hi)`, contiguous, about a month of deliveries each
 * (db/partitions.ts makes them ahead of need). `purgedAt` set: its partitions were dropped by a purge.
 */
export const historyPartitions = pgTable('history_partitions', {
  lo: id('lo').primaryKey(),
  hi: id('hi').notNull(),
  createdAt: tstz('created_at').notNull().defaultNow(),
  purgedAt: tstz('purged_at'),
});
