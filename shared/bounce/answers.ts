// Mail that is an answer rather than a failure: ARF complaints (RFC 5965) and auto-replies (RFC 3834).

import { bodyText, header, type MimePart, parseEntity, readHeaderBlock } from './mime';
import { addressOf } from './report';

/** Who complained, and about which message (the returned message's headers). */
export interface Complaint {
  recipients: string[];
  feedbackType: string;
  original: MimePart | null;
  arrivalDate: string;
}

const ADDRESS = /(?<![^\s<>()[\]:;,"'])[^\s<>()[\]:;,"'@]{1,64}@[^\s<>()[\]:;,"'@]{1,255}/g;

function addressesIn(value: string): string[] {
  return (value.match(ADDRESS) ?? []).map((a) => a.toLowerCase());
}

const isReport = (p: MimePart) => p.contentType === 'message/feedback-report';
const isOriginal = (p: MimePart) =>
  /^(?:message\/(?:global-)?rfc822|text\/rfc822-headers|message\/global-headers)$/.test(p.contentType);

/** Reads an ARF report, a Hotmail JMRP report (the complained-about mail with X-HmXmrOriginalRecipient), or an unsubscribe request; null when the mail is none. */
export function readComplaint(mail: MimePart, parts: MimePart[]): Complaint | null {
  const report = parts.find(isReport);
  const originalPart = parts.find(isOriginal) ?? null;
  const original = originalPart ? embedded(originalPart) : null;
  if (report) {
    const fields = readHeaderBlock(bodyText(report).replace(/^\s*\n/, ''));
    const listed = [
      ...(fields.get('original-rcpt-to') ?? []),
      ...(fields.get('removal-recipient') ?? []),
    ].map(addressOf);
    return {
      recipients: listed.length > 0 ? listed : originalRecipients(original),
      feedbackType: (fields.get('feedback-type')?.[0] ?? 'abuse').toLowerCase(),
      original,
      arrivalDate: fields.get('arrival-date')?.[0] ?? fields.get('received-date')?.[0] ?? '',
    };
  }
  const jmrp = original && header(original, 'x-hmxmroriginalrecipient');
  if (jmrp) return { recipients: addressesIn(jmrp), feedbackType: 'abuse', original, arrivalDate: '' };
  // Apple Mail's "unsubscribe" button mails the List-Unsubscribe address: the user asks for no more mail.
  if (/^true$/i.test(header(mail, 'x-apple-unsubscribe')))
    return {
      recipients: addressesIn(header(mail, 'from')),
      feedbackType: 'opt-out',
      original,
      arrivalDate: '',
    };
  return null;
}

/** The returned message inside a part: a message/rfc822 entity, or the headers alone. */
export function embedded(part: MimePart): MimePart {
  return parseEntity(bodyText(part).replace(/^\s*\n/, ''), 4);
}

function originalRecipients(original: MimePart | null): string[] {
  return original ? addressesIn(header(original, 'to')).slice(0, 1) : [];
}

// Subjects that auto-responders write (English, German, French, Spanish, Italian, Dutch, Japanese).
const AUTO_SUBJECT =
  /^(?:auto(?:matic)?[ -]?(?:reply|response|antwort|r[ée]ponse|respuesta)|out of (?:the )?office|abwesenheit|absence|away from|away until|on vacation|vacation|autoreply|r[ée]ponse automatique|respuesta autom[aá]tica|risposta automatica|automatisch antwoord|自動応答|不在)/i;
const AUTO_BODY =
  /\b(?:out of (?:the )?office|i am (?:currently )?(?:away|out|on (?:vacation|holiday|leave))|i will be (?:away|out of)|on (?:annual )?leave until|will be back on|returning (?:to the office )?on|limited access to (?:e-?mail|my email))\b/i;

/** True when the headers say the mail is an automatic answer (RFC 3834 Auto-Submitted: auto-replied, X-Autoreply, an auto-responder's subject). */
export function autoReplyByHeaders(mail: MimePart): boolean {
  const submitted = header(mail, 'auto-submitted').toLowerCase();
  if (submitted.startsWith('auto-replied')) return true;
  if (header(mail, 'x-autoreply') || header(mail, 'x-autorespond') || header(mail, 'x-autoresponder'))
    return true;
  if (/^auto[_-]?reply$/i.test(header(mail, 'precedence'))) return true;
  const subject = header(mail, 'subject').replace(/^(?:re|aw|fwd?):\s*/i, '');
  return AUTO_SUBJECT.test(subject) && !submitted.startsWith('auto-generated');
}

/** True when a mail that is no report reads like an out-of-office answer. */
export function autoReplyByText(text: string): boolean {
  return AUTO_BODY.test(text.slice(0, 2000));
}
