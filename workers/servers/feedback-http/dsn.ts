// RFC 3464 delivery status notifications (multipart/report bounce mail) → contract events.
// MIME is parsed by mailparser; only the delivery-status fields (RFC 3464 §2) are read here.
import { createHash } from 'node:crypto';
import { type ParsedMail, simpleParser } from 'mailparser';
import { parseMessageId, parseVerp } from '../../../shared/message-id';
import {
  BadPayload,
  type ContractEvent,
  compact,
  emptyTranslation,
  enhancedStatus,
  isoTime,
  MESSAGE_ID_HEADER,
  type Translation,
} from './translate';

/** One block of `Name: value` fields, folded lines joined, names lower-cased. */
function readFields(block: string): Map<string, string> {
  const fields = new Map<string, string>();
  let last: string | null = null;
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && last) {
      fields.set(last, `${fields.get(last)} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    fields.set(last, line.slice(colon + 1).trim());
  }
  return fields;
}

/** The per-message block first, then one block per recipient. */
export function readDeliveryStatus(text: string): Map<string, string>[] {
  return text
    .split(/\r?\n[ \t]*\r?\n/)
    .filter((b) => b.trim() !== '')
    .map(readFields);
}

/** Our message id in an original message's headers: X-Campaign-Message-Id, else a Message-ID of ours. */
export function messageIdInHeaders(headers: string): string | null {
  const fields = readFields(headers.split(/\r?\n\r?\n/)[0] ?? '');
  const ours = fields.get(MESSAGE_ID_HEADER.toLowerCase());
  if (ours) return ours;
  const mid = fields.get('message-id')?.replace(/^<|>$/g, '');
  return mid && parseMessageId(mid) ? mid : null;
}

/** The message a VERP return path names: the bounce is addressed to it (To, Delivered-To, X-Original-To). */
function verpOf(mail: ParsedMail): string | null {
  const to = [mail.to ?? []].flat().flatMap((a) => a.value.map((v) => v.address ?? ''));
  const envelope = ['delivered-to', 'x-original-to'].map((h) => String(mail.headers.get(h) ?? ''));
  for (const address of [...envelope, ...to]) {
    const id = parseVerp(address);
    if (id) return id;
  }
  return null;
}

/** Action and status → the contract's type; `delayed` is the MTA retrying on its own (no retry of ours). */
function typeFor(action: string, status: string | undefined): ContractEvent['type'] | null {
  switch (action.toLowerCase()) {
    case 'failed':
      // A failure with a transient status (e.g. 4.4.7, the MTA's own retries ran out) is retried by us.
      return status?.startsWith('4.') ? 'soft_bounce' : 'hard_bounce';
    case 'delayed':
      return 'delayed';
    case 'delivered':
    case 'relayed':
    case 'expanded':
      return 'delivered';
    default:
      return null;
  }
}

/** Translates one bounce message; `verpMessageId`, if given, is the id its envelope recipient named. */
export async function translateDsn(raw: string | Buffer, verpMessageId?: string): Promise<Translation> {
  const mail = await simpleParser(raw, {
    // Without it mailparser folds the delivery-status part into the text body.
    keepDeliveryStatus: true,
    skipHtmlToText: true,
    skipTextLinks: true,
    skipImageLinks: true,
  });
  const parts = mail.attachments ?? [];
  const status = parts.find((a) => /^message\/(global-)?delivery-status$/i.test(a.contentType));
  if (!status) throw new BadPayload('not a delivery status notification: no message/delivery-status part');
  const original = parts.find((a) =>
    /^(message\/(global-)?rfc822|text\/rfc822-headers)$/i.test(a.contentType),
  );
  const [perMessage, ...recipients] = readDeliveryStatus(status.content.toString('utf8'));
  // The ENVID the dispatch gave (RFC 3461) comes back as Original-Envelope-Id, even with no headers returned.
  const envelopeId = perMessage?.get('original-envelope-id')?.trim();
  const messageId =
    (original && messageIdInHeaders(original.content.toString('utf8'))) ??
    (envelopeId && parseMessageId(envelopeId) ? envelopeId : null) ??
    verpMessageId ??
    verpOf(mail);
  if (!perMessage || recipients.length === 0)
    throw new BadPayload('the delivery-status part has no per-recipient fields');
  // The report's own Message-ID names it: the same bounce mail fed twice is the same events.
  const reportId = createHash('sha1')
    .update(mail.messageId ?? (typeof raw === 'string' ? raw : raw.toString('utf8')))
    .digest('hex')
    .slice(0, 24);
  const out = emptyTranslation();
  recipients.forEach((fields, i) => {
    const action = fields.get('action') ?? '';
    const statusCode = fields.get('status')?.split(/\s/)[0];
    const type = typeFor(action, statusCode);
    if (!type) {
      out.ignored++;
      return;
    }
    const occurredAt =
      isoTime(fields.get('last-attempt-date')) ??
      isoTime(perMessage.get('arrival-date')) ??
      (mail.date ? mail.date.toISOString() : new Date().toISOString());
    const diagnostic = fields.get('diagnostic-code')?.replace(/^smtp;\s*/i, '');
    out.feedback.push(
      compact({
        eventId: `dsn-${reportId}-${i}`,
        // Unmatched, the event is dead-lettered by the worker, with the raw event to look into.
        messageId: messageId ?? `dsn:unmatched-${reportId}`,
        type,
        occurredAt,
        enhancedStatus: enhancedStatus(statusCode),
        diagnostic: diagnostic ?? `${action} ${statusCode ?? ''}`.trim(),
      }),
    );
  });
  return out;
}
