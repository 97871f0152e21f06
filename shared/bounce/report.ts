// RFC 3464 delivery-status fields, read leniently: recipients split on their own fields, not on blank lines.
import { readHeaderBlock } from './mime';

/** One recipient's fields from a delivery-status report (lower-cased names, first value of each). */
export interface ReportRecipient {
  email: string;
  action: string;
  status: string;
  diagnostic: string;
  remoteMta: string;
  lastAttempt: string;
}

/** The per-message fields and the recipients of one report. */
export interface DeliveryStatus {
  arrivalDate: string;
  reportingMta: string;
  recipients: ReportRecipient[];
}

const RECIPIENT_FIELDS = new Set(['final-recipient', 'original-recipient']);

/** An address out of a `type; address` field value (rfc822; <a@b>, or a bare address). */
export function addressOf(value: string): string {
  const afterType = value.includes(';') ? value.slice(value.indexOf(';') + 1) : value;
  const match = /<?([^\s<>;"]+@[^\s<>;"]+?)>?(?:\s|$)/.exec(`${afterType.trim()} `);
  return (match?.[1] ?? afterType.trim()).replace(/^<|>$/g, '').toLowerCase();
}

/**
 * Reads the report. Some MTAs put no blank line between recipients, or between the per-message block and
 * the first recipient: a new recipient starts at each Final-Recipient (or an Original-Recipient that comes
 * before its Final-Recipient), whatever the blank lines say.
 */
export function readDeliveryStatus(text: string): DeliveryStatus {
  const groups: string[][] = [[]];
  let seen = { final: false, original: false, head: true };
  for (const line of text.split('\n')) {
    const name = /^([A-Za-z-]+)[ \t]*:/.exec(line)?.[1]?.toLowerCase();
    if (name && RECIPIENT_FIELDS.has(name)) {
      const isFinal = name === 'final-recipient';
      // An Original-Recipient opens its recipient; the Final-Recipient after it belongs to the same one.
      if (seen.head || seen.final || (!isFinal && seen.original)) {
        groups.push([]);
        seen = { final: false, original: false, head: false };
      }
      if (isFinal) seen.final = true;
      else seen.original = true;
    }
    groups[groups.length - 1]!.push(line);
  }
  const [head, ...rest] = groups.map((g) => readHeaderBlock(g.join('\n')));
  const first = (fields: Map<string, string[]> | undefined, name: string) => fields?.get(name)?.[0] ?? '';
  const recipients = rest.map((fields) => ({
    email: addressOf(first(fields, 'final-recipient') || first(fields, 'original-recipient')),
    action: first(fields, 'action').toLowerCase().split(/[\s(]/)[0] ?? '',
    status: first(fields, 'status').split(/[\s(]/)[0] ?? '',
    diagnostic: first(fields, 'diagnostic-code'),
    remoteMta: first(fields, 'remote-mta'),
    lastAttempt: first(fields, 'last-attempt-date'),
  }));
  return {
    arrivalDate: first(head, 'arrival-date'),
    reportingMta: first(head, 'reporting-mta'),
    recipients,
  };
}
