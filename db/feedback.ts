// Applies a job's MTA events set-wise in one transaction: raw events, log rows and KPI counters together.

import type postgres from 'postgres';
import { tokenMatches } from '../shared/message-id';
import type { FailureReason, FailureType } from '../shared/rules/classify';
import { applyEvent, type LogState, nextAttemptAt, type OutcomeKind } from '../shared/rules/feedback-state';
import type { QuarantineRules } from '../shared/rules/quarantine-rules';
import { statusDelta } from '../shared/rules/status-moves';
import { recordDeadLetters } from './dead-letters';
import {
  type ClassifiedEvent,
  type EventOutcome,
  earlyEvents,
  key,
  lockedByOthers,
  mismatchReason,
  namesAnotherRecipient,
} from './feedback-events';
import { addKpiDeltas } from './kpi';
import { recordAddressOutcomes } from './quarantine';

/** Each event's outcome, and the retries that soft bounces made due (to be scheduled once committed). */
export interface FeedbackResult {
  outcomes: Map<string, EventOutcome>;
  retries: { deliveryId: string; at: Date }[];
  /** Events about messages of a delivery still sending that are not logged yet: to be tried again. */
  early: number;
  /** Events whose rows another transaction held (first pass only): applied by a second pass. */
  busy: ClassifiedEvent[];
}

interface Row extends LogState {
  email: string;
  efs: boolean;
  token: string;
  messageKey: string | null;
  deliveryState: string;
  retryIntervalSeconds: number;
  validUntil: Date | null;
  retryAt: Date | null;
  changed: boolean;
}

async function lockRows(
  tx: postgres.TransactionSql,
  events: ClassifiedEvent[],
  skipLocked: boolean,
): Promise<Map<string, Row>> {
  const pairs = [...new Map(events.map((e) => [key(e.deliveryId, e.seq), e])).values()];
  // Locked in one order by every job, so that concurrent jobs never deadlock.
  const rows = await tx`
    select l.delivery_id, l.seq, l.email, l.status, l.attempts, l.outcome_attempt, l.outcome_kind, l.outcome_at,
           l.outcome_event_id, l.failure_type, l.failure_reason, l.retry_at
    from delivery_logs l
    where (l.delivery_id, l.seq) in (
      select * from unnest(${pairs.map((e) => e.deliveryId)}::bigint[], ${pairs.map((e) => e.seq)}::int[]))
    order by l.delivery_id, l.seq
    for update of l ${skipLocked ? tx`skip locked` : tx``}`;
  // The deliveries are read after the row locks, once each rather than joined to every row: a finalization
  // that held the rows has committed by now, and a state joined in the locking read could predate it.
  const deliveries = new Map(
    (
      await tx`
        select id, state, efs, token, message_key, retry_interval_seconds, valid_until from deliveries
        where id = any(${[...new Set(pairs.map((e) => e.deliveryId))]}::bigint[])`
    ).map((d) => [String(d.id), d]),
  );
  const byKey = new Map<string, Row>();
  for (const r of rows) {
    const d = deliveries.get(String(r.delivery_id))!;
    byKey.set(key(String(r.delivery_id), r.seq), {
      email: r.email,
      status: r.status,
      attempts: r.attempts,
      outcome:
        r.outcome_kind === null
          ? null
          : {
              attempt: r.outcome_attempt,
              kind: r.outcome_kind,
              occurredAt: r.outcome_at.getTime(),
              eventId: r.outcome_event_id,
            },
      failureType: r.failure_type,
      failureReason: r.failure_reason,
      efs: d.efs,
      token: d.token,
      messageKey: d.message_key,
      deliveryState: d.state,
      retryIntervalSeconds: d.retry_interval_seconds,
      validUntil: d.valid_until,
      retryAt: r.retry_at,
      changed: false,
    });
  }
  return byKey;
}

/** Runs the state machine over the events against the locked rows; mutates the rows, returns each verdict. */
function decide(events: ClassifiedEvent[], rows: Map<string, Row>): EventOutcome[] {
  return events.map((event) => {
    const row = rows.get(key(event.deliveryId, event.seq));
    if (!row || !tokenMatches(row, event)) return 'unknown';
    if (namesAnotherRecipient(event, row.email)) return 'mismatch';
    if (row.deliveryState === 'finished') return 'after-finish';
    const t = applyEvent(row, event, row.efs);
    if (t.verdict === 'unknown-attempt') return 'unknown';
    if (t.verdict === 'stale') return 'stale';
    Object.assign(row, t.state, { changed: true });
    row.retryAt = t.retryDue
      ? nextAttemptAt(event.occurredAt, row.retryIntervalSeconds, row.validUntil)
      : null;
    return 'applied';
  });
}

/**
 * Applies events (already unique by event id within the job). The raw events are inserted with their
 * outcome; an event id seen before is a duplicate and changes nothing, whatever it would do now.
 */
