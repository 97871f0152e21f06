// What every provider translator returns: events in the contract's shapes, ready for mta-feedback and tracking-events.
import type { z } from 'zod';
import type { feedbackEvent, trackingEvent } from '../../../shared/queues';

/** One event in the `mta-feedback` shape of docs/CONTRACT.md: the queue schema's input type. */
export type ContractEvent = z.input<typeof feedbackEvent>;

/** One event in the `tracking-events` shape of docs/CONTRACT.md: the queue schema's input type. */
export type TrackingEvent = z.input<typeof trackingEvent>;

/** A provider request, translated. `ignored` counts events that need nothing from us (injections, delays, …). */
export interface Translation {
  feedback: ContractEvent[];
  tracking: TrackingEvent[];
  ignored: number;
}

/** A body we cannot read: answered 400 with this message and kept as a dead letter. */
export class BadPayload extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadPayload';
  }
}

export const emptyTranslation = (): Translation => ({ feedback: [], tracking: [], ignored: 0 });

/** The header (or metadata key) the dispatch sets so that feedback names our message id. */
export const MESSAGE_ID_HEADER = 'X-Campaign-Message-Id';
/** The metadata key the dispatch puts in SparkPost's X-MSYS-API header; SparkPost echoes it in `rcpt_meta`. */
export const MESSAGE_ID_METADATA = 'campaign_message_id';

/** A time given as Unix seconds (number or digits) or as an ISO string, as ISO 8601; null when unreadable. */
export function isoTime(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) return new Date(value * 1000).toISOString();
  if (typeof value !== 'string' || value.trim() === '') return null;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return new Date(Number(value) * 1000).toISOString();
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/** The SMTP reply code when it is one (200-599), else undefined: a bad code must not spoil the event. */
export function smtpCode(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= 200 && n <= 599 ? n : undefined;
}

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3}$/;

/** An RFC 3463 status when the text is one, else undefined. */
export function enhancedStatus(value: unknown): string | undefined {
  return typeof value === 'string' && ENHANCED.test(value.trim()) ? value.trim() : undefined;
}

/** Drops the optional fields that are undefined, so that the payload stays the contract's shape. */
export function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== '')) as T;
}

/** A plain object, or null. */
export function record(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

/** A string field, or undefined. */
export function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Reads a header's value case-insensitively out of a name → value map. */
export function headerOf(headers: unknown, name: string): string | undefined {
  const map = record(headers);
  if (!map) return undefined;
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(map)) {
    if (k.toLowerCase() === wanted) return text(Array.isArray(v) ? v[0] : v)?.trim();
  }
  return undefined;
}
