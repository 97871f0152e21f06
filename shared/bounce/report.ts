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
  /** The reporting MTA's own classification of the failure, where it writes one (PowerMTA's X-PowerMTA-BounceCategory). */
  category: string;
}

/** The per-message fields and the recipients of one report. */
export interface DeliveryStatus {
  arrivalDate: string;
  reportingMta: string;
  /** The ENVID the sender gave (RFC 3461): the dispatch gives the message id. */
  envelopeId: string;
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
 * The address we sent to: Original-Recipient (the ORCPT the dispatch gave, RFC 3461) where it holds an address,
 * else Final-Recipient, which after an alias or a forward names the expanded address, not ours.
 */
function recipientOf(fields: Map<string, string[]>): string {
  const original = addressOf(fields.get('original-recipient')?.[0] ?? '');
  return original.includes('@') ? original : addressOf(fields.get('final-recipient')?.[0] ?? '');
}

const PER_MESSAGE =
  /^(?:reporting-mta|arrival-date|received-from-mta|original-envelope-id|dsn-gateway|x-[\w-]+)$/;
const fieldName = (line: string) => /^([A-Za-z][\w-]*)[ \t]*:/.exec(line)?.[1]?.toLowerCase();

/** Splits one blank-line block where a new recipient starts: at a recipient field its recipient has already (either order of Original- and Final-Recipient is one recipient). */
function recipientStarts(lines: string[]): number[] {
  const starts: number[] = [];
  let seen = { final: false, original: false };
  lines.forEach((line, i) => {
    const name = fieldName(line);
    if (!name || !RECIPIENT_FIELDS.has(name)) return;
    const isFinal = name === 'final-recipient';
    if (starts.length === 0 || (isFinal ? seen.final : seen.original)) {
      starts.push(i);
      seen = { final: false, original: false };
    }
    if (isFinal) seen.final = true;
    else seen.original = true;
  });
  return starts;
}

/**
 * Reads the report. Blank lines separate the blocks as RFC 3464 says, but some MTAs put none between
 * recipients or after the per-message fields, and some write Action: before Final-Recipient: a block is split
 * at each new recipient, the fields before its first recipient go with it (or, in the first block, are the
 * per-message fields), and a block naming no recipient continues the one before.
 */
export function readDeliveryStatus(text: string): DeliveryStatus {
  const head: string[] = [];
  const groups: string[][] = [];
  text.split(/\n[ \t]*\n/).forEach((block) => {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    if (lines.length === 0) return;
    const starts = recipientStarts(lines);
    if (starts.length === 0) {
      const target =
        groups.length === 0 || lines.some((l) => PER_MESSAGE.test(fieldName(l) ?? ''))
          ? head
          : groups.at(-1)!;
      target.push(...lines);
      return;
    }
    const before = lines.slice(0, starts[0]);
    const perMessage = before.some((l) => PER_MESSAGE.test(fieldName(l) ?? '') && !/^x-/i.test(l));
    if (perMessage) head.push(...before);
    starts.forEach((at, i) => {
      const own = lines.slice(at, starts[i + 1] ?? lines.length);
      groups.push(i === 0 && !perMessage ? [...before, ...own] : own);
    });
  });
  const rest = groups.map((g) => readHeaderBlock(g.join('\n')));
  const headFields = readHeaderBlock(head.join('\n'));
  const first = (fields: Map<string, string[]> | undefined, name: string) => fields?.get(name)?.[0] ?? '';
  const recipients = rest.map((fields) => ({
    email: recipientOf(fields),
    action: first(fields, 'action').toLowerCase().split(/[\s(]/)[0] ?? '',
    status: first(fields, 'status').split(/[\s(]/)[0] ?? '',
    diagnostic: first(fields, 'diagnostic-code'),
    remoteMta: first(fields, 'remote-mta'),
    lastAttempt: first(fields, 'last-attempt-date'),
    category: first(fields, 'x-powermta-bouncecategory').trim().toLowerCase(),
  }));
  return {
    arrivalDate: first(headFields, 'arrival-date'),
    reportingMta: first(headFields, 'reporting-mta'),
    envelopeId: first(headFields, 'original-envelope-id').trim(),
    recipients,
  };
}
