// Message ids: each attempt's id names its delivery, recipient and attempt, so feedback maps back without a lookup.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a message id says about the message it names. */
export interface MessageRef {
  deliveryId: string;
  seq: number;
  attempt: number;
  token: string;
}

/** What makes a delivery's message tokens: its key (new deliveries) or its one token (deliveries made before). */
export interface TokenSource {
  token: string;
  messageKey: string | null;
}

/** A new delivery's message key: 32 random bytes, kept in the database with the delivery. */
export const newMessageKey = (): string => randomBytes(32).toString('hex');

/**
 * The token of one attempt's id: 64 bits of an HMAC-SHA256 of delivery, seq and attempt under the delivery's
 * key, so knowing one's own id tells nothing of another recipient's, or of the next attempt's. A delivery
 * without a key (created before keys) uses its one token in every id, as then, so its ids stay readable.
 */
export function messageToken(source: TokenSource, deliveryId: string, seq: number, attempt: number): string {
  if (!source.messageKey) return source.token;
  return createHmac('sha256', Buffer.from(source.messageKey, 'hex'))
    .update(`${deliveryId}.${seq}.${attempt}`)
    .digest('hex')
    .slice(0, 16);
}

/** Whether a message id's token is the one this delivery gave that attempt (compared in constant time). */
export function tokenMatches(source: TokenSource, ref: MessageRef): boolean {
  const expected = Buffer.from(messageToken(source, ref.deliveryId, ref.seq, ref.attempt));
  const given = Buffer.from(ref.token);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * `<attempt>.<seq>.<deliveryId>.<token>@<domain>`: unique per attempt, the same on every hand-off of that
 * attempt (so an MTA can drop a repeat), and recognisably ours through its token (`messageToken`).
 */
export function formatMessageId(ref: MessageRef, domain: string): string {
  return `${ref.attempt}.${ref.seq}.${ref.deliveryId}.${ref.token}@${domain}`;
}

const MESSAGE_ID = /^<?(\d{1,5})\.(\d{1,10})\.(\d{1,19})\.([0-9a-f]{6,32})@[^\s<>@]+>?$/;

/** Reads a message id back (with or without angle brackets); null when it is not one of ours. */
export function parseMessageId(text: string): MessageRef | null {
  const m = MESSAGE_ID.exec(text.trim());
  if (!m) return null;
  const ref = { attempt: Number(m[1]), seq: Number(m[2]), deliveryId: m[3]!, token: m[4]! };
  // Out of the columns' ranges (smallint, int, bigint) it cannot be ours, and must not reach SQL.
  if (
    ref.attempt < 1 ||
    ref.attempt > 32_767 ||
    ref.seq > 2_147_483_647 ||
    BigInt(ref.deliveryId) >= 2n ** 63n
  )
    return null;
  return ref;
}

/** The domain part for message ids: the sender's, or a neutral one. */
export function messageIdDomain(sender: string): string {
  const at = sender.lastIndexOf('@');
  const domain = at >= 0 ? sender.slice(at + 1).replace(/[>\s]/g, '') : '';
  return domain || 'campaign.invalid';
}

/**
 * The SMTP envelope sender of one attempt. With a return-path domain it is a VERP address that names the
 * message (`bounces+<id with @ as =>@<domain>`), so that a bounce mail sent back to it is matched even when
 * it quotes none of the original headers; otherwise the delivery's sender.
 */
export function envelopeSender(sender: string, returnPathDomain: string | null, messageId: string): string {
  return returnPathDomain ? `bounces+${messageId.replace('@', '=')}@${returnPathDomain}` : sender;
}

/** What an attempt asks of an MTA that offers DSN (RFC 3461): which reports, naming which message. */
export interface DsnRequest {
  /** ENVID: the message id, echoed in each report's Original-Envelope-Id. */
  envid?: string;
  notify: ('SUCCESS' | 'FAILURE' | 'DELAY')[];
  /** ORCPT: the recipient as we addressed it, echoed in each report's Original-Recipient. */
  orcpt?: string;
}

/**
 * With EFS the MTA is the feedback service: it is asked for every report, success included (so that any
 * standards MTA can say `delivered`); without EFS a success changes nothing, so only failures and delays.
 * The returned headers (RET=HDRS, set by the transport) carry our message id, never the content.
 */
export function dsnRequest(messageId: string, recipient: string, efs: boolean): DsnRequest {
  // RFC 3461 caps ENVID at 100 characters (an MTA refuses the MAIL command past it), and ORCPT's rfc822
  // type is ASCII: where either does not fit, the VERP return path and the returned headers still name it.
  // One object literal (an absent parameter is undefined): the same shape for every message.
  return {
    envid: messageId.length <= 100 ? messageId : undefined,
    notify: efs ? ['SUCCESS', 'FAILURE', 'DELAY'] : ['FAILURE', 'DELAY'],
    orcpt: ORCPT_SAFE.test(recipient) ? `rfc822;${recipient}` : undefined,
  };
}

const ORCPT_SAFE = /^[\x21-\x7e]+$/;

/** The message id a VERP return path names; null when the address is not one of ours. */
export function parseVerp(address: string): string | null {
  const m = /^bounces\+([^@=\s]+)=([^@=\s]+)@[^@\s]+$/i.exec(address.trim().replace(/^<|>$/g, ''));
  if (!m) return null;
  const id = `${m[1]}@${m[2]}`;
  return parseMessageId(id) ? id : null;
}
