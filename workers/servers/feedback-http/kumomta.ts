// KumoMTA log hook records → contract events. Pure. docs.kumomta.com/reference/log_record/
//
// A log hook POSTs one JSON record per request, or a batch (a JSON array, or JSON lines). Our id is the
// X-Campaign-Message-Id header, which the hook's `headers = { 'X-Campaign-Message-Id' }` setting logs.
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
      // Reception, TransientFailure (KumoMTA retries on its own), AdminBounce, …: nothing for the log.
      out.ignored++;
      return;
  }
  const id = text(r.id);
  const occurredAt = isoTime(r.timestamp);
  if (!id || !occurredAt) throw new BadPayload(`a ${type} record has no id or timestamp`);
  const report = record(r.feedback_report);
  const messageId =
    headerOf(r.headers, MESSAGE_ID_HEADER) ??
    headerOf(record(report?.original_message_headers) ?? undefined, MESSAGE_ID_HEADER) ??
    `kumomta:${id}`;
  out.feedback.push(
    compact({
      // A message has one record of each final type; num_attempts tells repeated ones apart.
      eventId: `kumomta-${id}-${type}-${Number(r.num_attempts ?? 0)}`,
      messageId,
      type: contractType,
      occurredAt,
      smtpCode: contractType === 'complaint' ? undefined : code,
      enhancedStatus: contractType === 'complaint' ? undefined : statusOf(response),
      diagnostic:
        contractType === 'complaint'
          ? text(report?.feedback_type)
          : text(response?.content)?.replace(/\s+/g, ' '),
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
