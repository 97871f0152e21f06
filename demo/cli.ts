// Runs `campaign` commands in the demo's process, through the same code path as `npx campaign`, and shows them.
import { type CapturedRun, runCliCaptured } from '../workers/cli/in-process';

/** A command's exit code and what it printed. */
export type Ran = CapturedRun;

/** Runs one command line against the demo's environment; prints it as typed, and its output indented. */
export async function campaign(
  env: Record<string, string>,
  argv: string[],
  show: { command?: string; output?: boolean } = {},
): Promise<Ran> {
  const { code, stdout, stderr } = await runCliCaptured(argv, env);
  process.stdout.write(`$ npx campaign ${show.command ?? argv.join(' ')}\n`);
  if (show.output !== false) {
    const text = `${stdout}${stderr}`.trimEnd();
    if (text) process.stdout.write(`${text.replace(/^/gm, '  ')}\n`);
  }
  return { code, stdout, stderr };
}
