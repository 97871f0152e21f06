// The schema of deliveries: operators, schedules, deliveries, their recipients, log rows, batches and KPIs.
import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  serial,
  smallint,
  text,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { FAILURE_TYPES, LOG_STATUSES } from '../../shared/rules/log-values';
import { id, tstz } from './columns';

export const deliveryState = pgEnum('delivery_state', [
  'prepared',
  'scheduled',
  'sending',
  'sent',
  'finished',
  'stopped',
  'skipped',
  /** A recurring delivery's template: never sent itself; its schedule produces executions. */
  'recurring',
]);
export const logStatus = pgEnum('log_status', LOG_STATUSES);
export const failureType = pgEnum('failure_type', FAILURE_TYPES);

export const operators = pgTable('operators', {
  id: serial('id').primaryKey(),
  login: text('login').notNull().unique(),
  createdAt: tstz('created_at').notNull().defaultNow(),
  /** shared/password.ts's scrypt hash; null: the operator cannot log in to the console (queues and CLI only). */
  passwordHash: text('password_hash'),
  /** Wrong passwords since the last right one or the last lock; at the threshold the login locks. */
  failedLogins: integer('failed_logins').notNull().default(0),
  lockedUntil: tstz('locked_until'),
});

export const operatorRoles = pgTable(
  'operator_roles',
  {
    operatorId: integer('operator_id')
      .notNull()
      .references(() => operators.id, { onDelete: 'cascade' }),
    role: text('role').notNull(),
  },
  (t) => [primaryKey({ columns: [t.operatorId, t.role] })],
);

/** A recurrence: a template delivery and the cron rule that makes executions of it. */
export const recurringSchedules = pgTable(
  'recurring_schedules',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    cron: text('cron').notNull(),
    timezone: text('timezone').notNull().default('UTC'),
    until: tstz('until'),
    aggregate: text('aggregate').notNull().default('none'),
    confirmEach: boolean('confirm_each').notNull().default(false),
    paused: boolean('paused').notNull().default(false),
    createdAt: tstz('created_at').notNull().defaultNow(),
    /** The recurring delivery (state `recurring`) whose content and audience each execution copies. */
    templateId: id('template_id'),
    /** The first occurrence not yet produced; null once the schedule has ended. */
    nextOccurrenceAt: tstz('next_occurrence_at'),
  },
  (t) => [index('recurring_schedules_due_idx').on(t.nextOccurrenceAt)],
);

export const deliveries = pgTable(
  'deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    label: text('label').notNull(),
    state: deliveryState('state').notNull().default('prepared'),
    efs: boolean('efs').notNull().default(false),
    validitySeconds: integer('validity_seconds').notNull(),
    retryIntervalSeconds: integer('retry_interval_seconds').notNull(),
    /** When sending may start; null means at confirmation. */
    contactDate: tstz('contact_date'),
    /** Contact date (or confirmation) + validity: no attempt is ever made after it. Set at confirmation. */
    validUntil: tstz('valid_until'),
    sender: text('sender').notNull(),
    /** With it, each attempt's envelope sender is a VERP address on this domain naming the message (DSN matching). */
    returnPathDomain: text('return_path_domain'),
    subject: text('subject').notNull(),
    textBody: text('text_body'),
    htmlBody: text('html_body'),
    /** Personalization columns every target carries (besides email). */
    columns: text('columns').array().notNull().default(sql`'{}'::text[]`),
    toSend: integer('to_send').notNull().default(0),
    batchSize: integer('batch_size'),
    batchesTotal: integer('batches_total'),
    batchesDone: integer('batches_done').notNull().default(0),
    /** Random per delivery, part of every message id, so that a forged or foreign id is recognised as unknown. */
    token: text('token').notNull(),
    /**
     * The secret each message's token is a MAC under (shared/message-id.ts `messageToken`): a recipient who
     * reads their own message id cannot make another recipient's. Null on deliveries created before it,
     * whose ids carry `token` itself and stay readable.
     */
    messageKey: text('message_key'),
    scheduleId: id('schedule_id').references(() => recurringSchedules.id),
    occurrenceAt: tstz('occurrence_at'),
    /** With an aggregation period: the period's delivery this execution's messages add to. */
    parentId: id('parent_id'),
    /** On a period's delivery: the period, e.g. 2026-11-24, 2026-W48 or 2026-11. */
    periodKey: text('period_key'),
    stateReason: text('state_reason'),
    createdAt: tstz('created_at').notNull().defaultNow(),
    confirmedAt: tstz('confirmed_at'),
    confirmedBy: text('confirmed_by'),
    /** The confirm job that won the conditional update: its retries may resume the follow-up work. */
    confirmJobId: text('confirm_job_id'),
    sendingAt: tstz('sending_at'),
    sentAt: tstz('sent_at'),
    finishedAt: tstz('finished_at'),
    /** When `campaign purge` (or RETENTION) dropped its logs and events: the KPI tile is all that is left. */
    logsPurgedAt: tstz('logs_purged_at'),
  },
  (t) => [
    index('deliveries_state_idx').on(t.state),
    index('deliveries_schedule_idx').on(t.scheduleId),
    index('deliveries_parent_idx').on(t.parentId),
    uniqueIndex('deliveries_period_idx').on(t.scheduleId, t.periodKey),
    // Deliveries whose validity end is still to come or overdue: the reconciler's finalize query.
    index('deliveries_open_valid_until_idx')
      .on(t.validUntil)
      .where(sql`state in ('scheduled', 'sending', 'sent')`),
  ],
);

