// The `campaign` command line: operators, deliveries, confirmation and the views of docs/CONTRACT.md.
import { Command, CommanderError } from 'commander';
import { registerBounceCommands } from './bounce';
import { CliContext, describeError } from './context';
import { registerDeadLetterCommands } from './dead-letters';
import { registerDeliveryCommands } from './delivery';
import { registerFeedbackCommands } from './feedback';
import { type PasswordInput, registerOperatorCommands } from './operators';
import { registerPurgeCommand } from './purge';
import { registerQuarantineCommands } from './quarantine';
import { registerStatsCommands } from './stats';
import { registerViewCommands } from './views';

/** Runs one command line; returns the exit code. Tests call it with their own argv and environment. */
export async function runCli(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
  /** Standard input of the commands that read a password (tests pass their own). */
  io: { stdin?: PasswordInput } = {},
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

  registerOperatorCommands(program, ctx, io.stdin ?? (() => process.stdin));
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
