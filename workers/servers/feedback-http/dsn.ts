// Bounce mail → contract events, by the bounce reader (shared/bounce): DSNs, vendor bounces, ARF complaints, auto-replies.
//
// One reader for every way a bounce mail arrives (`campaign feedback dsn`, the generic HTTP endpoint, the bounce
// mailbox), and the same one `campaign bounce classify` prints: an event carries the evidence the reader
// classified, so the feedback worker ends with the type and reason the command shows.
import { type BounceRecipient, readBounce } from '../../../shared/bounce';
import { messageIdOf } from '../../../shared/bounce/ids';
import { parseEntity } from '../../../shared/bounce/mime';
import { BadPayload, type ContractEvent, compact, emptyTranslation, type Translation } from './translate';

/** Our message id in an original message's headers: X-Campaign-Message-Id, else a Message-ID of ours. */
export function messageIdInHeaders(headers: string): string | null {
  return messageIdOf(parseEntity(headers.replace(/\r\n?/g, '\n').replace(/^\s*\n/, ''), 5));
}

/**
 * The contract's event type of one recipient. A delay is `delayed`: the MTA retries by itself, so the pipeline
 * schedules no retry of its own, and the validity end fails the message if the MTA's final word has not come.
 */
function eventType(r: BounceRecipient): ContractEvent['type'] {
  switch (r.action) {
    case 'delivered':
      return 'delivered';
    case 'complaint':
      return 'complaint';
    case 'delayed':
      return 'delayed';
    default:
      // Failures and auto-replies: the worker classifies the evidence again (an auto-reply is `ignored`).
      return r.type === 'hard' ? 'hard_bounce' : 'soft_bounce';
  }
}

/**
 * Translates one bounce mail; `verpMessageId`, if given, is the id its envelope recipient named (used where the
 * mail quotes no header of ours). A mail that reports nothing is refused (BadPayload, kept as a dead letter by the
 * caller); a report that names no message of ours still becomes events, which the worker dead-letters as
 * "unknown message" with the whole event to look into.
 */
export async function translateDsn(raw: string | Buffer, verpMessageId?: string): Promise<Translation> {
  const report = readBounce(raw, { receivedAt: new Date() });
  if (report.kind === 'not-a-bounce')
    throw new BadPayload(`not a bounce, complaint or auto-reply: ${report.why ?? 'nothing reported'}`);
  const out = emptyTranslation();
  report.recipients.forEach((r, i) => {
    const type = eventType(r);
    out.feedback.push(
      compact({
        eventId: `dsn-${report.reportId}-${i}`,
        messageId: r.messageId ?? verpMessageId ?? `dsn:unmatched-${report.reportId}`,
        type,
        occurredAt: r.occurredAt ?? new Date().toISOString(),
        smtpCode: r.smtpCode ?? undefined,
        enhancedStatus: r.enhancedStatus ?? undefined,
        diagnostic: r.diagnostic ?? undefined,
        // The reader classified the whole mail (the command a reply answered, the prose around it); its reason
        // travels with the event so that the worker ends where `bounce classify` does.
        reason: type === 'hard_bounce' || type === 'soft_bounce' ? (r.reason ?? undefined) : undefined,
      }),
    );
  });
  return out;
}
