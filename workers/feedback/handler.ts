// The feedback handler: validates and classifies a job's MTA events, then applies them set-wise.

import type { Queue } from 'bullmq';
import type postgres from 'postgres';
import { applyComplaints, COMPLAINT_REASON } from '../../db/complaints';
import { type DeadLetterEntry, recordDeadLetters } from '../../db/dead-letters';
import { applyFeedbackBatch, type ClassifiedEvent, type EventOutcome } from '../../db/feedback';
import { enqueueBulk } from '../../shared/enqueue';
import { parseMessageId } from '../../shared/message-id';
import {
  complaintsTotal,
  eventTally,
  feedbackEventsTotal,
  retriesScheduledTotal,
} from '../../shared/metrics';
import {
  describeInvalid,
  type FeedbackPayload,
  feedbackEvent,
  feedbackQueue,
  jobIds,
  retryQueue,
} from '../../shared/queues';
import { classifyBounce } from '../../shared/rules/classify';
import type { OutcomeKind } from '../../shared/rules/feedback-state';
import type { QuarantineRules } from '../../shared/rules/quarantine-rules';
import type { JobContext } from '../../shared/worker';

/**
 * Events applied in one transaction. Its row locks make a concurrent job that touches one of the same
 * messages (a repeat, a late event) wait for the whole transaction: 500 keeps that wait short while still
 * amortizing the commit (bench: 28k events/s at 500, 25k at 250 and at 2,000).
 */
const TRANSACTION_EVENTS = 500;

export interface FeedbackDeps {
  sql: postgres.Sql;
  /** Where soft bounces schedule their retry (a delayed job per delivery and second). */
  retryQueue: Queue;
  quarantine: QuarantineRules;
  now: () => Date;
  /** Counts each event's outcome (metrics); optional. */
  onOutcomes?: (counts: Record<string, number>) => void;
}

type Prepared = { event: ClassifiedEvent } | { dead: DeadLetterEntry };

/** Validates, reads the message id and classifies one raw event. */
export function prepareEvent(
  raw: unknown,
  jobId: string | null,
  onDisagreement: (text: string) => void,
): Prepared {
  const parsed = feedbackEvent.safeParse(raw);
  if (!parsed.success) {
    return {
      dead: {
        queue: feedbackQueue.name,
        jobId,
        reason: `invalid event: ${describeInvalid(parsed.error)}`,
        payload: raw,
      },
    };
  }
  const e = parsed.data;
  const ref = parseMessageId(e.messageId);
  if (!ref) {
    return {
      dead: {
        queue: feedbackQueue.name,
        jobId,
        reason: `unknown message: "${e.messageId}" is not a message id of this system`,
        payload: raw,
      },
    };
  }
  let kind: OutcomeKind = 'delivered';
  let failureType: ClassifiedEvent['failureType'] = null;
  let failureReason: ClassifiedEvent['failureReason'] = null;
  if (e.type === 'complaint') {
    // Never reaches the log's state machine (applyComplaints): the reason is fixed, the status untouched.
    kind = 'hard';
    failureReason = COMPLAINT_REASON;
  } else if (e.type !== 'delivered') {
    // A delay is read as the soft bounce it is, for its reason; the MTA, still trying, decides nothing yet.
    const c = classifyBounce(e.type === 'delayed' ? 'soft_bounce' : e.type, {
      smtpCode: e.smtpCode,
      enhancedStatus: e.enhancedStatus,
      diagnostic: e.diagnostic,
      reason: e.reason,
    });
    if (c.disagreement) onDisagreement(c.disagreement);
    kind = e.type === 'delayed' ? 'delayed' : c.type;
    failureType = e.type === 'delayed' ? 'soft' : c.type;
    failureReason = c.reason;
  }
  return {
    event: {
      eventId: e.eventId,
      messageId: e.messageId.replace(/^<|>$/g, ''),
      deliveryId: ref.deliveryId,
      seq: ref.seq,
      attempt: ref.attempt,
      token: ref.token,
      type: e.type,
      occurredAt: Date.parse(e.occurredAt),
      kind,
      failureType,
      failureReason,
      smtpCode: e.smtpCode ?? null,
      enhancedStatus: e.enhancedStatus ?? null,
      diagnostic: e.diagnostic ?? null,
      raw,
    },
  };
}

