// Screens a translated request event by event, as the workers will: what they would refuse is refused here, one
// event alone, so that the sender hears 400 and its poison never shares a job with another sender's events.
import { createHash } from 'node:crypto';
import { capDeadLetters, type DeadLetterEntry } from '../../../db/dead-letters';
import { readEvent } from '../../../shared/event-input';
import { feedbackEvent, feedbackQueue, trackingEvent, trackingQueue } from '../../../shared/queues';
import { storable } from '../../../shared/storable';
import type { ContractEvent, RefusedEvent, TrackingEvent, Translation } from './translate';

/** Keeps the events the workers accept; moves the others to `refused` with the workers' reason. */
export function screenTranslation(t: Translation, now: Date): Translation {
  const refused: RefusedEvent[] = [...t.refused];
  const keep = <E>(events: E[], schema: typeof feedbackEvent | typeof trackingEvent, queue: string) =>
    events.filter((raw) => {
      const read = readEvent(schema, raw, now);
      if (!read.ok) refused.push({ reason: read.reason, raw, queue });
      return read.ok;
    });
  return {
    feedback: keep<ContractEvent>(t.feedback, feedbackEvent, feedbackQueue.name),
    tracking: keep<TrackingEvent>(t.tracking, trackingEvent, trackingQueue.name),
    ignored: t.ignored,
    refused,
  };
}

/**
 * The dead letters of a request's refused events, capped per request. Their job id hashes the event, so that a
 * sender re-sending the same refused event (providers retry a 400 too) keeps it once.
 */
export function refusedDeadLetters(provider: string, refused: RefusedEvent[]): DeadLetterEntry[] {
  return capDeadLetters(
    refused.map((r) => {
      const payload = storable(r.raw);
      const hash = createHash('sha1')
        .update(JSON.stringify(payload ?? null))
        .digest('hex');
      return {
        queue: r.queue ?? `feedback-http/${provider}`,
        jobId: `http-${provider}-refused-${hash}`,
        reason: `refused by feedback-http/${provider}: ${r.reason}`,
        payload,
      };
    }),
  );
}

/** The 400's sentence: how many events were refused, and the first reasons. */
export function refusalMessage(refused: RefusedEvent[], accepted: number): string {
  const shown = refused.slice(0, 3).map((r) => r.reason);
  const more = refused.length > shown.length ? `; and ${refused.length - shown.length} more` : '';
  return `${refused.length} event${refused.length === 1 ? ' was' : 's were'} refused and kept as dead letters (${accepted} accepted): ${shown.join('; ')}${more}`;
}
