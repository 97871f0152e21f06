// Recurrence arithmetic (pure): validating a schedule, its occurrences in a time zone, aggregation periods.
import { CronExpressionParser } from 'cron-parser';

/** A recurring delivery's schedule, as the operator gave it. */
export interface Recurrence {
  cron: string;
  timezone: string;
  until: Date | null;
}

export const AGGREGATION_PERIODS = ['none', 'day', 'week', 'month'] as const;
export type AggregationPeriod = (typeof AGGREGATION_PERIODS)[number];

/** Whether the runtime knows the IANA time zone. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Why a schedule cannot be used, in one sentence; null when it can. */
export function recurrenceProblem(r: Recurrence, now: Date): string | null {
  if (!isTimeZone(r.timezone))
    return `--timezone "${r.timezone}" is not a time zone; give an IANA name such as Europe/Paris or UTC`;
  try {
    CronExpressionParser.parse(r.cron, { tz: r.timezone });
  } catch (error) {
    return `--recurrence "${r.cron}" is not a cron expression (${(error as Error).message}); e.g. "0 9 * * 1" is Mondays at 09:00`;
  }
  if (r.until && r.until <= now)
    return `--until ${r.until.toISOString()} is in the past; nothing would ever run`;
  if (!nextOccurrence(r, now)) return `--recurrence "${r.cron}" has no occurrence before --until`;
  return null;
}

/**
 * The occurrences after `after` (exclusive) up to `to` (inclusive), at most `limit`. Daylight-saving
 * changes neither skip nor double a run: a local time that does not exist that day runs at the shifted
 * time, and a local time that happens twice runs once (cron-parser's rules, pinned by the tests).
 */
export function occurrencesBetween(r: Recurrence, after: Date, to: Date, limit = 1000): Date[] {
  const end = r.until && r.until < to ? r.until : to;
  if (end <= after) return [];
  const it = CronExpressionParser.parse(r.cron, { currentDate: after, tz: r.timezone });
  const found: Date[] = [];
  while (found.length < limit) {
    const next = it.next().toDate();
    if (next > end) break;
    if (next > after) found.push(next);
  }
  return found;
}

/** The first occurrence after `after`, or null when the schedule has ended. */
export function nextOccurrence(r: Recurrence, after: Date): Date | null {
  const it = CronExpressionParser.parse(r.cron, { currentDate: after, tz: r.timezone });
  const next = it.next().toDate();
  return r.until && next > r.until ? null : next;
}

/** The calendar fields of an instant in a time zone. */
function localDate(at: Date, timezone: string): { year: number; month: number; day: number } {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return { year: get('year'), month: get('month'), day: get('day') };
}

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * The aggregation period an occurrence belongs to, named in the schedule's time zone: `2026-11-24`,
 * ISO week `2026-W48`, or `2026-11`. Executions with the same key add to the same delivery.
 */
export function periodKey(at: Date, timezone: string, period: Exclude<AggregationPeriod, 'none'>): string {
  const { year, month, day } = localDate(at, timezone);
  if (period === 'day') return `${year}-${pad(month)}-${pad(day)}`;
  if (period === 'month') return `${year}-${pad(month)}`;
  // ISO 8601 week: the week with the year's first Thursday is week 1; weeks start on Monday.
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = (date.getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  date.setUTCDate(date.getUTCDate() - weekday + 3); // the Thursday of this week
  const weekYear = date.getUTCFullYear();
  const january4 = new Date(Date.UTC(weekYear, 0, 4)); // always in week 1
  const firstThursday = january4.getTime() - (((january4.getUTCDay() + 6) % 7) - 3) * 86_400_000;
  const week = 1 + Math.round((date.getTime() - firstThursday) / (7 * 86_400_000));
  return `${weekYear}-W${pad(week)}`;
}
