// KumoMTA log hook records → contract events. Pure. docs.kumomta.com/reference/log_record/
//
// A log hook POSTs one JSON record per request, or a batch (a JSON array, or JSON lines). For our own messages'
// records (Delivery, Bounce, Expiration) our id is the X-Campaign-Message-Id header, which the hook's
// `headers = { 'X-Campaign-Message-Id' }` setting logs. An OOB or Feedback record is logged from the incoming
// bounce or ARF mail, so its headers are that mail's: our id is then the VERP address the bounce was sent to
// (the OOB record's `sender`, "addressed to the envelope from of the original message") or the headers of the
// original message embedded in the report (`feedback_report.original_message`).

import { lookup } from '../../../shared/lookup';
import { parseVerp } from '../../../shared/message-id';
import type { FailureReason } from '../../../shared/rules/classify';
import { messageIdInHeaders } from './dsn';
import {
  BadPayload,
  type ContractEvent,
  compact,
  emptyTranslation,
  enhancedStatus,
  headerOf,
  isoTime,
  MESSAGE_ID_HEADER,
  record,
  smtpCode,
  type Translation,
  text,
} from './translate';

/** Reads a body of one record, an array of records, or JSON lines. */
export function readKumoRecords(body: string): unknown[] {
  const trimmed = body.trim();
  if (trimmed === '') throw new BadPayload('the body is empty');
  try {
    const value = JSON.parse(trimmed) as unknown;
    return Array.isArray(value) ? value : [value];
  } catch {
    try {
      return trimmed
        .split(/\r?\n/)
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as unknown);
    } catch {
      throw new BadPayload('the body is neither JSON nor JSON lines of KumoMTA log records');
    }
  }
}

/**
 * KumoMTA's bounce classes (docs.kumomta.com, bounce_classify::PreDefinedBounceClass; `bounce_classification`
 * of a record once `configure_bounce_classifier` is set, else Uncategorized) → a reason. The classes that name no
 * failure of the address's own (transient failures, challenge-response, subscribe) leave it to the SMTP reply.
 */
const CLASS_REASON: Readonly<Record<string, FailureReason>> = {
  InvalidRecipient: 'user unknown',
  BadDomain: 'invalid domain',
  InactiveMailbox: 'account disabled',
  QuotaIssues: 'mailbox full',
  TooLarge: 'message too large',
  DNSFailure: 'unreachable',
  BadConnection: 'unreachable',
  NoAnswerFromHost: 'unreachable',
  RoutingErrors: 'unreachable',
  MessageExpired: 'unreachable',
  BadConfiguration: 'unreachable', // the remote host's configuration
  SpamBlock: 'spam rejection',
  SpamContent: 'spam rejection',
  SpamRelated: 'spam rejection',
  VirusRelated: 'spam rejection',
  ProhibitedAttachment: 'refused',
  ContentRelated: 'refused',
  RelayDenied: 'refused',
  RelayingIssues: 'refused',
  PolicyRelated: 'refused',
  AuthenticationFailed: 'refused',
  InvalidSender: 'refused',
  ProtocolErrors: 'refused',
  TooManyRecipients: 'refused',
  AutoReply: 'out of office',
  Unsubscribe: 'on denylist',
};

/** Our message id in a record: our header, else the VERP address an OOB was sent to, else the embedded original's headers. */
function ourMessageId(
  r: Record<string, unknown>,
  report: Record<string, unknown> | null,
): string | undefined {
  const original = text(report?.original_message);
  return (
    headerOf(r.headers, MESSAGE_ID_HEADER) ??
    (r.type === 'OOB' ? (parseVerp(text(r.sender) ?? '') ?? undefined) : undefined) ??
    (original ? (messageIdInHeaders(original) ?? undefined) : undefined)
  );
}

function statusOf(response: Record<string, unknown> | null): string | undefined {
  const e = record(response?.enhanced_code);
  return e ? enhancedStatus(`${e.class}.${e.subject}.${e.detail}`) : undefined;
}

function translateRecord(r: Record<string, unknown>, out: Translation): void {
  const type = text(r.type) ?? '';
  let contractType: ContractEvent['type'];
  const response = record(r.response);
  const code = smtpCode(response?.code);
  switch (type) {
    case 'Delivery':
      contractType = 'delivered';
      break;
    case 'Bounce':
      contractType = 'hard_bounce';
      break;
    case 'TransientFailure':
      // KumoMTA deferred the message and retries it on its own: `delayed`, so that the pipeline does not as well.
      contractType = 'delayed';
      break;
    case 'Expiration':
      // KumoMTA gave up after its own retries: a later attempt of ours, within validity, may still pass.
      contractType = 'soft_bounce';
      break;
    case 'OOB':
      contractType = code !== undefined && code < 500 ? 'soft_bounce' : 'hard_bounce';
      break;
    case 'Feedback':
      contractType = 'complaint';
      break;
    default:
      // Reception, AdminBounce, …: nothing for the log.
      out.ignored++;
      return;
  }
  const id = text(r.id);
  const occurredAt = isoTime(r.timestamp);
  if (!id || !occurredAt) {
    out.refused.push({ reason: `a ${type} record has no id or no timestamp that makes a date`, raw: r });
    return;
  }
  const report = record(r.feedback_report);
  // Unmatched, the worker dead-letters the event as an unknown message, with the record to look into.
  const messageId = ourMessageId(r, report) ?? `kumomta:${id}`;
  const classification = text(r.bounce_classification);
  out.feedback.push(
    compact({
      // A message has one record of each final type; num_attempts tells repeated ones apart.
      eventId: `kumomta-${id}-${type}-${Number(r.num_attempts ?? 0)}`,
      // An outbound record's recipient is the message's; an incoming report's (OOB, Feedback) is our own address.
      recipient: type === 'OOB' || type === 'Feedback' ? undefined : text(r.recipient),
      messageId,
      type: contractType,
      occurredAt,
      smtpCode: contractType === 'complaint' ? undefined : code,
      enhancedStatus: contractType === 'complaint' ? undefined : statusOf(response),
      diagnostic:
        contractType === 'complaint'
          ? text(report?.feedback_type)
          : text(response?.content)?.replace(/\s+/g, ' '),
      reason: contractType === 'complaint' ? undefined : lookup(CLASS_REASON, classification ?? ''),
    }),
  );
}

/** Translates a request's records. */
export function translateKumo(records: unknown[]): Translation {
  const out = emptyTranslation();
  for (const [i, item] of records.entries()) {
    const r = record(item);
    if (!r) throw new BadPayload(`record ${i} is not a JSON object`);
    translateRecord(r, out);
  }
  return out;
}
