// Replaying one dead letter: the one path of `campaign dead-letters replay ID` and of the console's Replay button.
// A job of a declared queue goes back on it; a mail the bounce mailbox kept and a body (or event) the feedback
// receiver kept are read again by today's reader, as if they came now. Each replay, refused ones too, is audited.
import type { Queue } from 'bullmq';
import type postgres from 'postgres';
import { recordAudit } from '../../db/audit';
import {
  claimDeadLetter,
  type DeadLetter,
  forgetUnknownOutcome,
  getDeadLetter,
  recordDeadLetters,
  replayPayload,
} from '../../db/dead-letters';
import { enqueue } from '../../shared/enqueue';
import { feedbackQueue, queues, trackingQueue } from '../../shared/queues';
import { BOUNCES_DEAD_LETTER_QUEUE, keptMail, replayMail } from './bounces/receive';
import { enqueueTranslation } from './feedback-http/enqueue';
import { PROVIDERS, translateProviderBody, translateProviderEvents } from './feedback-http/providers';
import { refusedDeadLetters, screenTranslation } from './feedback-http/screen';
import { BadPayload, record, type Translation } from './feedback-http/translate';

export interface ReplayDeps {
  sql: postgres.Sql;
  /** A queue by name, on a producer connection (the CLI's, or the console's). */
  queue(name: string): Queue;
  now?: () => Date;
}

/** What a replay did. `deadLetters` are the new ones its payload made, still refused, with their reasons. */
export interface Replayed {
  id: string;
  /** Where it went: its own queue, or mta-feedback for a mail or a provider's body. */
  queue: string;
  jobId: string | null;
  jobIds: string[];
  events: number;
  tracking: number;
  deadLetters: string[];
  refused: string[];
}

/** A replay that cannot be done (unknown id, replayed already, nothing to read): nothing changed. */
export class ReplayRefused extends Error {}

const PROVIDER_QUEUE = /^feedback-http\/([a-z]+)$/;

/**
 * Replays dead letter `id` once: the letter is claimed by a conditional update whose transaction lasts until its
 * jobs are in Redis, so that two replays at once make one (the other is refused), and a failure keeps it as it was.
 */
export async function replayDeadLetter(deps: ReplayDeps, id: string, operator: string): Promise<Replayed> {
  try {
    const replayed = await deps.sql.begin(async (tx) => {
      const letter = await claimDeadLetter(tx, id);
      if (!letter) {
        const seen = await getDeadLetter(tx, id);
        throw new ReplayRefused(
          seen
            ? `dead letter ${id} was replayed already at ${seen.replayedAt}`
            : `dead letter ${id} not found`,
        );
      }
      return replayClaimed(deps, tx, letter);
    });
    const { id: _, ...detail } = replayed;
    await recordAudit(deps.sql, { operator, action: 'replay', target: id, outcome: 'accepted', detail });
    return replayed;
  } catch (error) {
    const outcome = error instanceof ReplayRefused ? 'refused' : 'failed';
    await recordAudit(deps.sql, {
      operator,
      action: 'replay',
      target: id,
      outcome,
      detail: { reason: (error as Error).message },
    }).catch(() => {}); // PostgreSQL away: the replay's own error says so.
    throw error;
  }
}

const result = (letter: DeadLetter, queue: string, more: Partial<Replayed>): Replayed => ({
  id: letter.id,
  queue,
  jobId: more.jobIds?.[0] ?? null,
  jobIds: [],
  events: 0,
  tracking: 0,
  deadLetters: [],
  refused: [],
  ...more,
});