/** Recurring schedules' executions: one per occurrence. */
export const executions = pgTable(
  'executions',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    scheduleId: id('schedule_id')
      .notNull()
      .references(() => recurringSchedules.id, { onDelete: 'cascade' }),
    occurrenceAt: tstz('occurrence_at').notNull(),
    deliveryId: id('delivery_id').references(() => deliveries.id),
    state: text('state').notNull(),
    reason: text('reason'),
  },
  (t) => [uniqueIndex('executions_occurrence_idx').on(t.scheduleId, t.occurrenceAt)],
);

/**
 * The recipients of a prepared delivery, numbered densely from 0 so that batches are ranges of `seq`.
 * `delivery_id` names a delivery as a foreign key would, but checked once a statement (migration 0011's
 * triggers: a set-based check of the statement's new rows, and the targets of deleted deliveries deleted):
 * a per-row foreign key check took two thirds of a 10M-row import's time in PostgreSQL.
 */
export const deliveryTargets = pgTable(
  'delivery_targets',
  {
    deliveryId: id('delivery_id').notNull(),
    seq: integer('seq').notNull(),
    email: text('email').notNull(),
    data: jsonb('data').$type<Record<string, string>>().notNull().default({}),
  },
  (t) => [primaryKey({ columns: [t.deliveryId, t.seq] })],
);

/**
 * One row per (delivery, recipient). No index covers `status` or the failure columns: feedback updates
 * them constantly, and leaving them unindexed keeps those updates HOT (see LIMITS.md); fillfactor leaves
 * room on each page for the new row versions. Per-delivery status counts scan the delivery's range of
 * the primary key instead. Partitioned by delivery id range (migration 0010, db/partitions.ts).
 * `delivery_id` names a delivery as a foreign key would, checked once a statement (migration 0013, as 0011
 * for the targets): a per-row check locked the delivery's row (FOR KEY SHARE) for every message while the
 * dispatch updates that row, and the dispatch at scale waited on the MultiXacts that made.
 */
export const deliveryLogs = pgTable(
  'delivery_logs',
  {
    deliveryId: id('delivery_id').notNull(),
    seq: integer('seq').notNull(),
    email: text('email').notNull(),
    status: logStatus('status').notNull(),
    attempts: smallint('attempts').notNull().default(1),
    /** The current attempt's message id. */
    messageId: text('message_id').notNull(),
    failureType: failureType('failure_type'),
    failureReason: text('failure_reason'),
    /** Which attempt the status reflects, and when its deciding event occurred: older news never wins. */
    outcomeAttempt: smallint('outcome_attempt'),
    outcomeAt: tstz('outcome_at'),
    /** delivered | ignored | soft | hard, and the deciding event: ties are broken by it (feedback-state.ts). */
    outcomeKind: text('outcome_kind'),
    outcomeEventId: text('outcome_event_id'),
    /** A soft bounce asked for another attempt at this time. */
    retryAt: tstz('retry_at'),
    handedOffAt: tstz('handed_off_at').notNull().defaultNow(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.deliveryId, t.seq] }),
    // With the partition key: a partitioned table's unique index must carry it (migration 0010).
    uniqueIndex('delivery_logs_message_id_idx').on(t.messageId, t.deliveryId),
    index('delivery_logs_email_idx').on(t.email),
    // Only soft-bounced rows waiting for a retry are in it; other feedback updates leave retry_at null
    // (unchanged), so they stay HOT.
    index('delivery_logs_retry_idx').on(t.deliveryId, t.retryAt).where(sql`retry_at is not null`),
    // The same rows by due time: the sweep and the reconciler ask "which retries are due" without reading
    // every waiting one. retry_at is indexed already, so this makes no update less HOT.
    index('delivery_logs_retry_due_idx').on(t.retryAt).where(sql`retry_at is not null`),
  ],
);

/**
 * Finished dispatch batches: makes "batches done" and the move to `sent` exactly-once. `delivery_id` is
 * checked once a statement like delivery_logs' (migration 0013): the mark is written in the transaction
 * that updates the delivery's row.
 */
export const dispatchBatches = pgTable(
  'dispatch_batches',
  {
    deliveryId: id('delivery_id').notNull(),
    batch: integer('batch').notNull(),
    doneAt: tstz('done_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.deliveryId, t.batch] })],
);

/** The delivery's KPI counters, kept in step with the log statuses (compute-stats recounts them). */
export const deliveryKpis = pgTable('delivery_kpis', {
  deliveryId: id('delivery_id')
    .primaryKey()
    .references(() => deliveries.id, { onDelete: 'cascade' }),
  sent: integer('sent').notNull().default(0),
  delivered: integer('delivered').notNull().default(0),
  failed: integer('failed').notNull().default(0),
  opens: integer('opens').notNull().default(0),
  clicks: integer('clicks').notNull().default(0),
  /** Messages the recipient reported as spam (counted once a message). */
  complaints: integer('complaints').notNull().default(0),
  statsComputedAt: tstz('stats_computed_at'),
});
