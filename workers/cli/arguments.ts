// Reading the command line's arguments and options: each refusal names the flag and what is accepted.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import type { ScheduleInput } from '../../db/recurrence';
import { parseDuration } from '../../shared/rules/duration';
import {
  AGGREGATION_PERIODS,
  type AggregationPeriod,
  recurrenceProblem,
} from '../../shared/rules/recurrence';
import { UserError } from './context';

export function deliveryIdArgument(id: string): string {
  if (!/^\d+$/.test(id)) throw new UserError(`delivery id "${id}" is not valid; it is a number, e.g. 42`);
  return id;
}

/** Durations longer than a year are refused: they are typos, and they overflow the seconds column. */
const MAX_DURATION_SECONDS = 366 * 86_400;

export function durationOption(name: string, value: string): number {
  let seconds: number;
  try {
    seconds = Math.round(parseDuration(value) / 1000);
  } catch (error) {
    throw new UserError(`${name}: ${(error as Error).message}`);
  }
  if (seconds > MAX_DURATION_SECONDS)
    throw new UserError(`${name} "${value}" is longer than a year; give at most 366d`);
  return seconds;
}

/** Parses an ISO 8601 date-time, refusing dates that do not exist (2030-02-30) instead of rolling them over. */
export function parseContactDate(text: string, flag = '--contact-date'): Date {
  const match =
    /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(
      text,
    );
  const date = new Date(text);
  const [, y, m, d] = match ?? [];
  const calendar = match ? new Date(Date.UTC(Number(y), Number(m) - 1, Number(d))) : null;
  if (
    !match ||
    Number.isNaN(date.getTime()) ||
    calendar?.getUTCDate() !== Number(d) ||
    calendar?.getUTCMonth() !== Number(m) - 1
  ) {
    throw new UserError(`${flag} "${text}" is not an ISO 8601 date; e.g. 2026-12-01T09:00:00Z`);
  }
  return date;
}

/** Refuses a recipients file that cannot be read, before anything is written. */
export async function assertRecipientsFile(flag: string, file: string): Promise<void> {
  const readable = await access(file, constants.R_OK)
    .then(() => stat(file))
    .then(
      (s) => s.isFile(),
      () => false,
    );
  if (!readable)
    throw new UserError(`${flag}: cannot read "${file}"; give the path of a CSV or JSON lines file`);
}

/** The schedule options of `delivery create`. */
export interface RecurringOptions {
  recurrence?: string;
  timezone?: string;
  until?: string;
  aggregate?: string;
  confirmEach?: boolean;
  allowFrequent?: boolean;
  contactDate?: string;
}

/**
 * Reads and checks the schedule options; null for a one-off delivery. `floorMs`: the shortest interval
 * between occurrences accepted without --allow-frequent (RECURRENCE_MIN_INTERVAL).
 */
export function parseSchedule(opts: RecurringOptions, now: Date, floorMs: number): ScheduleInput | null {
  if (opts.recurrence === undefined) {
    const stray = (['timezone', 'until', 'aggregate', 'confirmEach', 'allowFrequent'] as const).find(
      (k) => opts[k] !== undefined,
    );
    if (stray) {
      const flag = `--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      throw new UserError(
        `${flag} is an option of recurring deliveries; give --recurrence too, e.g. --recurrence "0 9 * * 1"`,
      );
    }
    return null;
  }
  if (opts.contactDate !== undefined)
    throw new UserError(
      '--contact-date does not apply to a recurring delivery: each occurrence is its contact date',
    );
  const aggregate = (opts.aggregate ?? 'none') as AggregationPeriod;
  if (!AGGREGATION_PERIODS.includes(aggregate))
    throw new UserError(
      `--aggregate "${opts.aggregate}" is not accepted; expected one of ${AGGREGATION_PERIODS.join(', ')}`,
    );
  if (opts.confirmEach && aggregate !== 'none')
    throw new UserError(
      `--confirm-each needs --aggregate none: confirmation before each send is only possible when each execution is a delivery of its own, not added to the delivery of a ${aggregate}`,
    );
  let until: Date | null = null;
  if (opts.until !== undefined) {
    until = new Date(opts.until);
    if (!/^\d{4}-\d{2}-\d{2}/.test(opts.until) || Number.isNaN(until.getTime()))
      throw new UserError(`--until "${opts.until}" is not an ISO 8601 date; e.g. 2027-06-30T00:00:00Z`);
  }
  const schedule = {
    cron: opts.recurrence.trim(),
    timezone: opts.timezone ?? 'UTC',
    until,
    aggregate,
    confirmEach: opts.confirmEach === true,
  };
  const problem = recurrenceProblem(schedule, now, opts.allowFrequent ? 0 : floorMs);
  if (problem) throw new UserError(problem);
  return schedule;
}