async function replayClaimed(deps: ReplayDeps, tx: postgres.TransactionSql, letter: DeadLetter) {
  if (letter.queue === BOUNCES_DEAD_LETTER_QUEUE) return replayBounceMail(deps, letter);
  const provider = PROVIDER_QUEUE.exec(letter.queue)?.[1];
  if (provider && PROVIDERS.includes(provider)) return replayProviderLetter(deps, tx, letter, provider);
  const declaration = queues.find((q) => q.name === letter.queue);
  if (!declaration)
    throw new ReplayRefused(
      `dead letter ${letter.id} came from queue "${letter.queue}", which no longer exists`,
    );
  // On its own connection, committed before the job exists: the worker must not find the old outcome.
  await forgetUnknownOutcome(deps.sql, letter);
  const job = await enqueue(deps.queue(letter.queue), declaration, replayPayload(letter) as never, {
    name: 'replay',
  });
  return result(letter, letter.queue, { jobIds: [job.id ?? ''] });
}

/**
 * A mail the bounce mailbox kept: its events go to mta-feedback under the ids the mailbox would have given them.
 * One that still reports nothing is refused with the reason, and stays kept.
 */
async function replayBounceMail(deps: ReplayDeps, letter: DeadLetter): Promise<Replayed> {
  const mail = keptMail(letter.payload);
  if (!mail)
    throw new ReplayRefused(
      `dead letter ${letter.id} keeps no mail to read again (no payload.raw or rawBase64)`,
    );
  const replayed = await replayMail({ sql: deps.sql, feedbackQueue: deps.queue(feedbackQueue.name) }, mail);
  if (!replayed.ok)
    throw new ReplayRefused(
      `dead letter ${letter.id} is still no mail to act on: ${replayed.reason}; nothing enqueued, it stays kept`,
    );
  return result(letter, feedbackQueue.name, { jobIds: replayed.jobIds, events: replayed.events });
}

/** What the receiver kept: a whole body (`{contentType, body}`), or events its batch held refused one by one. */
function translateKept(provider: string, letter: DeadLetter): Promise<Translation> | Translation {
  const p = record(letter.payload);
  if (letter.jobId?.startsWith(`http-${provider}-refused-`)) {
    // One refused event, or the cap's entry holding the rest of a batch's refused events.
    const events = p && Array.isArray(p.events) && Array.isArray(p.reasons) ? p.events : [letter.payload];
    const translation = translateProviderEvents(provider, events);
    if (translation) return translation;
  }
  if (p && typeof p.body === 'string')
    return translateProviderBody(provider, p.body, typeof p.contentType === 'string' ? p.contentType : '');
  throw new ReplayRefused(`dead letter ${letter.id} keeps no ${provider} body or event to read again`);
}

/**
 * A provider's payload the feedback receiver could not take: translated again, as if the provider posted it now.
 * Its events are enqueued; what is refused again becomes new dead letters with today's reason (in the claim's
 * transaction), and the old letter is replayed all the same: it has been dealt with.
 */
async function replayProviderLetter(
  deps: ReplayDeps,
  tx: postgres.TransactionSql,
  letter: DeadLetter,
  provider: string,
): Promise<Replayed> {
  let translation: Translation;
  try {
    translation = await translateKept(provider, letter);
  } catch (error) {
    if (!(error instanceof BadPayload)) throw error;
    const reason = `bad ${provider} body: ${error.message}`;
    const deadLetters = await recordDeadLetters(tx, [
      { queue: letter.queue, jobId: `replay-of-${letter.id}`, reason, payload: letter.payload },
    ]);
    return result(letter, letter.queue, { deadLetters, refused: [reason] });
  }
  const screened = screenTranslation(translation, deps.now?.() ?? new Date());
  const refusedLetters = refusedDeadLetters(provider, screened.refused);
  const deadLetters = await recordDeadLetters(tx, refusedLetters);
  const jobIds = await enqueueTranslation(
    { feedback: deps.queue(feedbackQueue.name), tracking: deps.queue(trackingQueue.name) },
    screened,
  );
  return result(letter, feedbackQueue.name, {
    jobIds,
    events: screened.feedback.length,
    tracking: screened.tracking.length,
    deadLetters,
    refused: refusedLetters.map((l) => l.reason),
  });
}