export async function applyFeedbackBatch(
  sql: postgres.Sql,
  allEvents: ClassifiedEvent[],
  jobId: string | null,
  now: Date,
  quarantine: QuarantineRules,
): Promise<FeedbackResult> {
  // First pass: skip rows another job holds (a repeat or late event of its messages), rather than wait
  // for its whole transaction; second pass, once this one has committed: those events, waiting if need be.
  const first = await applyOnce(sql, allEvents, jobId, now, quarantine, true);
  if (first.busy.length === 0) return first;
  const second = await applyOnce(sql, first.busy, jobId, now, quarantine, false);
  return {
    outcomes: new Map([...first.outcomes, ...second.outcomes]),
    retries: [...first.retries, ...second.retries],
    early: first.early + second.early,
    busy: [],
  };
}

async function applyOnce(
  sql: postgres.Sql,
  allEvents: ClassifiedEvent[],
  jobId: string | null,
  now: Date,
  quarantine: QuarantineRules,
  skipLocked: boolean,
): Promise<FeedbackResult> {
  if (allEvents.length === 0) return { outcomes: new Map(), retries: [], early: 0, busy: [] };
  // Repeats of events applied before are dropped up front, so that their rows are not locked: a repeat
  // usually follows its original closely, and locking its row would queue this job behind another one.
  // By (delivery id, event id): the partitions of the events' deliveries only (migration 0010).
  const known = await sql`
    select event_id from feedback_events where (delivery_id, event_id) in (
      select * from unnest(${allEvents.map((e) => e.deliveryId)}::bigint[], ${allEvents.map((e) => e.eventId)}::text[]))`;
  const seenBefore = new Set(known.map((r) => r.event_id as string));
  // Sorted by event id: two jobs inserting the same events do it in one order, never deadlocking.
  const allOf = allEvents
    .filter((e) => !seenBefore.has(e.eventId))
    .sort((a, b) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
  const repeats = new Map<string, EventOutcome>([...seenBefore].map((id) => [id, 'duplicate']));
  if (allOf.length === 0) return { outcomes: repeats, retries: [], early: 0, busy: [] };
  return sql.begin(async (tx) => {
    const original = await lockRows(tx, allOf, skipLocked);
    let orphans = allOf.filter((e) => !original.has(key(e.deliveryId, e.seq)));
    const busy = skipLocked ? await lockedByOthers(tx, orphans) : [];
    if (busy.length > 0) {
      const held = new Set(busy.map((e) => e.eventId));
      orphans = orphans.filter((e) => !held.has(e.eventId));
    }
    // Feedback can outrun the dispatch's log write (the MTA answers while the chunk is being logged):
    // such events are left out here, neither recorded nor dead-lettered, and the job retries them later.
    const early = await earlyEvents(tx, orphans);
    const skipped = new Set([...early, ...busy.map((e) => e.eventId)]);
    const events = skipped.size === 0 ? allOf : allOf.filter((e) => !skipped.has(e.eventId));
    if (events.length === 0) return { outcomes: repeats, retries: [], early: early.size, busy };
    const snapshot = new Map([...original].map(([k, r]) => [k, { ...r }]));
    let rows = original;
    let verdicts = decide(events, rows);

    const inserted = await tx`
      insert into feedback_events (event_id, message_id, delivery_id, seq, attempt, type, occurred_at, smtp_code,
        enhanced_status, diagnostic, failure_type, failure_reason, outcome, received_at)
      select u.*, ${now}::timestamptz from unnest(
        ${events.map((e) => e.eventId)}::text[], ${events.map((e) => e.messageId)}::text[],
        ${events.map((e) => e.deliveryId)}::bigint[], ${events.map((e) => e.seq)}::int[],
        ${events.map((e) => e.attempt)}::smallint[], ${events.map((e) => e.type)}::text[],
        ${events.map((e) => new Date(e.occurredAt).toISOString())}::timestamptz[],
        ${events.map((e) => e.smtpCode) as number[]}::smallint[], ${events.map((e) => e.enhancedStatus) as string[]}::text[],
        ${events.map((e) => e.diagnostic) as string[]}::text[], ${events.map((e) => e.failureType) as string[]}::failure_type[],
        ${events.map((e) => e.failureReason) as string[]}::text[], ${verdicts}::text[]) as u
      on conflict (delivery_id, event_id) do nothing
      returning event_id`;

    const fresh = new Set(inserted.map((r) => r.event_id as string));
    if (fresh.size < events.length) {
      // Some were seen before: decide again from the untouched rows with the new events only.
      rows = new Map([...snapshot].map(([k, r]) => [k, { ...r }]));
      const newEvents = events.filter((e) => fresh.has(e.eventId));
      const again = decide(newEvents, rows);
      const byId = new Map(newEvents.map((e, i) => [e.eventId, again[i]!]));
      const corrected = events.filter((e, i) => fresh.has(e.eventId) && byId.get(e.eventId) !== verdicts[i]);
      verdicts = events.map((e) => byId.get(e.eventId) ?? 'duplicate');
      if (corrected.length > 0) {
        await tx`
          update feedback_events f set outcome = u.outcome
          from unnest(${corrected.map((e) => e.deliveryId)}::bigint[], ${corrected.map((e) => e.eventId)}::text[],
            ${corrected.map((e) => byId.get(e.eventId)!)}::text[]) as u(delivery_id, event_id, outcome)
          where f.delivery_id = u.delivery_id and f.event_id = u.event_id`;
      }
    }

    const updateKpis = await writeRows(tx, rows, snapshot, now);
    // What the applied events say of each address: failures count toward quarantine, deliveries reset.
    await recordAddressOutcomes(
      tx,
      events
        // A delay is not counted against the address: the MTA's final word about the attempt will be.
        .filter(
          (e, i): e is ClassifiedEvent & { kind: Exclude<OutcomeKind, 'delayed'> } =>
            verdicts[i] === 'applied' && e.kind !== 'delayed',
        )
        .map((e) => ({
          email: rows.get(key(e.deliveryId, e.seq))!.email,
          deliveryId: e.deliveryId,
          at: e.occurredAt,
          kind: e.kind,
          reason: e.failureReason,
        })),
      quarantine,
    );
    await deadLetterUnknown(tx, events, verdicts, jobId);
    // Locks in one order in every transaction: log rows, quarantine entries, then the KPI row.
    await updateKpis();
    const retries = [...rows]
      .filter(([, r]) => r.changed && r.retryAt !== null)
      .map(([k, r]) => ({ deliveryId: k.split(':')[0]!, at: r.retryAt! }));
    return {
      outcomes: new Map([
        ...repeats,
        ...events.map((e, i): [string, EventOutcome] => [e.eventId, verdicts[i]!]),
      ]),
      retries,
      early: early.size,
      busy,
    };
  });
}

async function writeRows(
  tx: postgres.TransactionSql,
  rows: Map<string, Row>,
  before: Map<string, Row>,
  now: Date,
) {
  const changed = [...rows].filter(([, r]) => r.changed);
  if (changed.length === 0) return async () => {};
  const ids = changed.map(([k]) => k.split(':')[0]!);
  const seqs = changed.map(([k]) => Number(k.split(':')[1]));
  const list = changed.map(([, r]) => r);
  await tx`
    update delivery_logs l set status = u.status::log_status, failure_type = u.failure_type::failure_type,
      failure_reason = u.failure_reason, outcome_attempt = u.attempt, outcome_kind = u.kind,
      outcome_at = u.at, outcome_event_id = u.event_id, retry_at = u.retry_at, updated_at = ${now}
    from unnest(${ids}::bigint[], ${seqs}::int[], ${list.map((r) => r.status)}::text[],
      ${list.map((r) => r.failureType) as string[]}::text[], ${list.map((r) => r.failureReason) as string[]}::text[],
      ${list.map((r) => r.outcome!.attempt)}::smallint[], ${list.map((r) => r.outcome!.kind)}::text[],
      ${list.map((r) => new Date(r.outcome!.occurredAt).toISOString())}::timestamptz[],
      ${list.map((r) => r.outcome!.eventId)}::text[], ${list.map((r) => r.retryAt?.toISOString() ?? null) as string[]}::timestamptz[])
      as u(delivery_id, seq, status, failure_type, failure_reason, attempt, kind, at, event_id, retry_at)
    where l.delivery_id = u.delivery_id and l.seq = u.seq`;

  // KPI deltas per delivery, from each row's status before and after: the counters stay a recount.
  const deltas = changed.map(
    ([k, r]) => [k.split(':')[0]!, statusDelta(before.get(k)!.status, r.status)] as const,
  );
  // Run last, just before the commit: every job of a delivery takes its KPI row in turn until it commits.
  return () => addKpiDeltas(tx, deltas);
}

async function deadLetterUnknown(
  tx: postgres.TransactionSql,
  events: ClassifiedEvent[],
  verdicts: EventOutcome[],
  jobId: string | null,
) {
  await recordDeadLetters(
    tx,
    events
      .map((e, i) => ({ e, verdict: verdicts[i] }))
      .filter(({ verdict }) => verdict === 'unknown' || verdict === 'mismatch')
      .map(({ e, verdict }) => ({
        queue: 'mta-feedback',
        jobId,
        reason:
          verdict === 'mismatch'
            ? mismatchReason(e)
            : `unknown message: no attempt ${e.attempt} of message ${e.messageId} was sent by this system`,
        payload: e.raw,
      })),
  );
}

export type { ClassifiedEvent, EventOutcome } from './feedback-events';
export type { FailureReason, FailureType, OutcomeKind };
