// Amazon SES notifications (the `Message` of an SNS notification) → contract events. Pure.
//
// SES keeps the original message's headers in `mail.headers` (when "include original headers" is on) and
// `mail.commonHeaders`: our id is the X-Campaign-Message-Id header, else the Message-ID that SES kept.
import type { FailureReason } from '../../../shared/rules/classify';
import {
  BadPayload,
  type ContractEvent,
  compact,
  emptyTranslation,
  enhancedStatus,
  isoTime,
  MESSAGE_ID_HEADER,
  record,
  type Translation,
  text,
} from './translate';

/**
 * SES's bounce types and subtypes (docs.aws.amazon.com/ses/latest/dg/notification-contents.html, "Bounce types")
 * → a reason. Permanent: General (no more said), NoEmail (the address does not exist), Suppressed (on SES's
 * suppression list for "a recent history of bouncing as an invalid address"), OnAccountSuppressionList (on the
 * account's own list, for a bounce or a complaint). Transient: General, MailboxFull, MessageTooLarge,
 * ContentRejected, AttachmentRejected. Undetermined: SES could not tell. 'not defined' leaves it to the DSN.
 */
// A Map: looked up by the sender's bounceSubType, which may be `constructor`.
const SUBTYPE_REASON = new Map<string, FailureReason>(
  Object.entries({
    NoEmail: 'user unknown',
    Suppressed: 'user unknown',
    OnAccountSuppressionList: 'not defined',
    MailboxFull: 'mailbox full',
    MessageTooLarge: 'message too large',
    ContentRejected: 'spam rejection',
    AttachmentRejected: 'refused',
    General: 'not defined',
    Undetermined: 'not defined',
  } satisfies Record<string, FailureReason>),
);

/**
 * SES's delay types (docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html, "DeliveryDelay
 * object") → a reason, kept with the `delayed` event: SES retries on its own until `expirationTime`.
 */
const DELAY_REASON = new Map<string, FailureReason>(
  Object.entries({
    MailboxFull: 'mailbox full',
    SpamDetected: 'spam rejection',
    IPFailure: 'refused',
    RecipientServerError: 'unreachable',
    TransientCommunicationFailure: 'unreachable',
    BYOIPHostNameLookupUnavailable: 'not defined',
    InternalFailure: 'not defined',
    SendingDeferral: 'not defined',
    General: 'not defined',
    Undetermined: 'not defined',
  } satisfies Record<string, FailureReason>),
);

function ourMessageId(mail: Record<string, unknown>): string {
  if (Array.isArray(mail.headers)) {
    for (const h of mail.headers) {
      const header = record(h);
      if (text(header?.name)?.toLowerCase() === MESSAGE_ID_HEADER.toLowerCase()) {
        const value = text(header?.value);
        if (value) return value.trim();
      }
    }
  }
  const common = text(record(mail.commonHeaders)?.messageId);
  return common ?? `ses:${text(mail.messageId) ?? 'unknown'}`;
}

/** One event id per recipient: the provider's id alone when it names one recipient, else suffixed. */
const idFor = (base: string, i: number, count: number) => (count > 1 ? `${base}-${i}` : base);

