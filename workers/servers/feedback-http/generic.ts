// The generic endpoint: the contract's own `{ "events": [...] }`, or a bounce mail (RFC 3464 DSN) as is.
import { translateDsn } from './dsn';
import {
  BadPayload,
  type ContractEvent,
  emptyTranslation,
  record,
  type TrackingEvent,
  type Translation,
} from './translate';

const MAIL = /^(message\/|multipart\/report|text\/plain)/i;

/**
 * JSON events pass through unchanged (the worker validates each one and dead-letters the bad ones); opens and
 * clicks go to tracking-events. A mail body is read as a DSN.
 */
export async function translateGeneric(body: string, contentType: string): Promise<Translation> {
  if (MAIL.test(contentType)) return translateDsn(body);
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new BadPayload('the body is not JSON (send {"events": [...]}, or a DSN as message/rfc822)');
  }
  const events = record(value)?.events;
  if (!Array.isArray(events)) throw new BadPayload('events must be a list of events');
  const out = emptyTranslation();
  for (const e of events) {
    const type = record(e)?.type;
    if (type === 'open' || type === 'click') out.tracking.push(e as TrackingEvent);
    else out.feedback.push(e as ContractEvent);
  }
  return out;
}
