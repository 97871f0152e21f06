// `campaign quarantine list|show|release`: which addresses are excluded from deliveries, why, and letting one back in.
import type { Command } from 'commander';
import type { QuarantineView } from '../../db/quarantine';
import { normalizeEmail } from '../../shared/recipients';
import { quarantineRules } from '../../shared/rules/quarantine-rules';
import { type CliContext, cliActor, output, UserError } from './context';

function emailArgument(raw: string): string {
  const email = normalizeEmail(raw);
  if (!email) throw new UserError(`"${raw}" is not a valid e-mail address`);
  return email;
}

function summary(v: QuarantineView): string {
  const since =
    v.state === 'quarantined'
      ? `since ${v.quarantinedAt}`
      : v.state === 'released'
        ? `released ${v.releasedAt}`
        : `last failure ${v.lastFailureAt ?? '-'}`;
  return [v.email, v.state, v.reason ?? '-', `${v.errorCount} errors`, since].join('\t');
}

function renderEntry(v: QuarantineView): string {
  const line = (label: string, value: string | number | null) => `  ${label.padEnd(16)}  ${value ?? '-'}`;
  return [
    `${v.email}: ${v.state}${v.reason ? ` (${v.failureType ?? '-'}: ${v.reason})` : ''}`,
    line('errors counted', v.errorCount),
    line('first failure', v.firstFailureAt),
    line('last failure', v.lastFailureAt),
    line('last counted', v.lastCountedAt),
    line('delivery', v.deliveryId),
    line('quarantined at', v.quarantinedAt),
    line('released at', v.releasedAt),
    ...(v.releasesAt ? [line('releases itself', v.releasesAt)] : []),
  ].join('\n');
}

export function registerQuarantineCommands(program: Command, ctx: () => CliContext): void {
  const quarantine = program
    .command('quarantine')
    .description('Addresses excluded from deliveries because they kept failing, and why.');

  quarantine
    .command('list')
    .description('Quarantined addresses, newest first.')
    .option('--all', 'every entry: also released addresses and addresses that only have errors')
    .option('--limit <n>', 'how many to show', '100')
    .option(
      '--json',
      'machine-readable output: an array of {email, state, errorCount, failureType, reason, deliveryId, firstFailureAt, lastFailureAt, lastCountedAt, quarantinedAt, releasedAt, releasesAt}',
    )
    .action(async (opts: { all?: boolean; limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!/^\d+$/.test(opts.limit) || limit < 1 || limit > 100_000)
        throw new UserError(`--limit "${opts.limit}" is not a count from 1 to 100000`);
      const { listQuarantine } = await import('../../db/quarantine');
      const context = ctx();
      const entries = await listQuarantine(
        await context.sql(),
        { limit, all: opts.all },
        Date.now(),
        quarantineRules(context.config),
      );
      output(opts.json, entries, () =>
        entries.length === 0
          ? opts.all
            ? 'no quarantine entries'
            : 'no address is quarantined'
          : entries.map(summary).join('\n'),
      );
    });

  quarantine
    .command('show')
    .description(
      "An address's quarantine entry: state, reason, errors counted, first and last failure, delivery.",
    )
    .argument('<email>', 'the address')
    .option('--json', 'machine-readable output: the entry, as in `quarantine list --json`')
    .action(async (raw: string, opts: { json?: boolean }) => {
      const email = emailArgument(raw);
      const { showQuarantine } = await import('../../db/quarantine');
      const context = ctx();
      const entry = await showQuarantine(
        await context.sql(),
        email,
        Date.now(),
        quarantineRules(context.config),
      );
      if (!entry) throw new UserError(`${email} is not in quarantine`);
      output(opts.json, entry, () => renderEntry(entry));
    });

  quarantine
    .command('release')
    .description('Let a quarantined address receive deliveries again; its error count starts from zero.')
    .argument('<email>', 'the address')
    .option('--json', 'machine-readable output: the entry after release')
    .action(async (raw: string, opts: { json?: boolean }) => {
      const email = emailArgument(raw);
      const { releaseAddress, showQuarantine } = await import('../../db/quarantine');
      const { recordAudit } = await import('../../db/audit');
      const context = ctx();
      const sql = await context.sql();
      const rules = quarantineRules(context.config);
      const now = Date.now();
      const entry = await releaseAddress(sql, email, now, rules);
      // Audited as the console's release is, refusals included: the audit shows every way an address came back.
      const audit = { operator: cliActor(), action: 'release', target: email } as const;
      if (!entry) {
        const current = await showQuarantine(sql, email, now, rules);
        const reason =
          current?.state === 'released'
            ? `${email} is not in quarantine: released already at ${current.releasedAt}`
            : `${email} is not in quarantine`;
        await recordAudit(sql, { ...audit, outcome: 'refused', detail: { reason } });
        throw new UserError(reason);
      }
      await recordAudit(sql, { ...audit, outcome: 'accepted', detail: { was: entry.reason } });
      output(
        opts.json,
        entry,
        () => `${email} released from quarantine (was: ${entry.reason ?? 'no reason'})`,
      );
    });
}
