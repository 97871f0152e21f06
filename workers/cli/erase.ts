// `campaign profile erase EMAIL`: the GDPR art. 17 erasure of one address, and what it changed.
import type { Command } from 'commander';
import type { ErasureCounts } from '../../db/erasure';
import { normalizeEmail } from '../../shared/recipients';
import { type CliContext, output, UserError } from './context';

const TABLES: Record<keyof ErasureCounts, string> = {
  deliveryTargets: 'delivery_targets',
  deliveryLogs: 'delivery_logs',
  feedbackEvents: 'feedback_events',
  trackingEvents: 'tracking_events',
  deadLetters: 'dead_letters',
  quarantine: 'quarantine',
};

export function registerEraseCommand(profile: Command, ctx: () => CliContext): void {
  profile
    .command('erase')
    .description(
      'Erase an address (GDPR art. 17): pseudonymize it wherever the database stores it, KPIs unchanged.',
    )
    .argument('<email>', 'the recipient address')
    .option('--json', 'machine-readable output')
    .action(async (rawEmail: string, opts: { json?: boolean }) => {
      const email = normalizeEmail(rawEmail);
      if (!email) throw new UserError(`"${rawEmail}" is not a valid e-mail address`);
      const { eraseAddress } = await import('../../db/erasure');
      const result = await eraseAddress(await ctx().sql(), email);
      // Nothing stored is the state an erasure asks for: exit 0 either way, so a list can be replayed.
      output(opts.json, result, () => {
        if (!result.found) return `${email}: nothing stored for this address; nothing changed`;
        const lines = (Object.keys(TABLES) as (keyof ErasureCounts)[]).map(
          (k) => `  ${TABLES[k]}\t${result.changed[k]}`,
        );
        return [`${email}: erased; stored as ${result.pseudonym} from now on`, ...lines].join('\n');
      });
    });
}
