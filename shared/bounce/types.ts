// What the bounce reader returns: one report per mail, one entry per recipient it names.
import type { FailureReason, FailureType } from '../rules/classify';

/** What a mail is: a failure report, a complaint, an automatic answer, a success report, or none of them. */
export type BounceKind = 'bounce' | 'complaint' | 'auto-reply' | 'delivered' | 'not-a-bounce';

/** What became of one recipient, as the report says it. */
export type RecipientAction = 'failed' | 'delayed' | 'delivered' | 'complaint' | 'auto-reply';

/** One recipient of a report, with the evidence and its classification. */
export interface BounceRecipient {
  email: string | null;
  /** Our message id (X-Campaign-Message-Id, a Message-ID of ours, or the VERP return path); null when none. */
  messageId: string | null;
  /** The failure type by shared/rules/classify.ts; 'complaint' for complaints; null for delivered. */
  type: FailureType | 'complaint' | null;
  reason: FailureReason | null;
  smtpCode: number | null;
  enhancedStatus: string | null;
  /** The receiving server's reply (or the report's explanation), diagnostic-type prefix stripped. */
  diagnostic: string | null;
  /** The SMTP command the reply answered (RCPT, DATA, …) where the mail says it; it decides e.g. that a "user unknown" after DATA is a refusal. */
  command?: string | null;
  action: RecipientAction;
  /** When it was reported: Last-Attempt-Date, else the report's Date:, else the receipt time; null if none known. */
  occurredAt: string | null;
}

/** One mail, read. */
export interface BounceReport {
  kind: BounceKind;
  /** Which reader understood it: rfc3464, arf, ses (an SES notification by mail), auto-reply, text, or none. */
  format: 'rfc3464' | 'arf' | 'ses' | 'auto-reply' | 'text' | 'none';
  recipients: BounceRecipient[];
  /** The report's own Message-ID (or a digest of the mail when it has none): names the mail for idempotency. */
  reportId: string;
  /** Why the mail is not a bounce, when it is not. */
  why?: string;
}

/** What the reader may be told about the mail's arrival. */
export interface ReadOptions {
  /** When the mail was received (the last fallback for the event time). */
  receivedAt?: Date;
  /** The envelope recipient the mail was delivered to (a VERP address names our message). */
  envelopeTo?: string;
}
