// The tracking handler: validates a job's opens and clicks, stores them once each, dead-letters the rest.
import type postgres from 'postgres';
import { capDeadLetters, type DeadLetterEntry, recordDeadLetters } from '../../db/dead-letters';
import { applySplitting } from '../../db/refused-values';
import { storeTrackingEvents, type TrackingOutcome, type TrackingRow } from '../../db/tracking';
import { readEvent } from '../../shared/event-input';
import { parseMessageId } from '../../shared/message-id';
import { eventTally, trackingEventsTotal } from '../../shared/metrics';
import { type TrackingPayload, trackingEvent, trackingQueue } from '../../shared/queues';
import type { JobContext } from '../../shared/worker';

/** Events stored by one statement: large enough to amortize it, small enough to keep the statement short. */
const STATEMENT_EVENTS = 5000;

export interface TrackingDeps {
  sql: postgres.Sql;
  /** The clock events are checked against: one dated more than an hour ahead is refused. */
  now: () => Date;
}

type Prepared = { row: TrackingRow } | { dead: DeadLetterEntry };

/** Validates one raw event and reads its message id back. */
export function prepareTrackingEvent(raw: unknown, jobId: string | null, now: Date): Prepared {
  const dead = (reason: string) => ({ dead: { queue: trackingQueue.name, jobId, reason, payload: raw } });
  const read = readEvent(trackingEvent, raw, now);
  if (!read.ok) return dead(read.reason);
  const e = read.event;
  const ref = parseMessageId(e.messageId);
  if (!ref) return dead(`unknown message: "${e.messageId}" is not a message id of this system`);
  return {
    row: {
      eventId: e.eventId,
      messageId: e.messageId.replace(/^<|>$/g, ''),
      deliveryId: ref.deliveryId,
      seq: ref.seq,
      attempt: ref.attempt,
      token: ref.token,
      type: e.type,
      url: e.url ?? null,
      occurredAt: e.occurredAt,
    },
  };
}

type Counts = Record<TrackingOutcome | 'invalid', number>;

export function trackingHandler(deps: TrackingDeps) {
  return async ({ events }: TrackingPayload, { job, log }: JobContext) => {
    const jobId = job.id ?? null;
    const counts: Counts = { applied: 0, duplicate: 0, unknown: 0, invalid: 0 };
    const dead: DeadLetterEntry[] = [];
    const rows = new Map<string, TrackingRow>();
    const raws = new Map<string, unknown>();
    const tally = eventTally(trackingEventsTotal);
    const count = (type: string, outcome: keyof Counts) => {
      counts[outcome]++;
      tally.add(type, outcome);
    };
    for (const raw of events) {
      const prepared = prepareTrackingEvent(raw, jobId, deps.now());
      if ('dead' in prepared) {
        dead.push(prepared.dead);
        const type = (raw as { type?: unknown })?.type;
        const outcome = prepared.dead.reason.startsWith('invalid') ? 'invalid' : 'unknown';
        count(type === 'open' || type === 'click' ? type : 'invalid', outcome);
      } else if (rows.has(prepared.row.eventId)) {
        count(prepared.row.type, 'duplicate'); // The same event twice in one job.
      } else {
        rows.set(prepared.row.eventId, prepared.row);
        raws.set(prepared.row.eventId, raw);
      }
    }
    tally.flush();
    const all = [...rows.values()];
    const store = async (chunk: TrackingRow[]) => {
      const outcomes = await storeTrackingEvents(deps.sql, chunk);
      for (const row of chunk) {
        const outcome = outcomes.get(row.eventId) ?? 'unknown';
        count(row.type, outcome);
        if (outcome === 'unknown') {
          dead.push({
            queue: trackingQueue.name,
            jobId,
            reason: `unknown message: no delivery of this system sent "${row.messageId}"`,
            payload: raws.get(row.eventId),
          });
        }
      }
    };
    // An event PostgreSQL refuses despite validation costs only itself: dead-lettered with the refusal.
    const refused = async (row: TrackingRow, error: Error) => {
      count(row.type, 'invalid');
      const reason = `invalid event: PostgreSQL refused it (${error.message})`;
      dead.push({ queue: trackingQueue.name, jobId, reason, payload: raws.get(row.eventId) });
    };
    for (let i = 0; i < all.length; i += STATEMENT_EVENTS) {
      await applySplitting(all.slice(i, i + STATEMENT_EVENTS), store, refused);
      tally.flush();
    }
    // Kept after the stores: a retried job (a failure above) keeps each dead letter once all the same.
    await recordDeadLetters(deps.sql, capDeadLetters(dead));
    log.info({ events: events.length, ...counts }, 'Tracking events stored.');
    return counts;
  };
}
