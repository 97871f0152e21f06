// Quarantine rules of the reference product: what one delivery outcome does to an address's entry. Pure: no I/O, no clock.
//
// - A soft failure counts only if it comes at least `spacingMs` after the previous counted one (one day of
//   retries counts once); at `threshold` counted failures the address is quarantined with the last reason.
// - A hard failure 'user unknown', or a spam complaint ('on denylist'), quarantines at once; other hard
//   failures count like soft ones.
// - 'ignored' answers (out of office, …) never count and change nothing.
// - A delivery resets the counter of an address that is not quarantined.
// - A 'mailbox full' quarantine is released by itself after `mailboxFullReleaseMs`; an operator's release
//   (releasedAt ≥ quarantinedAt) ends any quarantine. After a release, failures count from zero again.

import type { FailureType, OutcomeKind } from './log-values';

/** The settings of the rules (QUARANTINE_* of the configuration). */
export interface QuarantineRules {
  threshold: number;
  spacingMs: number;
  mailboxFullReleaseMs: number;
}

/** One thing that happened to an address: a delivery (resets), an ignored answer (never counts), a soft or hard failure with its reason. */
export interface AddressOutcome {
  email: string;
  deliveryId: string;
  /** when it happened, in ms since the epoch */
  at: number;
  /** A delay is never an address's outcome: the MTA's final word about the attempt will be. */
  kind: Exclude<OutcomeKind, 'delayed'>;
  reason: string | null;
}

/** An address's error history and quarantine state; times in ms since the epoch. */
export interface QuarantineEntry {
  email: string;
  errorCount: number;
  lastCountedAt: number | null;
  firstFailureAt: number | null;
  lastFailureAt: number | null;
  failureType: Exclude<FailureType, 'ignored'> | null;
  reason: string | null;
  deliveryId: string | null;
  quarantinedAt: number | null;
  releasedAt: number | null;
}

/** Hard failures that quarantine at once: the mailbox does not exist, or the recipient complained about us. */
export const IMMEDIATE_QUARANTINE_REASONS: readonly string[] = ['user unknown', 'on denylist'];

/** The reason whose quarantine ends by itself: mailboxes empty out. */
export const MAILBOX_FULL = 'mailbox full';

/** The rules read from the configuration. */
export function quarantineRules(config: {
  QUARANTINE_THRESHOLD: number;
  QUARANTINE_SPACING: number;
  QUARANTINE_MAILBOX_FULL_RELEASE: number;
}): QuarantineRules {
  return {
    threshold: config.QUARANTINE_THRESHOLD,
    spacingMs: config.QUARANTINE_SPACING,
    mailboxFullReleaseMs: config.QUARANTINE_MAILBOX_FULL_RELEASE,
  };
}

/** When an entry's quarantine ended (an operator's release, or a 'mailbox full' delay run out), or null if it has not. */
export function releaseTime(entry: QuarantineEntry, now: number, rules: QuarantineRules): number | null {
  if (entry.quarantinedAt === null) return null;
  if (entry.releasedAt !== null && entry.releasedAt >= entry.quarantinedAt) return entry.releasedAt;
  const automatic = entry.quarantinedAt + rules.mailboxFullReleaseMs;
  return entry.reason === MAILBOX_FULL && now >= automatic ? automatic : null;
}

/** Whether the address is excluded from deliveries at `now`. */
export function isQuarantined(entry: QuarantineEntry, now: number, rules: QuarantineRules): boolean {
  return entry.quarantinedAt !== null && releaseTime(entry, now, rules) === null;
}

/** Whether two entries hold the same values. */
export function sameEntry(a: QuarantineEntry | null, b: QuarantineEntry | null): boolean {
  if (a === null || b === null) return a === b;
  return (Object.keys(a) as (keyof QuarantineEntry)[]).every((key) => a[key] === b[key]);
}

function emptyEntry(email: string): QuarantineEntry {
  return {
    email,
    errorCount: 0,
    lastCountedAt: null,
    firstFailureAt: null,
    lastFailureAt: null,
    failureType: null,
    reason: null,
    deliveryId: null,
    quarantinedAt: null,
    releasedAt: null,
  };
}

/**
 * The entry after one outcome; null when there is nothing to store (no entry and nothing that creates one).
 * An outcome that changes nothing returns an equal entry (`sameEntry`), so callers can skip writing it.
 */
export function applyAddressOutcome(
  entry: QuarantineEntry | null,
  o: AddressOutcome,
  rules: QuarantineRules,
): QuarantineEntry | null {
  if (o.kind === 'ignored') return entry;
  if (o.kind === 'delivered') {
    if (entry === null || isQuarantined(entry, o.at, rules)) return entry;
    if (entry.errorCount === 0 && entry.lastCountedAt === null) return entry;
    // A success older than the last counted failure (feedback comes out of order) does not undo it.
    if (entry.lastCountedAt !== null && o.at < entry.lastCountedAt) return entry;
    return { ...entry, errorCount: 0, lastCountedAt: null };
  }

  let current = entry ?? emptyEntry(o.email);
  const immediate = o.kind === 'hard' && IMMEDIATE_QUARANTINE_REASONS.includes(o.reason ?? '');
  const released = releaseTime(current, o.at, rules);
  if (released !== null) {
    // The old quarantine is over: failures count from zero again.
    current = { ...current, errorCount: 0, lastCountedAt: null, quarantinedAt: null, releasedAt: released };
  }
  const history: QuarantineEntry = {
    ...current,
    firstFailureAt: current.firstFailureAt === null ? o.at : Math.min(current.firstFailureAt, o.at),
    lastFailureAt: current.lastFailureAt === null ? o.at : Math.max(current.lastFailureAt, o.at),
  };
  if (current.quarantinedAt !== null) {
    // In quarantine the reason stays, except that a worse one replaces 'mailbox full': without this, an
    // address found not to exist would come back when the 'mailbox full' delay ran out.
    return immediate && current.reason === MAILBOX_FULL
      ? { ...history, failureType: 'hard', reason: o.reason, deliveryId: o.deliveryId }
      : history;
  }
  // A late event from before a release does not count: the address was released after it.
  if (current.releasedAt !== null && o.at <= current.releasedAt) return history;

  const latest = current.lastFailureAt === null || o.at >= current.lastFailureAt;
  const failure: QuarantineEntry = latest
    ? { ...history, failureType: o.kind, reason: o.reason, deliveryId: o.deliveryId }
    : history;
  const counts =
    immediate || current.lastCountedAt === null || o.at - current.lastCountedAt >= rules.spacingMs;
  if (!counts) return failure;
  const errorCount = current.errorCount + 1;
  const counted = { ...failure, errorCount, lastCountedAt: Math.max(o.at, current.lastCountedAt ?? o.at) };
  if (!immediate && errorCount < rules.threshold) return counted;
  return { ...counted, failureType: o.kind, reason: o.reason, deliveryId: o.deliveryId, quarantinedAt: o.at };
}
