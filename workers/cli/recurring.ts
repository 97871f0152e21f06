// Recurring deliveries on the command line: audience replacement, pause and resume.
import type { Command } from 'commander';
import { count } from '../../shared/plural';
import { readRecipientBatches } from '../../shared/recipients';
import { assertRecipientsFile, deliveryIdArgument } from './arguments';
import { type CliContext, output, UserError } from './context';

export function registerRecurringCommands(delivery: Command, ctx: () => CliContext): void {
  delivery
    .command('recipients')
    .description("Replace a recurring delivery's audience for its next executions (same checks as create).")
    .argument('<id>', 'recurring delivery id')
    .requiredOption('--replace <file>', 'CSV with an "email" column, or .jsonl with an "email" key')
    .option('--json', 'machine-readable output')
    .action(async (rawId: string, opts: { replace: string; json?: boolean }) => {
      const id = deliveryIdArgument(rawId);
      await assertRecipientsFile('--replace', opts.replace);
      const sql = await ctx().sql();
      const { deliveryColumns } = await import('../../db/deliveries');
      const columns = await deliveryColumns(sql, id);
      if (!columns) throw new UserError(`delivery ${id} not found`);
      const { replaceTargets, ImportRefused, ImportRefusedState } = await import('../../db/import');
      const showProgress = process.stderr.isTTY && !opts.json;
      try {
        // The reader `delivery create` uses: the file a stretch at a time into COPY, no object a row.
        const result = await replaceTargets(sql, id, readRecipientBatches(opts.replace, columns), {
          now: Date.now(),
          quarantine: { mailboxFullReleaseMs: ctx().config.QUARANTINE_MAILBOX_FULL_RELEASE },
          onProgress: showProgress
            ? (n) => process.stderr.write(`\rimporting… ${n.toLocaleString('en')} rows`)
            : undefined,
        });
        if (showProgress) process.stderr.write('\n');
        output(
          opts.json,
          result,
          () =>
            `delivery ${id}: audience replaced, ${count(result.toSend, 'recipient')} for the next executions (${count(result.rows, 'row')} read, ${count(result.duplicates, 'duplicate')} removed)`,
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
