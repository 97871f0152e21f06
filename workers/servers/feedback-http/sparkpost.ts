// SparkPost / Momentum event webhooks → contract events. Pure: a parsed body in, a translation out.
//
// The body is a JSON array of `{ "msys": { "<kind>_event": { "type": …, … } } }`; a ping is `[{"msys":{}}]`.
// Our message id comes back in `rcpt_meta.campaign_message_id`, which the dispatch sets through the
// X-MSYS-API header's `metadata` (SparkPost merges message metadata into each event's `rcpt_meta`).
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
 * SparkPost's bounce classes (support.sparkpost.com, "Bounce classification codes") by category: Hard
 * (10 invalid recipient, 30 no RCPT, 90 unsubscribe), Block (50-54: the sender, not the address), Admin (25
 * admin failure, 26 smart-send suppression: SparkPost's own policy refused the address), Soft (everything else).
 */
const HARD_CLASSES = new Set(['10', '30', '90', '25', '26']);
/** 60 is an auto-reply: an answer, no failure of the address; 80 a subscribe request. */
const AUTO_REPLY = '60';
const NOT_A_FAILURE = new Set(['80']);

type Kind = 'feedback' | 'tracking' | 'ignored';

const KINDS: Record<string, Kind> = {
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
  // A delay is SparkPost retrying on its own: a soft bounce here would have us send the message again.
  delay: 'ignored',
};

function bounceType(event: Record<string, unknown>): ContractEvent['type'] | null {
  const cls = String(event.bounce_class ?? '');
  if (NOT_A_FAILURE.has(cls)) return null;
  if (event.type === 'policy_rejection' && cls === '') return 'hard_bounce';
  return HARD_CLASSES.has(cls) ? 'hard_bounce' : 'soft_bounce';
}

function translateEvent(event: Record<string, unknown>, out: Translation): void {
  const type = text(event.type) ?? '';
  const kind = KINDS[type] ?? 'ignored';
  if (kind === 'ignored') {
    out.ignored++;
    return;
  }
  const eventId = text(event.event_id);
  const occurredAt = isoTime(event.timestamp);
  if (!eventId || !occurredAt) throw new BadPayload(`a ${type} event has no event_id or timestamp`);
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
  if (type === 'delivery') {
    out.feedback.push({ ...base, type: 'delivered' });
    return;
  }
  if (type === 'spam_complaint') {
    out.feedback.push(compact({ ...base, type: 'complaint', diagnostic: text(event.fbtype) }));
    return;
  }
  const bounce = bounceType(event);
  if (bounce === null) {
    out.ignored++;
    return;
  }
  const reason = text(event.raw_reason) ?? text(event.reason);
  const autoReply = String(event.bounce_class ?? '') === AUTO_REPLY;
  out.feedback.push(
    compact({
      ...base,
      type: bounce,
      smtpCode: smtpCode(event.error_code),
      // The classifier reads "auto-reply" as an answer, not a failure of the address.
      diagnostic: autoReply ? `auto-reply: ${reason ?? ''}` : reason,
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
