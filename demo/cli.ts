// Runs `campaign` commands in the demo's process, through the same code path as `npx campaign`, and shows them.
import { runCli } from '../workers/cli/main';

/** A command's exit code and what it printed. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one command line against the demo's environment; prints it as typed, and its output indented. */
export async function campaign(
  env: Record<string, string>,
  argv: string[],
  show: { command?: string; output?: boolean } = {},
): Promise<Ran> {
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
  let code: number;
  try {
    code = await runCli(argv, env);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  process.stdout.write(`$ npx campaign ${show.command ?? argv.join(' ')}\n`);
  if (show.output !== false) {
    const text = `${stdout}${stderr}`.trimEnd();
    if (text) process.stdout.write(`${text.replace(/^/gm, '  ')}\n`);
  }
  return { code, stdout, stderr };
}
