// The demo's feedback simulator, pure part: what becomes of each recipient, decided by a seeded hash.
// Decisions depend only on (seed, delivery, recipient), never on arrival order, so two runs tell one story.

/** How often each outcome happens, as fractions of the messages (open and click of the delivered ones). */
export interface Rates {
  /** hard bounce, 550 5.1.1 user unknown */
  hard: number;
  /** soft bounce on the first attempt, delivered on the retry */
  softRecover: number;
  /** soft bounce on every attempt, until the validity period ends */
  softNever: number;
  /** a delivered recipient opens the message */
  open: number;
  /** an opener also clicks */
  click: number;
}

export const DEFAULT_RATES: Rates = { hard: 0.03, softRecover: 0.04, softNever: 0.02, open: 0.3, click: 0.3 };

export type Fate = 'delivered' | 'hard' | 'soft-recover' | 'soft-never';
export type Engagement = 'none' | 'open' | 'click';

/** A uniform number in [0, 1) from the seed and a key: FNV-1a then a murmur3 finalizer, so near keys spread. */
export function uniform(seed: number, key: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

export function fateOf(seed: number, rates: Rates, deliveryId: string, seq: number): Fate {
  const u = uniform(seed, `fate:${deliveryId}:${seq}`);
  if (u < rates.hard) return 'hard';
  if (u < rates.hard + rates.softRecover) return 'soft-recover';
  if (u < rates.hard + rates.softRecover + rates.softNever) return 'soft-never';
  return 'delivered';
}

export function engagementOf(seed: number, rates: Rates, deliveryId: string, seq: number): Engagement {
  if (uniform(seed, `open:${deliveryId}:${seq}`) >= rates.open) return 'none';
  return uniform(seed, `click:${deliveryId}:${seq}`) < rates.click ? 'click' : 'open';
}

/** The MTA's answer to one attempt: what the feedback event says. */
export interface Answer {
  type: 'delivered' | 'hard_bounce' | 'soft_bounce';
  smtpCode?: number;
  enhancedStatus?: string;
  diagnostic?: string;
}

export function answerFor(fate: Fate, attempt: number): Answer {
  switch (fate) {
    case 'delivered':
      return { type: 'delivered', smtpCode: 250, enhancedStatus: '2.0.0' };
    case 'hard':
      return { type: 'hard_bounce', smtpCode: 550, enhancedStatus: '5.1.1', diagnostic: 'user unknown' };
    case 'soft-recover':
      return attempt > 1
        ? { type: 'delivered', smtpCode: 250, enhancedStatus: '2.0.0' }
        : { type: 'soft_bounce', smtpCode: 452, enhancedStatus: '4.2.2', diagnostic: 'mailbox full' };
    case 'soft-never':
      return {
        type: 'soft_bounce',
        smtpCode: 451,
        enhancedStatus: '4.4.1',
        diagnostic: 'no answer from host',
      };
  }
}

/** A delay in [min, max) ms, drawn for one event so that feedback arrives spread out and out of order. */
export function delayFor(seed: number, key: string, [min, max]: readonly [number, number]): number {
  return Math.round(min + uniform(seed, `delay:${key}`) * (max - min));
}
