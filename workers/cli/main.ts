// The `campaign` command line: operators, deliveries, confirmation and the views of docs/CONTRACT.md.
import { Command, CommanderError } from 'commander';
import { OPERATOR_ROLES } from '../../shared/rules/confirm';
import { registerBounceCommands } from './bounce';
import { CliContext, describeError, output, UserError } from './context';
import { registerDeadLetterCommands } from './dead-letters';
import { registerDeliveryCommands } from './delivery';
import { registerFeedbackCommands } from './feedback';
import { registerPurgeCommand } from './purge';
import { registerQuarantineCommands } from './quarantine';
import { registerStatsCommands } from './stats';
import { registerViewCommands } from './views';

/** Runs one command line; returns the exit code. Tests call it with their own argv and environment. */
export async function runCli(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  let context: CliContext | undefined;
  const ctx = () => {
    context ??= new CliContext(env);
    return context;
  };
  const program = new Command('campaign')
    .description('Confirm, dispatch and follow email deliveries.')
    .showHelpAfterError('(run with --help for usage)')
    // Options after a subcommand belong to it: `dead-letters replay 7 --json` is the replay's --json.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  const operator = program
    .command('operator')
    .description('Manage the operators who may confirm deliveries.');
  operator
    .command('add')
    .description('Create an operator (or add roles to an existing one).')
    .argument('<login>', 'the operator login')
    .option(
      '--role <role...>',
      `roles to grant, one or more of: ${OPERATOR_ROLES.join(', ')} (confirm deliveries)`,
      [],
    )
    .option('--json', 'machine-readable output')
    .action(async (login: string, opts: { role: string[]; json?: boolean }) => {
      if (!/^[A-Za-z0-9._@-]{1,64}$/.test(login)) {
        throw new UserError(`login "${login}" is not valid; use 1-64 letters, digits, . _ @ or -`);
      }
      for (const role of opts.role) {
        if (!OPERATOR_ROLES.includes(role))
          throw new UserError(`role "${role}" is not valid; expected one of ${OPERATOR_ROLES.join(', ')}`);
      }
      const { addOperator } = await import('../../db/operators');
      const result = await addOperator(await ctx().sql(), login, opts.role);
      const value = { login, created: result.created, roles: result.roles };
      output(
        opts.json,
        value,
        () =>
          `${result.created ? 'created' : 'updated'} operator ${login} (roles: ${result.roles.join(', ') || 'none'})`,
      );
    });

  registerDeliveryCommands(program, ctx);
  registerViewCommands(program, ctx);
  registerDeadLetterCommands(program, ctx);
  registerQuarantineCommands(program, ctx);
  registerStatsCommands(program, ctx);
  registerFeedbackCommands(program, ctx);
  registerPurgeCommand(program, ctx);
  registerBounceCommands(program);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander printed its message already; help and version exit 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`campaign: ${describeError(error)}\n`);
    return 1;
  } finally {
    await context?.close();
  }
}

/** `campaign …` as a program: the process's own argv, its exit code, and a closed pipe as the end. */
export function runFromCommandLine(): void {
  // `campaign logs 1 | head -1`: once the reader has gone, the rest is unwanted, as for `git log | head`.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(0);
  });
  runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

if (require.main === module) runFromCommandLine();
