// What becomes of one mail the bounce mailbox took: feedback on mta-feedback, or a dead letter with its reason.
// It resolves only once one of the two is stored, so that the SMTP 250 is never given for nothing.

import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import type postgres from 'postgres';
import { recipientsOfMessages } from '../../../db/bounces';
import { recordDeadLetters } from '../../../db/dead-letters';
import { translateDsn } from '../feedback-http/dsn';
import { enqueueTranslation } from '../feedback-http/enqueue';
import { refusedDeadLetters, screenTranslation } from '../feedback-http/screen';
import type { Translation } from '../feedback-http/translate';
import { verpMessageId, verpMessages } from './recipients';

/** The dead letters' queue name for mails of the bounce mailbox (`campaign dead-letters --queue bounces`). */
export const BOUNCES_DEAD_LETTER_QUEUE = 'bounces';

/** One mail as the SMTP session delivered it. */
export interface ReceivedMail {
  raw: Buffer;
  mailFrom: string;
  rcptTo: string[];
}

/** Where one mail went; `reason` says why it is a dead letter. */
export type MailOutcome =
  | { kind: 'feedback'; events: number; ignored: number; jobIds: string[] }
  | { kind: 'dead-letter'; reason: string };

export interface ReceiveDeps {
  sql: postgres.Sql;
  feedbackQueue: Queue;
  /** Reads a bounce mail into events (translateDsn); replaceable in benchmarks only. */
  translate?: (raw: Buffer, verpMessageId?: string) => Promise<Translation>;
}

/**
 * The mail as a dead letter keeps it: text when it is UTF-8 without NUL (jsonb refuses \u0000), else base64,
 * so that every byte can be read again once the reader knows the format.
 */
export function deadLetterPayload(mail: ReceivedMail): Record<string, unknown> {
  const text = isUtf8(mail.raw) && !mail.raw.includes(0);
  return {
    mailFrom: mail.mailFrom,
    rcptTo: mail.rcptTo,
    size: mail.raw.length,
    ...(text ? { raw: mail.raw.toString('utf8') } : { rawBase64: mail.raw.toString('base64') }),
  };
}

/** A mail read: the events to enqueue (screened as the workers check them), or why there are none. */
interface ReadMail {
  translation: Translation;
  /** Why no event is to be enqueued; null when there are events. */
  reason: string | null;
}

/**
 * A mail sent to several of our return paths at once (a relay or a gateway batching its reports) reports on
 * several messages: each recipient it names gets the message of the return path whose message went to that
 * address, not the first return path's (the reader knows only one per mail).
 */
async function pairVerpRecipients(
  sql: postgres.Sql,
  mail: ReceivedMail,
  translation: Translation,
): Promise<Translation> {
  const messages = verpMessages(mail.rcptTo);
  if (messages.length < 2 || translation.feedback.length === 0) return translation;
  const sentTo = await recipientsOfMessages(sql, messages);
  const byAddress = new Map([...sentTo].map(([messageId, email]) => [email, messageId]));
  const ours = new Set(sentTo.keys());
  return {
    ...translation,
    feedback: translation.feedback.map((e) => {
      const messageId = e.recipient ? byAddress.get(e.recipient.toLowerCase()) : undefined;
      // The reader gives every recipient of a mail one id (the quoted headers', else the first return path's):
      // replaced where it is one of the mail's return paths, or none; an id of another message stands.
      const fromEnvelope = ours.has(e.messageId) || e.messageId.startsWith('dsn:unmatched-');
      return messageId && fromEnvelope ? { ...e, messageId } : e;
    }),
  };
}

async function readMail(deps: Pick<ReceiveDeps, 'sql' | 'translate'>, mail: ReceivedMail): Promise<ReadMail> {
  const verp = verpMessageId(mail.rcptTo);
  let translation: Translation;
  let reason: string | null = null;
  try {
    translation = await (deps.translate ?? translateDsn)(mail.raw, verp);
  } catch (error) {
    // A format the reader does not know, or one it chokes on: kept to be replayed once it does.
    translation = { feedback: [], tracking: [], ignored: 0, refused: [] };
    reason = `unreadable bounce mail: ${(error as Error).message}`;
  }
  translation = await pairVerpRecipients(deps.sql, mail, translation);
  // What the workers would refuse (a NUL, a date out of the window) is kept here, each event on its own.
  translation = screenTranslation(translation, new Date());
  if (translation.refused.length > 0)
    await recordDeadLetters(deps.sql, refusedDeadLetters('bounces', translation.refused));
  if (reason === null && translation.feedback.length === 0)
    reason =
      translation.ignored > 0
        ? `the mail reports nothing to act on (${translation.ignored} recipient fields needing no feedback)`
        : 'the mail names no recipient this system could give feedback on';
  // Opens and clicks never come by mail; only the feedback events are the mailbox's to pass on.
  return { translation: { ...translation, tracking: [] }, reason };
}

/** Reads, then enqueues or keeps one mail. Throws only when neither Redis nor PostgreSQL took it (answer 451). */
export async function receiveMail(deps: ReceiveDeps, mail: ReceivedMail): Promise<MailOutcome> {
  const { translation, reason } = await readMail(deps, mail);
  if (reason === null) {
    const jobIds = await enqueueTranslation({ feedback: deps.feedbackQueue, tracking: null }, translation);
    return { kind: 'feedback', events: translation.feedback.length, ignored: translation.ignored, jobIds };
  }
  await recordDeadLetters(deps.sql, [
    {
      queue: BOUNCES_DEAD_LETTER_QUEUE,
      // The same mail sent again (a 250 lost on the way back) is kept once.
      jobId: `mail-${createHash('sha1').update(mail.raw).digest('hex')}`,
      reason,
      payload: deadLetterPayload(mail),
    },
  ]);
  return { kind: 'dead-letter', reason };
}

/** The mail a bounces dead letter keeps (deadLetterPayload), or null when the payload holds none. */
export function keptMail(payload: unknown): ReceivedMail | null {
  const p = payload as Record<string, unknown> | null;
  if (!p || typeof p !== 'object') return null;
  const raw =
    typeof p.raw === 'string'
      ? Buffer.from(p.raw, 'utf8')
      : typeof p.rawBase64 === 'string'
        ? Buffer.from(p.rawBase64, 'base64')
        : null;
  if (!raw) return null;
  const rcptTo = Array.isArray(p.rcptTo) ? p.rcptTo.filter((a): a is string => typeof a === 'string') : [];
  return { raw, mailFrom: typeof p.mailFrom === 'string' ? p.mailFrom : '', rcptTo };
}

/**
 * Reads a kept mail again (`campaign dead-letters replay`, once the reader knows its format) and enqueues its
 * events on mta-feedback, under the job ids the mailbox would have given them. A mail that still reports nothing
 * enqueues nothing and comes back with the reason.
 */
export async function replayMail(
  deps: ReceiveDeps,
  mail: ReceivedMail,
): Promise<{ ok: true; events: number; jobIds: string[] } | { ok: false; reason: string }> {
  const { translation, reason } = await readMail(deps, mail);
  if (reason !== null) return { ok: false, reason };
  const jobIds = await enqueueTranslation({ feedback: deps.feedbackQueue, tracking: null }, translation);
  return { ok: true, events: translation.feedback.length, jobIds };
}
