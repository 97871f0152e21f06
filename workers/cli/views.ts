// `campaign status`, `logs` and `profile` (with `profile erase`): what an operator reads.
import type { Command } from 'commander';
import { count } from '../../shared/plural';
import { normalizeEmail } from '../../shared/recipients';
import { deliveryIdArgument } from './arguments';
import { type CliContext, output, UserError } from './context';
import { registerEraseCommand } from './erase';
import { renderRecurring, renderTile } from './render';

const LOG_COLUMNS = ['email', 'status', 'failure type', 'failure reason', 'attempts', 'message id'];

export function registerViewCommands(program: Command, ctx: () => CliContext): void {
  program
    .command('status')
    .description("A delivery's state, progress and KPI tile.")
    .argument('<id>', 'delivery id')
    .option('--json', 'machine-readable output')
    .action(async (rawId: string, opts: { json?: boolean }) => {
      const id = deliveryIdArgument(rawId);
      const { deliveryStatus } = await import('../../db/delivery-status');
      const { recurringStatus } = await import('../../db/recurring-status');
      const sql = await ctx().sql();
      const recurring = await recurringStatus(sql, id);
      if (recurring) return output(opts.json, recurring, () => renderRecurring(recurring));
      const status = await deliveryStatus(sql, id);
      if (!status) throw new UserError(`delivery ${id} not found`);
      output(opts.json, status, () => renderTile(status));
    });

  program
    .command('logs')
    .description('One line per recipient: address, status, failure type and reason, attempts, message id.')
    .argument('<id>', 'delivery id')
    .option(
      '--json',
      'machine-readable output: an array of {email, status, failureType, failureReason, attempts, messageId}',
    )
    .action(async (rawId: string, opts: { json?: boolean }) => {
      const id = deliveryIdArgument(rawId);
      const { deliveryExists } = await import('../../db/deliveries');
      const { deliveryLogs } = await import('../../db/delivery-logs');
      const sql = await ctx().sql();
      if (!(await deliveryExists(sql, id))) throw new UserError(`delivery ${id} not found`);
      // Written as it is read, so that a million lines stream instead of piling up in memory.
      let first = true;
      if (opts.json) process.stdout.write('[');
      // A person at a terminal gets the column names; a pipe gets exactly one line per recipient.
      const header = !opts.json && process.stdout.isTTY ? `${LOG_COLUMNS.join('\t')}\n` : '';
      for await (const line of deliveryLogs(sql, id)) {
        if (first && header) process.stdout.write(header);
        const text = opts.json
          ? `${first ? '' : ','}\n${JSON.stringify(line)}`
          : `${[
              line.email,
              line.status,
              line.failureType ?? '-',
              line.failureReason ?? '-',
              line.attempts,
              line.messageId,
            ].join('\t')}\n`;
        first = false;
        if (!process.stdout.write(text))
          await new Promise((resolve) => process.stdout.once('drain', resolve));
      }
      if (opts.json) process.stdout.write(first ? ']\n' : '\n]\n');
    });

  const profile = program.command('profile');
  registerEraseCommand(profile, ctx);
  profile
    .description("A recipient's history: which deliveries reached it, with what outcome.")
    .argument('<email>', 'the recipient address')
    .option('--json', 'machine-readable output')
    .action(async (rawEmail: string, opts: { json?: boolean }) => {
      const email = normalizeEmail(rawEmail);
      if (!email) throw new UserError(`"${rawEmail}" is not a valid e-mail address`);
      const { recipientProfile } = await import('../../db/recipient-profile');
      const context = ctx();
      const profile = await recipientProfile(await context.sql(), email, Date.now(), {
        mailboxFullReleaseMs: context.config.QUARANTINE_MAILBOX_FULL_RELEASE,
      });
      output(opts.json, profile, () => {
        const q = profile.quarantine;
        const head = `${email}: ${count(profile.deliveries.length, 'delivery', 'deliveries')}; ${
          q
            ? q.quarantined
              ? `quarantined (${q.reason})`
              : `${count(q.errorCount, 'error')}, not quarantined`
            : 'no errors'
        }`;
        const lines = profile.deliveries.map(
          (d) =>
            `  ${d.deliveryId}\t${d.label}\t${d.status}${d.failureType ? ` (${d.failureType}: ${d.failureReason})` : ''}\tattempts ${d.attempts}\t${d.handedOffAt}`,
        );
        return [head, ...lines].join('\n');
      });
    });
}
