// Recurrence arithmetic (pure): validating a schedule, its occurrences in a time zone, aggregation periods.
import { CronExpressionParser } from 'cron-parser';
import { formatDuration } from './duration';

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

const CRON_EXAMPLE = '"0 9 * * 1" is Mondays at 09:00';

/**
 * Why a schedule cannot be used, in one sentence; null when it can. `floorMs` is the shortest time allowed
 * between two occurrences (0: none): a schedule that mails more often is a typo until asked for explicitly.
 */
export function recurrenceProblem(r: Recurrence, now: Date, floorMs = 0): string | null {
  const cron = r.cron.trim();
  // cron-parser reads "" as every minute and "* * *" as five fields: both are typos, never a schedule.
  if (cron === '') return `--recurrence is empty; give a cron expression, e.g. ${CRON_EXAMPLE}`;
  const fields = cron.split(/\s+/).length;
  if (!cron.startsWith('@') && (fields < 5 || fields > 6))
    return `--recurrence "${cron}" is not a cron expression: it has ${fields} field${fields === 1 ? '' : 's'}, and a cron expression has five (minute hour day-of-month month day-of-week) or six (seconds first); e.g. ${CRON_EXAMPLE}`;
  if (!isTimeZone(r.timezone))
    return `--timezone "${r.timezone}" is not a time zone; give an IANA name such as Europe/Paris or UTC`;
  try {
    CronExpressionParser.parse(cron, { tz: r.timezone });
  } catch (error) {
    return `--recurrence "${cron}" is not a cron expression (${(error as Error).message}); e.g. ${CRON_EXAMPLE}`;
  }
  if (r.until && r.until <= now)
    return `--until ${r.until.toISOString()} is in the past; nothing would ever run`;
  if (!nextOccurrence(r, now)) return `--recurrence "${cron}" has no occurrence before --until`;
  const shortest = shortestInterval(r, now);
  if (floorMs > 0 && shortest !== null && shortest < floorMs)
    return `--recurrence "${cron}" runs every ${formatDuration(shortest)}, more often than once every ${formatDuration(floorMs)} (RECURRENCE_MIN_INTERVAL); give --allow-frequent if that is meant`;
  return null;
}

/**
 * The shortest time between two of the next `samples` occurrences after `after`; null with fewer than two.
 * A cron's closest occurrences are neighbours in its finest field, so they show up among the first few.
 */
export function shortestInterval(r: Recurrence, after: Date, samples = 60): number | null {
  const it = CronExpressionParser.parse(r.cron.trim(), { currentDate: after, tz: r.timezone });
  let previous: number | null = null;
  let shortest: number | null = null;
  for (let i = 0; i < samples && it.hasNext(); i++) {
    const at = it.next().getTime();
    if (r.until && at > r.until.getTime()) break;
    if (previous !== null && (shortest === null || at - previous < shortest)) shortest = at - previous;
    previous = at;
  }
  return shortest;
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
