// Recurring deliveries on the command line: create's schedule options, audience replacement, pause/resume.
import type { Command } from 'commander';
import type { ScheduleInput } from '../../db/recurrence';
import type { RecurringStatus } from '../../db/recurring-status';
import { readRecipients } from '../../shared/recipients';
import { AGGREGATION_PERIODS, type AggregationPeriod, recurrenceProblem } from '../../shared/recurrence';
import { type CliContext, output, UserError } from './context';
import { deliveryIdArgument } from './views';

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

export function registerRecurringCommands(delivery: Command, ctx: () => CliContext): void {
  delivery
    .command('recipients')
    .description("Replace a recurring delivery's audience for its next executions (same checks as create).")
    .argument('<id>', 'recurring delivery id')
    .requiredOption('--replace <file>', 'CSV with an "email" column, or .jsonl with an "email" key')
    .option('--json', 'machine-readable output')
    .action(async (rawId: string, opts: { replace: string; json?: boolean }) => {
      const id = deliveryIdArgument(rawId);
      const { assertRecipientsFile } = await import('./delivery');
      await assertRecipientsFile('--replace', opts.replace);
      const sql = await ctx().sql();
      const [template] = await sql`select state, columns from deliveries where id = ${id}`;
      if (!template) throw new UserError(`delivery ${id} not found`);
      const { replaceTargets, ImportRefused, ImportRefusedState } = await import('../../db/import');
      try {
        const result = await replaceTargets(
          sql,
          id,
          readRecipients(opts.replace, template.columns as string[]),
          {
            now: Date.now(),
            quarantine: { mailboxFullReleaseMs: ctx().config.QUARANTINE_MAILBOX_FULL_RELEASE },
          },
        );
        output(
          opts.json,
          result,
          () =>
            `delivery ${id}: audience replaced, ${result.toSend} recipients for the next executions (${result.rows} rows read, ${result.duplicates} duplicates removed)`,
        );
      } catch (error) {
        if (error instanceof ImportRefused)
          throw new UserError(`--replace ${opts.replace}: ${error.message}`);
        if (error instanceof ImportRefusedState) throw new UserError(error.message);
        throw error;
      }
    });

  for (const [name, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    delivery
      .command(name)
      .description(
        paused
          ? 'Pause a recurring delivery: no occurrence is produced until it is resumed.'
          : 'Resume a recurring delivery from its next occurrence (those that fell while paused are not produced).',
      )
      .argument('<id>', 'recurring delivery id')
      .option('--json', 'machine-readable output')
      .action(async (rawId: string, opts: { json?: boolean }) => {
        const id = deliveryIdArgument(rawId);
        const { setPaused } = await import('../../db/recurrence');
        const result = await setPaused(await ctx().sql(), id, paused, new Date());
        if ('refused' in result) throw new UserError(result.refused);
        const next = result.nextOccurrenceAt?.toISOString() ?? null;
        output(opts.json, { id, paused, nextOccurrenceAt: next }, () =>
          paused
            ? `delivery ${id} paused`
            : `delivery ${id} resumed; next occurrence ${next ?? 'none (the schedule has ended)'}`,
        );
      });
  }
}

/** The recurring status as lines of text. */
export function renderRecurring(s: RecurringStatus): string {
  const r = s.recurrence;
  const lines = [
    `delivery ${s.id} "${s.label}"  recurring${r.paused ? ' (paused)' : ''}  (EFS ${s.efs ? 'on' : 'off'})`,
    `  recurrence        "${r.cron}" ${r.timezone}${r.until ? ` until ${r.until}` : ''}, aggregate ${r.aggregate}${r.confirmEach ? ', confirm each' : ''}`,
    `  recipients        ${s.recipients}`,
    `  next occurrence   ${s.nextOccurrence ?? (r.paused ? 'none while paused' : 'none (the schedule has ended)')}`,
    `  executions        ${s.executions.length}`,
  ];
  for (const e of s.executions) {
    lines.push(
      `    ${(e.id ?? '-').padEnd(8)} ${e.occurrenceAt}  ${e.state.padEnd(9)} sent ${String(e.sent).padEnd(7)} delivered ${(e.deliveredRate * 100).toFixed(2)} %${
        e.periodDeliveryId ? `  (in delivery ${e.periodDeliveryId})` : ''
      }${e.reason ? `  ${e.reason}` : ''}`,
    );
  }
  return lines.join('\n');
}
