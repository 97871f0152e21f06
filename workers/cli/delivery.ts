// `campaign delivery create` and `campaign confirm`: registering a delivery and asking to send it.
import type { Command } from 'commander';
import { count } from '../../shared/plural';
import { readRecipientBatches } from '../../shared/recipients';
import { placeholderProblem, placeholders } from '../../shared/rules/template';
import {
  assertRecipientsFile,
  deliveryIdArgument,
  durationOption,
  parseContactDate,
  parseSchedule,
  type RecurringOptions,
} from './arguments';
import { type CliContext, output, UserError } from './context';
import { registerRecurringCommands } from './recurring';
import { byReason } from './render';
import { waitForDelivery } from './wait';

interface CreateOptions extends RecurringOptions {
  label: string;
  recipients: string;
  efs?: boolean;
  validity: string;
  retryInterval: string;
  contactDate?: string;
  subject?: string;
  text?: string;
  html?: string;
  from: string;
  returnPathDomain?: string;
  json?: boolean;
}

export function registerDeliveryCommands(program: Command, ctx: () => CliContext): void {
  const delivery = program.command('delivery').description('Register and prepare deliveries.');
  delivery
    .command('create')
    .description('Register a delivery and import its recipients (CSV with a header, or JSON lines).')
    .requiredOption('--label <label>', 'a name operators recognise')
    .requiredOption('--recipients <file>', 'CSV with an "email" column, or .jsonl with an "email" key')
    .option('--efs', 'the Email Feedback Service is on: statuses wait for the MTA to confirm delivery')
    .option(
      '--validity <duration>',
      'how long after the contact date retries may go on (45s, 10m, 1h, 3d)',
      '3d',
    )
    .option('--retry-interval <duration>', 'time between attempts after a soft bounce', '1h')
    .option('--contact-date <iso>', 'when sending starts (ISO 8601); default: at confirmation')
    .option('--subject <text>', 'subject; {{column}} personalizes it; default: the --label')
    .option(
      '--text <text>',
      'plain-text body; {{column}} personalizes it; with neither --text nor --html the message has an empty body',
    )
    .option('--html <html>', 'HTML body; {{column}} personalizes it; default: none (plain text only)')
    .option('--from <address>', 'sender address', 'campaign@localhost')
    .option('--recurrence <cron>', 'make it recurring: a cron expression, e.g. "0 9 * * 1" (Mondays 09:00)')
    .option('--timezone <zone>', 'the time zone of --recurrence (IANA name); default UTC')
    .option('--until <iso>', 'no occurrence after this date')
    .option('--aggregate <period>', 'none (each execution its own delivery), day, week or month')
    .option('--confirm-each', 'each execution waits for a confirm (needs --aggregate none)')
    .option(
      '--allow-frequent',
      'accept a --recurrence more frequent than RECURRENCE_MIN_INTERVAL (set it, e.g. 1h, to guard against a schedule that mails too often)',
    )
    .option(
      '--return-path-domain <domain>',
      'envelope sender becomes bounces+<message id>@DOMAIN (VERP), so bounce mail names its message',
    )
    .option('--json', 'machine-readable output: {"id": "…", …}')
    .action(async (opts: CreateOptions) => {
      const label = opts.label.trim();
      if (label === '') throw new UserError('--label is empty; give the delivery a name');
      const validitySeconds = durationOption('--validity', opts.validity);
      const retryIntervalSeconds = durationOption('--retry-interval', opts.retryInterval);
      const schedule = parseSchedule(opts, new Date(), ctx().config.RECURRENCE_MIN_INTERVAL);
      const contactDate = opts.contactDate !== undefined ? parseContactDate(opts.contactDate) : null;
      if (!/^[^\s@<>"]+@[^\s@<>"]+$/.test(opts.from)) {
        throw new UserError(`--from "${opts.from}" is not an address; e.g. news@example.com`);
      }
      const returnPathDomain = opts.returnPathDomain?.trim().toLowerCase() ?? null;
      if (
        returnPathDomain !== null &&
        !/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(returnPathDomain)
      ) {
        throw new UserError(
          `--return-path-domain "${opts.returnPathDomain}" is not a domain; e.g. bounces.example.com`,
        );
      }
      await assertRecipientsFile('--recipients', opts.recipients);
      const subject = opts.subject ?? label;
      const columns = placeholders(subject, opts.text, opts.html).filter((c) => c !== 'email');
      const badPlaceholder = columns.map(placeholderProblem).find((p) => p !== null);
      if (badPlaceholder) throw new UserError(badPlaceholder);
      const sql = await ctx().sql();
      const { createDeliveryWithTargets, ImportRefused } = await import('../../db/import');
      const { createSchedule } = await import('../../db/recurrence');
      const showProgress = process.stderr.isTTY && !opts.json;
      try {
        const result = await createDeliveryWithTargets(
          sql,
          {
            label,
            efs: opts.efs === true,
            validitySeconds,
            retryIntervalSeconds,
            contactDate,
            sender: opts.from,
            returnPathDomain,
            subject,
            textBody: opts.text ?? null,
            htmlBody: opts.html ?? null,
            columns,
          },
          readRecipientBatches(opts.recipients, columns),
          {
            now: Date.now(),
            quarantine: { mailboxFullReleaseMs: ctx().config.QUARANTINE_MAILBOX_FULL_RELEASE },
            onProgress: showProgress
              ? (n) => process.stderr.write(`\rimporting… ${n.toLocaleString('en')} rows`)
              : undefined,
            recurring: schedule ? (tx, id) => createSchedule(tx, id, schedule, new Date()) : undefined,
          },
        );
        if (showProgress) process.stderr.write('\n');
        output(opts.json, { ...result, recurring: schedule !== null }, () =>
          [
            schedule
              ? `recurring delivery ${result.id} created: ${count(result.toSend, 'recipient')}, "${schedule.cron}" (${schedule.timezone})`
              : `delivery ${result.id} prepared: ${result.toSend} to send`,
            `  (${count(result.rows, 'row')} read, ${count(result.duplicates, 'duplicate')} removed, ${result.quarantined} quarantined excluded${byReason(result.excludedByReason)})`,
          ].join('\n'),
        );
      } catch (error) {
        if (error instanceof ImportRefused)
          throw new UserError(`--recipients ${opts.recipients}: ${error.message}`);
        throw error;
      }
    });

  registerRecurringCommands(delivery, ctx);

  delivery
    .command('stop')
    .description(
      'Stop a delivery: its batches stop between two messages, no retry follows; waiting retries end failed. A recurring delivery is paused instead (delivery pause).',
    )
    .argument('<id>', 'delivery id')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      deliveryIdArgument(id);
      const sql = await ctx().sql();
      const { stopDelivery } = await import('../../db/deliveries');
      const result = await stopDelivery(sql, id);
      if (!result.stopped) {
        throw new UserError(
          result.state === 'recurring'
            ? `delivery ${id} is a recurring delivery, which sends nothing itself: pause its schedule with campaign delivery pause ${id}, or stop one of its executions (campaign status ${id} lists them)`
            : result.state
              ? `delivery ${id} is ${result.state}; only a delivery not yet finished can be stopped`
              : `delivery ${id} not found`,
        );
      }
      output(opts.json, { id, state: 'stopped' }, () => `delivery ${id} stopped`);
    });

  program
    .command('confirm')
    .description(
      'Confirm a prepared delivery: check what the worker would refuse, then enqueue the job upstream services enqueue.',
    )
    .argument('<id>', 'delivery id')
    .requiredOption('--as <login>', 'the operator confirming; needs the role start-deliveries')
    .option('--wait', 'wait, with a progress bar, until every message is handed to the MTA')
    .option('--timeout <duration>', 'give up waiting after this long', '1h')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { as: string; wait?: boolean; timeout: string; json?: boolean }) => {
      if (!/^\d+$/.test(id)) throw new UserError(`delivery id "${id}" is not valid; it is a number, e.g. 42`);
      const timeoutMs = durationOption('--timeout', opts.timeout) * 1000;
      const { enqueueConfirm } = await import('./enqueue');
      const context = ctx();
      // What the worker would refuse is refused here, with its sentence, instead of a "queued" that means no.
      const { confirmRefusal, recordConfirmAttempt } = await import('../../db/confirm');
      const sql = await context.sql();
      const reason = await confirmRefusal(sql, id, opts.as, new Date());
      if (reason) {
        await recordConfirmAttempt(sql, {
          deliveryId: id,
          operator: opts.as,
          outcome: 'refused',
          reason,
          jobId: null,
        });
        throw new UserError(`confirm refused: ${reason}`);
      }
      const jobId = await enqueueConfirm(context, { deliveryId: id, operator: opts.as });
      if (!opts.wait) {
        output(
          opts.json,
          { jobId, deliveryId: id, operator: opts.as },
          () => `confirm of delivery ${id} queued (job ${jobId})`,
        );
        return;
      }
      const status = await waitForDelivery(context, id, jobId, {
        timeoutMs,
        bar: !opts.json && process.stderr.isTTY,
      });
      output(
        opts.json,
        { jobId, ...status },
        () => `delivery ${id} is ${status.state}: ${status.sent} of ${status.toSend} handed to the MTA`,
      );
    });
}
