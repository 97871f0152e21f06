// Amazon SES notifications delivered by mail (an SNS e-mail subscription): the JSON body read as a report.
import { addressOf } from './report';

/** One recipient of an SES notification, before classification. */
export interface SesRecipient {
  email: string;
  action: 'failed' | 'delayed' | 'delivered' | 'complaint';
  status: string;
  diagnostic: string;
  at: string;
}

/** The notification's recipients and the headers SES echoes of our message; null when the text is none. */
export interface SesNotification {
  recipients: SesRecipient[];
  headers: Map<string, string[]>;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.map(obj) : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Reads `{"notificationType"|"eventType": "Bounce"|"Complaint"|"Delivery", …}` out of a mail's text. */
export function readSesNotification(text: string): SesNotification | null {
  const start = text.search(/\{\s*"(?:notificationType|eventType)"\s*:/);
  if (start < 0) return null;
  const end = text.lastIndexOf('}');
  let value: Json;
  try {
    // Long lines reach the mailbox broken as "!" + line end + space (a mail line limit); joined back here.
    value = obj(JSON.parse(text.slice(start, end + 1).replace(/!\n /g, '')));
  } catch {
    return null;
  }
  const type = str(value.notificationType) || str(value.eventType);
  const mail = obj(value.mail);
  const headers = new Map<string, string[]>();
  for (const h of list(mail.headers)) {
    const name = str(h.name).toLowerCase();
    if (name) headers.set(name, [...(headers.get(name) ?? []), str(h.value)]);
  }
  const recipients: SesRecipient[] = [];
  if (type === 'Bounce') {
    const b = obj(value.bounce);
    // Permanent is final; Transient and Undetermined may pass: a vague status gets the class SES gave it.
    const fallback = str(b.bounceType) === 'Permanent' ? '5.0.0' : '4.0.0';
    for (const r of list(b.bouncedRecipients))
      recipients.push({
        email: addressOf(str(r.emailAddress)),
        action: 'failed',
        status: str(r.status) || fallback,
        diagnostic: str(r.diagnosticCode) || `SES ${str(b.bounceType)} bounce, ${str(b.bounceSubType)}`,
        at: str(b.timestamp),
      });
  } else if (type === 'Complaint') {
    const c = obj(value.complaint);
    for (const r of list(c.complainedRecipients))
      recipients.push({
        email: addressOf(str(r.emailAddress)),
        action: 'complaint',
        status: '',
        diagnostic: `complaint: ${str(c.complaintFeedbackType) || 'abuse'}`,
        at: str(c.timestamp),
      });
  } else if (type === 'Delivery') {
    const d = obj(value.delivery);
    for (const email of Array.isArray(d.recipients) ? d.recipients : [])
      recipients.push({
        email: addressOf(str(email)),
        action: 'delivered',
        status: '2.0.0',
        diagnostic: str(d.smtpResponse),
        at: str(d.timestamp),
      });
  } else return null;
  return { recipients, headers };
}
