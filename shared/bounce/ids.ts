// Which of our messages a bounce is about, and when it was reported: header and time readers for the bounce reader.
import { parseMessageId, parseVerp } from '../message-id';
import { header, type MimePart } from './mime';

/** The header the dispatch sets on every message (shared with the HTTP translators). */
const MESSAGE_ID_HEADER = 'x-campaign-message-id';

/** Our message id in the returned message's headers: X-Campaign-Message-Id, else a Message-ID of ours. */
export function messageIdOf(original: Pick<MimePart, 'headers'>): string | null {
  const ours = header(original, MESSAGE_ID_HEADER).replace(/^<|>$/g, '');
  if (ours) return ours;
  const mid = header(original, 'message-id').replace(/^<|>$/g, '');
  return mid && parseMessageId(mid) ? mid : null;
}

/** Our message that a notice answers, by its In-Reply-To or References (the first of ours named). */
export function referencedIdOf(mail: Pick<MimePart, 'headers'>): string | null {
  const named =
    `${header(mail, 'in-reply-to')} ${header(mail, 'references')}`.match(/<[^<>\s]{1,500}>/g) ?? [];
  const ours = named.map((id) => id.slice(1, -1)).find((id) => parseMessageId(id));
  return ours ?? null;
}

/** The message an Original-Envelope-Id names, when it is one of ours (the dispatch's ENVID is the message id). */
export function envelopeIdOf(envid: string): string | null {
  return envid && parseMessageId(envid) ? envid : null;
}

/**
 * Any address-like token in a header value. It starts only where a token starts and its parts are bounded, so
 * a hostile megabyte-long token costs one pass, not one per character.
 */
export const HEADER_ADDRESS = /(?<![^\s<>"',;:()[\]])[^\s<>"',;:()[\]@]{1,64}@[^\s<>"',;:()[\]@]{1,255}/g;

/** The first address in a header value, lower-cased; null when none. */
export function firstAddress(value: string): string | null {
  return value.toLowerCase().match(HEADER_ADDRESS)?.[0] ?? null;
}

const ENVELOPE_HEADERS = ['delivered-to', 'x-original-to', 'envelope-to', 'to'];

/** The message a VERP return path names: the envelope recipient, else the bounce's Delivered-To, X-Original-To, To. */
export function verpOf(mail: MimePart, envelopeTo?: string): string | null {
  const candidates = [envelopeTo ?? '', ...ENVELOPE_HEADERS.flatMap((h) => mail.headers.get(h) ?? [])];
  for (const value of candidates) {
    for (const address of value.match(HEADER_ADDRESS) ?? []) {
      const id = parseVerp(address);
      if (id) return id;
    }
  }
  return null;
}

/** A mail date (RFC 5322, or ISO) as ISO 8601; null when absent or unreadable. */
export function isoTime(value: string | undefined): string | null {
  if (!value?.trim()) return null;
  // Comments such as "(JST)" or "(UTC)" after the zone confuse Date.parse.
  const ms = Date.parse(value.replace(/\([^)]*\)/g, '').trim());
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}
