// Runs one `campaign` command line inside the calling process, capturing what it prints (tests, the demo).
import { runCli } from './main';
import { stringInput } from './operators';

/** A command's exit code and what it printed. */
export interface CapturedRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the command with the given environment; stdout and stderr are captured, not printed. */
export async function runCliCaptured(
  argv: string[],
  env: Record<string, string>,
  /** Standard input, for the commands that read a password. */
  input?: string,
): Promise<CapturedRun> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await runCli(argv, env, input === undefined ? {} : { stdin: stringInput(input) });
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}
