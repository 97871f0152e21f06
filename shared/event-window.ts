// The dates this system accepts on an event: a static window for the schemas, and a bound past the clock.

/**
 * Events dated before the Unix epoch are refused: providers date events in Unix time, so an earlier date is
 * no real event, and PostgreSQL refuses some dates JavaScript reads (year 0000). Paired with EVENT_LATEST, it
 * keeps numbers that make no date out. (Old samples, such as RFC 3464's 1996 DSN, still pass.)
 */
export const EVENT_EARLIEST = Date.UTC(1970, 0, 1);
/** A static upper bound, checked by the schema; the real one is EVENT_MAX_AHEAD_MS past the clock. */
export const EVENT_LATEST = Date.UTC(2100, 0, 1);
/**
 * How far ahead of this system's clock an event may be dated: an event from the future would win over every
 * real event after it (the latest outcome wins). An hour covers any honest clock skew, as SNS validators allow.
 */
export const EVENT_MAX_AHEAD_MS = 3600_000;

/** Whether an ISO date-time is within the static window (the schemas' check). */
export function inEventWindow(iso: string): boolean {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) && ms >= EVENT_EARLIEST && ms < EVENT_LATEST;
}
