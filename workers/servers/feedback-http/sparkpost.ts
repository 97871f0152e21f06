// SparkPost / Momentum event webhooks → contract events. Pure: a parsed body in, a translation out.
//
// The body is a JSON array of `{ "msys": { "<kind>_event": { "type": …, … } } }`; a ping is `[{"msys":{}}]`.
// Our message id comes back in `rcpt_meta.campaign_message_id`, which the dispatch sets through the
// X-MSYS-API header's `metadata` (SparkPost merges message metadata into each event's `rcpt_meta`).

import { lookup } from '../../../shared/lookup';
import type { FailureReason } from '../../../shared/rules/classify';
import {
  BadPayload,
  type ContractEvent,
  compact,
  emptyTranslation,
  isoTime,
  MESSAGE_ID_METADATA,
  record,
  smtpCode,
  type Translation,
  text,
} from './translate';

/**
 * SparkPost's bounce classification codes (support.sparkpost.com/docs/deliverability/bounce-classification-codes):
 * each class's category, and the reason it names. Hard and Admin are the categories SparkPost itself suppresses
 * on (10, 30, 90; 25 its own policies, 26 Smart Send); Soft, Block and Undetermined "are usually temporary".
 * 'not defined' leaves the reason to the SMTP reply; the reason, not the category, then decides the type.
 */
const BOUNCE_CLASSES: Readonly<Record<string, readonly ['hard' | 'soft', FailureReason]>> = {
  '1': ['soft', 'not defined'], // Undetermined
  '10': ['hard', 'user unknown'], // Invalid Recipient
  '20': ['soft', 'not defined'], // Soft Bounce
  '21': ['soft', 'unreachable'], // DNS Failure (soft in SparkPost's table: a lookup may pass)
  '22': ['soft', 'mailbox full'], // Mailbox Full
  '23': ['soft', 'message too large'], // Too Large
  '24': ['soft', 'unreachable'], // Timeout
  '25': ['hard', 'not defined'], // Admin Failure: SparkPost's configured policies
  '26': ['hard', 'not defined'], // Smart Send Suppression
  '30': ['hard', 'not defined'], // Generic Bounce: No RCPT
  '40': ['soft', 'not defined'], // Generic Bounce
  '50': ['soft', 'spam rejection'], // Mail Block: blocked by the receiver
  '51': ['soft', 'spam rejection'], // Spam Block: a known spam source
  '52': ['soft', 'spam rejection'], // Spam Content
  '53': ['soft', 'refused'], // Prohibited Attachment
  '54': ['soft', 'refused'], // Relaying Denied
  '60': ['soft', 'out of office'], // Auto-Reply: an answer, no failure of the address
  '70': ['soft', 'not defined'], // Transient Failure
  '90': ['hard', 'on denylist'], // Unsubscribe: the recipient asked for no more mail
  '100': ['soft', 'not defined'], // Challenge-Response
};
/** 80 is a subscribe request: no failure at all. */
const NOT_A_FAILURE = new Set(['80']);

type Kind = 'feedback' | 'tracking' | 'ignored';

// A Map: looked up by the sender's `type`, a plain object would answer `constructor` with a function.
const KINDS = new Map<string, Kind>(
  Object.entries({
    delivery: 'feedback',
    bounce: 'feedback',
    out_of_band: 'feedback',
    policy_rejection: 'feedback',
    spam_complaint: 'feedback',
    open: 'tracking',
    initial_open: 'tracking',
    amp_open: 'tracking',
    amp_initial_open: 'tracking',
    click: 'tracking',
    amp_click: 'tracking',
    // A delay is SparkPost retrying on its own: `delayed`, never a soft bounce (that would have us send it again).
    delay: 'feedback',
  } satisfies Record<string, Kind>),
);

/** The declared type and the reason of a bounce's class; null for a class that is no failure. */
function bounceOf(
  event: Record<string, unknown>,
): { type: ContractEvent['type']; reason?: FailureReason } | null {
  const cls = String(event.bounce_class ?? '');
  if (NOT_A_FAILURE.has(cls)) return null;
  // A policy rejection without a class is SparkPost refusing to send to the address (its suppression list).
  if (event.type === 'policy_rejection' && cls === '') return { type: 'hard_bounce' };
  const [category, reason] = lookup(BOUNCE_CLASSES, cls) ?? ['soft', 'not defined'];
  return { type: category === 'hard' ? 'hard_bounce' : 'soft_bounce', reason };
}

/** A delay keeps its class's reason (22: mailbox full, …) for the record; the type is `delayed` whatever the class. */
function delayOf(event: Record<string, unknown>): { type: ContractEvent['type']; reason?: FailureReason } {
  const [, reason] = lookup(BOUNCE_CLASSES, String(event.bounce_class ?? '')) ?? ['soft', 'not defined'];
  return { type: 'delayed', reason };
}

function translateEvent(event: Record<string, unknown>, out: Translation): void {
  const type = text(event.type) ?? '';
  const kind = KINDS.get(type) ?? 'ignored';
  if (kind === 'ignored') {
    out.ignored++;
    return;
  }
  const eventId = text(event.event_id);
  const occurredAt = isoTime(event.timestamp);
  if (!eventId || !occurredAt) {
    // This event alone: the others of the batch are applied, and the sender hears 400.
    out.refused.push({
      reason: `a ${type} event has no event_id or no timestamp that makes a date`,
      raw: event,
    });
    return;
  }
  const meta = record(event.rcpt_meta);
  // Without our metadata the SparkPost id is kept: the worker dead-letters it as an unknown message.
  const messageId = text(meta?.[MESSAGE_ID_METADATA]) ?? `sparkpost:${text(event.message_id) ?? eventId}`;
  const base = { eventId: `sparkpost-${eventId}`, messageId, occurredAt };
  if (kind === 'tracking') {
    const click = type.endsWith('click');
    out.tracking.push(
      compact({
        ...base,
        type: click ? 'click' : 'open',
        url: click ? text(event.target_link_url) : undefined,
      }),
    );
    return;
  }
  // The recipient SparkPost names: the worker checks it against the address the message was sent to.
  Object.assign(base, compact({ recipient: text(event.rcpt_to) }));
  if (type === 'delivery') {
    out.feedback.push({ ...base, type: 'delivered' });
    return;
  }
  if (type === 'spam_complaint') {
    out.feedback.push(compact({ ...base, type: 'complaint', diagnostic: text(event.fbtype) }));
    return;
  }
  const bounce = type === 'delay' ? delayOf(event) : bounceOf(event);
  if (bounce === null) {
    out.ignored++;
    return;
  }
  out.feedback.push(
    compact({
      ...base,
      type: bounce.type,
      smtpCode: smtpCode(event.error_code),
      diagnostic: text(event.raw_reason) ?? text(event.reason),
      reason: bounce.reason,
    }),
  );
}

/** Translates one webhook batch. */
export function translateSparkPost(body: unknown): Translation {
  if (!Array.isArray(body)) throw new BadPayload('a SparkPost batch must be a JSON array of {"msys": {…}}');
  const out = emptyTranslation();
  for (const [i, item] of body.entries()) {
    const msys = record(record(item)?.msys);
    if (!msys) throw new BadPayload(`item ${i} has no "msys" object`);
    const events = Object.values(msys).map(record);
    if (events.length === 0) continue; // the ping SparkPost sends when a webhook is created
    for (const event of events) {
      if (!event) throw new BadPayload(`item ${i} has an msys entry that is not an object`);
      translateEvent(event, out);
    }
  }
  return out;
}