/** Translates one SES notification; `snsMessageId` names events that SES gives no id of their own. */
export function translateSes(message: unknown, snsMessageId: string): Translation {
  const n = record(message);
  if (!n) throw new BadPayload('the SNS Message is not a JSON object of an SES notification');
  const type = text(n.notificationType) ?? text(n.eventType);
  const mail = record(n.mail);
  if (!type || !mail)
    throw new BadPayload('the SES notification has no notificationType (or eventType) or mail');
  const messageId = ourMessageId(mail);
  const out = emptyTranslation();
  const push = (e: ContractEvent) => out.feedback.push(compact(e));
  switch (type) {
    case 'Bounce': {
      const b = record(n.bounce);
      const recipients = Array.isArray(b?.bouncedRecipients) ? b.bouncedRecipients.map(record) : [];
      const occurredAt = isoTime(b?.timestamp);
      if (!b || recipients.length === 0 || !occurredAt)
        throw new BadPayload('the SES bounce has no bouncedRecipients or timestamp');
      // Permanent is final; Transient and Undetermined may pass, so they are retried within validity.
      const bounce = b.bounceType === 'Permanent' ? 'hard_bounce' : 'soft_bounce';
      const subtype = text(b.bounceSubType) ?? 'Undetermined';
      const reason = SUBTYPE_REASON.get(subtype) ?? 'not defined';
      // Kept for the audit trail when the remote MTA's words did not come along.
      const fallback = `SES ${text(b.bounceType) ?? 'Undetermined'} bounce, subtype ${subtype}`;
      const base = `ses-${text(b.feedbackId) ?? snsMessageId}`;
      recipients.forEach((r, i) => {
        push({
          eventId: idFor(base, i, recipients.length),
          messageId,
          type: bounce,
          occurredAt,
          enhancedStatus: enhancedStatus(r?.status),
          diagnostic: text(r?.diagnosticCode) ?? fallback,
          reason,
          recipient: text(r?.emailAddress),
        });
      });
      return out;
    }
    case 'Complaint': {
      const c = record(n.complaint);
      const recipients = Array.isArray(c?.complainedRecipients) ? c.complainedRecipients : [];
      const occurredAt = isoTime(c?.timestamp);
      if (!c || recipients.length === 0 || !occurredAt)
        throw new BadPayload('the SES complaint has no complainedRecipients or timestamp');
      const base = `ses-${text(c.feedbackId) ?? snsMessageId}`;
      recipients.forEach((r, i) => {
        push({
          eventId: idFor(base, i, recipients.length),
          messageId,
          recipient: text(record(r)?.emailAddress),
          type: 'complaint',
          occurredAt,
          diagnostic: text(c.complaintFeedbackType),
        });
      });
      return out;
    }
    case 'Delivery': {
      const d = record(n.delivery);
      const recipients = Array.isArray(d?.recipients) ? d.recipients : [];
      const occurredAt = isoTime(d?.timestamp);
      if (!d || recipients.length === 0 || !occurredAt)
        throw new BadPayload('the SES delivery has no recipients or timestamp');
      // SES sends one Delivery per message and recipient: its message id names the event.
      const base = `ses-delivery-${text(mail.messageId) ?? snsMessageId}`;
      recipients.forEach((r, i) => {
        push({
          eventId: idFor(base, i, recipients.length),
          messageId,
          type: 'delivered',
          occurredAt,
          recipient: text(r),
        });
      });
      return out;
    }
    case 'DeliveryDelay': {
      // SES could not deliver yet and keeps trying: `delayed`, so that the pipeline schedules no retry of its own.
      const d = record(n.deliveryDelay);
      const recipients = Array.isArray(d?.delayedRecipients) ? d.delayedRecipients.map(record) : [];
      const occurredAt = isoTime(d?.timestamp);
      if (!d || recipients.length === 0 || !occurredAt)
        throw new BadPayload('the SES delivery delay has no delayedRecipients or timestamp');
      const delayType = text(d.delayType) ?? 'Undetermined';
      // SES sends a delay more than once for one message: the SNS message id names this one.
      const base = `ses-delay-${snsMessageId}`;
      recipients.forEach((r, i) => {
        push({
          eventId: idFor(base, i, recipients.length),
          messageId,
          type: 'delayed',
          occurredAt,
          enhancedStatus: enhancedStatus(r?.status),
          diagnostic: text(r?.diagnosticCode) ?? `SES delivery delay, type ${delayType}`,
          reason: DELAY_REASON.get(delayType) ?? 'not defined',
          recipient: text(r?.emailAddress),
        });
      });
      return out;
    }
    case 'Open':
    case 'Click': {
      const t = record(type === 'Open' ? n.open : n.click);
      const occurredAt = isoTime(t?.timestamp);
      if (!occurredAt) throw new BadPayload(`the SES ${type} event has no timestamp`);
      out.tracking.push(
        compact({
          eventId: `ses-${snsMessageId}`,
          messageId,
          type: type === 'Open' ? 'open' : 'click',
          url: type === 'Click' ? text(t?.link) : undefined,
          occurredAt,
        }),
      );
      return out;
    }
    default:
      // Send, Reject, Rendering Failure, Subscription: nothing for the delivery log.
      out.ignored++;
      return out;
  }
}
