// What becomes of one mail the bounce mailbox took: feedback on mta-feedback, or a dead letter with its reason.
// It resolves only once one of the two is stored, so that the SMTP 250 is never given for nothing.

import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import type postgres from 'postgres';
import { recordDeadLetters } from '../../../db/dead-letters';
import { translateDsn } from '../feedback-http/dsn';
import { enqueueTranslation } from '../feedback-http/enqueue';
import type { Translation } from '../feedback-http/translate';
import { verpMessageId } from './recipients';

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

/** Reads, then enqueues or keeps one mail. Throws only when neither Redis nor PostgreSQL took it (answer 451). */
export async function receiveMail(deps: ReceiveDeps, mail: ReceivedMail): Promise<MailOutcome> {
  const verp = verpMessageId(mail.rcptTo);
  let translation: Translation;
  let reason: string | null = null;
  try {
    translation = await (deps.translate ?? translateDsn)(mail.raw, verp);
  } catch (error) {
    // A format the reader does not know, or one it chokes on: kept to be replayed once it does.
    translation = { feedback: [], tracking: [], ignored: 0 };
    reason = `unreadable bounce mail: ${(error as Error).message}`;
  }
  if (reason === null && translation.feedback.length > 0) {
    // Opens and clicks never come by mail; only the feedback events are the mailbox's to pass on.
    const jobIds = await enqueueTranslation(
      { feedback: deps.feedbackQueue, tracking: null },
      { ...translation, tracking: [] },
    );
    return { kind: 'feedback', events: translation.feedback.length, ignored: translation.ignored, jobIds };
  }
  reason ??=
    translation.ignored > 0
      ? `the mail reports nothing to act on (${translation.ignored} recipient fields needing no feedback)`
      : 'the mail names no recipient this system could give feedback on';
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
