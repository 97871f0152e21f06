// Runs the `campaign` command line in-process (fast) or as a real child process (as a user would).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { runCliCaptured } from '../../workers/cli/in-process';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json<T = unknown>(): T;
}

function result(code: number, stdout: string, stderr: string): CliResult {
  return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
}

/** Runs one command line in this process, capturing what it prints. */
export async function cli(env: Record<string, string>, ...argv: string[]): Promise<CliResult> {
  const run = await runCliCaptured(argv, env);
  return result(run.code, run.stdout, run.stderr);
}

/** The same, with `input` as standard input (a password for `operator add --password-stdin`, `operator passwd`). */
export async function cliWithInput(
  env: Record<string, string>,
  input: string,
  ...argv: string[]
): Promise<CliResult> {
  const run = await runCliCaptured(argv, env, input);
  return result(run.code, run.stdout, run.stderr);
}

const ROOT = path.resolve(__dirname, '..', '..');

/** Runs the command as a separate process through tsx, from the checkout, with the given environment. */
export async function cliProcess(env: Record<string, string>, ...argv: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [
        path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'),
        path.join(ROOT, 'workers', 'cli', 'main.ts'),
        ...argv,
      ],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 },
    );
    return result(0, stdout, stderr);
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return result(typeof e.code === 'number' ? e.code : 1, e.stdout ?? '', e.stderr ?? '');
  }
}