/** One delayed job per delivery and second; a crash before this is caught up by the retry sweep. */
async function scheduleRetries(queue: Queue, retries: { deliveryId: string; at: Date }[], now: Date) {
  const jobs = new Map<string, { deliveryId: string; at: Date }>();
  for (const r of retries) jobs.set(jobIds.retry(r.deliveryId, r.at), r);
  if (jobs.size === 0) return;
  await enqueueBulk(
    queue,
    retryQueue,
    [...jobs].map(([jobId, r]) => ({
      payload: { deliveryId: r.deliveryId },
      // Due at the second its job id names.
      options: { name: 'retry', jobId, at: new Date(Math.ceil(r.at.getTime() / 1000) * 1000), now },
    })),
  );
}

/** The metrics' event type: the declared type, or `invalid` when the event has none we know. */
function eventType(raw: unknown): string {
  const type = (raw as { type?: unknown } | null)?.type;
  return typeof type === 'string' && feedbackEvent.shape.type.options.includes(type as never)
    ? type
    : 'invalid';
}

export function feedbackHandler(deps: FeedbackDeps) {
  return async ({ events }: FeedbackPayload, { job, log }: JobContext) => {
    const jobId = job.id ?? null;
    const counts: Record<EventOutcome | 'invalid' | 'complaint', number> = {
      complaint: 0,
      applied: 0,
      duplicate: 0,
      stale: 0,
      unknown: 0,
      'after-finish': 0,
      invalid: 0,
    };
    const dead: DeadLetterEntry[] = [];
    const good: ClassifiedEvent[] = [];
    const seen = new Set<string>();
    let disagreements = 0;
    let early = 0;
    const tally = eventTally(feedbackEventsTotal);
    for (const raw of events) {
      const prepared = prepareEvent(raw, jobId, () => disagreements++);
      if ('dead' in prepared) {
        dead.push(prepared.dead);
        const outcome = prepared.dead.reason.startsWith('invalid') ? 'invalid' : 'unknown';
        counts[outcome]++;
        tally.add(eventType(raw), outcome);
      } else if (seen.has(prepared.event.eventId)) {
        counts.duplicate++; // The same event twice in one job.
        tally.add(prepared.event.type, 'duplicate');
      } else {
        seen.add(prepared.event.eventId);
        good.push(prepared.event);
      }
    }
    if (disagreements > 0)
      log.info(
        { disagreements },
        "Some events' failure reasons overruled their declared type (e.g. a hard_bounce for a full mailbox is soft).",
      );
    tally.flush();
    await recordDeadLetters(deps.sql, dead);
    const complaints = good.filter((e) => e.type === 'complaint');
    if (complaints.length > 0) {
      const applied = await applyComplaints(deps.sql, complaints, jobId, deps.now(), deps.quarantine);
      const outcomes = applied.outcomes;
      early += applied.early;
      for (const outcome of outcomes.values()) counts[outcome]++;
      counts.complaint = complaints.length;
      complaintsTotal.inc([...outcomes.values()].filter((o) => o === 'applied').length);
      good.splice(0, good.length, ...good.filter((e) => e.type !== 'complaint'));
    }
    for (let i = 0; i < good.length; i += TRANSACTION_EVENTS) {
      const chunk = good.slice(i, i + TRANSACTION_EVENTS);
      const result = await applyFeedbackBatch(deps.sql, chunk, jobId, deps.now(), deps.quarantine);
      const { outcomes, retries } = result;
      early += result.early;
      for (const outcome of outcomes.values()) counts[outcome]++;
      // Counted once committed; events left for a retried job (early, busy) are counted by that job.
      for (const e of chunk) {
        const outcome = outcomes.get(e.eventId);
        if (outcome) tally.add(e.type, outcome);
      }
      tally.flush();
      await scheduleRetries(deps.retryQueue, retries, deps.now());
      retriesScheduledTotal.inc(retries.length);
      if (good.length > TRANSACTION_EVENTS)
        await job.updateProgress(Math.round(((i + TRANSACTION_EVENTS) / good.length) * 100));
    }
    if (early > 0) {
      // The rest is applied; the retried job finds it as duplicates and applies these once logged.
      throw new Error(`${early} events arrived before their messages were logged; the job will be retried`);
    }
    deps.onOutcomes?.(counts);
    log.info({ events: events.length, ...counts }, 'Feedback applied.');
    return counts;
  };
}
