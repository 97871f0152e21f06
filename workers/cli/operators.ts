// `campaign operator add|passwd|logout-all`: operators, their roles and their console passwords. A password is
// read from standard input (never from an argument, which `ps` and shell histories show) and never printed.
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { hashPassword, passwordProblem } from '../../shared/password';
import { OPERATOR_ROLES, ROLE_DESCRIPTIONS } from '../../shared/rules/roles';
import { type CliContext, output, UserError } from './context';

/** Where a command reads a password from: the process's stdin, or a test's string. */
export type PasswordInput = () => Readable;

const LOGIN = /^[A-Za-z0-9._@-]{1,64}$/;

function loginArgument(login: string): string {
  if (!LOGIN.test(login))
    throw new UserError(`login "${login}" is not valid; use 1-64 letters, digits, . _ @ or -`);
  return login;
}

/** The first line of a stream (a password piped in: `printf %s "$P" | campaign operator passwd alice`). */
async function firstLine(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += chunk.toString();
    if (text.includes('\n') || text.length > 4096) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

/** Asks twice on a terminal, echoing nothing; the two must match. */
async function prompt(): Promise<string> {
  const ask = async (question: string) => {
    process.stderr.write(question);
    const stdin = process.stdin;
    stdin.setRawMode?.(true);
    let typed = '';
    try {
      for await (const chunk of stdin) {
        for (const c of chunk.toString()) {
          if (c === '\r' || c === '\n') return typed;
          if (c === '\u0003') throw new UserError('interrupted; no password was set');
          if (c === '\u007f') typed = typed.slice(0, -1);
          else typed += c;
        }
      }
      return typed;
    } finally {
      stdin.setRawMode?.(false);
      stdin.pause();
      process.stderr.write('\n');
    }
  };
  const first = await ask('New password: ');
  const again = await ask('Repeat it: ');
  if (first !== again) throw new UserError('the two passwords differ; nothing was changed');
  return first;
}

async function readPassword(input: PasswordInput, fromStdin: boolean): Promise<string> {
  const stream = input();
  const password =
    fromStdin || !(stream as { isTTY?: boolean }).isTTY ? await firstLine(stream) : await prompt();
  const problem = passwordProblem(password);
  if (problem) throw new UserError(`${problem}; nothing was changed`);
  return hashPassword(password);
}

export function registerOperatorCommands(
  program: Command,
  ctx: () => CliContext,
  input: PasswordInput,
): void {
  const roles = OPERATOR_ROLES.map((r) => `${r} (${ROLE_DESCRIPTIONS[r]})`).join(', ');
  const operator = program
    .command('operator')
    .description('Manage the operators who may confirm deliveries and log in to the console.');
  operator
    .command('add')
    .description('Create an operator (or add roles to an existing one).')
    .argument('<login>', 'the operator login')
    .option('--role <role...>', `roles to grant, one or more of: ${roles}`, [])
    .option('--password-stdin', 'set the console password from the first line of standard input')
    .option('--json', 'machine-readable output')
    .action(async (login: string, opts: { role: string[]; passwordStdin?: boolean; json?: boolean }) => {
      loginArgument(login);
      for (const role of opts.role) {
        if (!OPERATOR_ROLES.includes(role))
          throw new UserError(`role "${role}" is not valid; expected one of ${OPERATOR_ROLES.join(', ')}`);
      }
      const hash = opts.passwordStdin ? await readPassword(input, true) : undefined;
      const { addOperator } = await import('../../db/operators');
      const result = await addOperator(await ctx().sql(), login, opts.role, hash);
      // passwordSet only when asked: the JSON of `operator add` without a password stays as it was.
      const value = {
        login,
        created: result.created,
        roles: result.roles,
        ...(hash ? { passwordSet: true } : {}),
      };
      output(
        opts.json,
        value,
        () =>
          `${result.created ? 'created' : 'updated'} operator ${login} (roles: ${result.roles.join(', ') || 'none'}${hash ? '; password set' : ''})`,
      );
    });
  operator
    .command('passwd')
    .description(
      "Set an operator's console password: from standard input, or asked twice on a terminal. Ends the operator's sessions.",
    )
    .argument('<login>', 'the operator login')
    .option('--password-stdin', 'read the first line of standard input even when it is a terminal')
    .option('--json', 'machine-readable output')
    .action(async (login: string, opts: { passwordStdin?: boolean; json?: boolean }) => {
      loginArgument(login);
      const sql = await ctx().sql();
      const { setPassword, operatorRoles } = await import('../../db/operators');
      if ((await operatorRoles(sql, login)) === null)
        throw new UserError(`operator ${login} not found; create it with: campaign operator add ${login}`);
      const hash = await readPassword(input, opts.passwordStdin === true);
      if (!(await setPassword(sql, login, hash))) throw new UserError(`operator ${login} not found`);
      output(opts.json, { login, passwordSet: true }, () => `password of ${login} set; its sessions ended`);
    });
  operator
    .command('logout-all')
    .description('End every console session of an operator (a lost laptop, a left colleague).')
    .argument('<login>', 'the operator login')
    .option('--json', 'machine-readable output')
    .action(async (login: string, opts: { json?: boolean }) => {
      loginArgument(login);
      const { endOperatorSessions } = await import('../../db/sessions');
      const ended = await endOperatorSessions(await ctx().sql(), login);
      if (ended === null) throw new UserError(`operator ${login} not found`);
      output(opts.json, { login, sessionsEnded: ended }, () => `${ended} session(s) of ${login} ended`);
    });
}

/** A fixed string as standard input (tests). */
export const stringInput =
  (text: string): PasswordInput =>
  () =>
    Readable.from([text]);
