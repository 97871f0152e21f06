// `campaign feedback dsn FILE|-`: feeds a bounce mail (RFC 3464 DSN) to mta-feedback, as the generic endpoint does.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { feedbackQueue } from '../../shared/queues';
import { type CliContext, output, UserError } from './context';
import { openQueue } from './enqueue';

async function readInput(file: string): Promise<Buffer> {
  if (file !== '-') {
    try {
      return await readFile(file);
    } catch (error) {
      throw new UserError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function registerFeedbackCommands(program: Command, ctx: () => CliContext): void {
  const feedback = program
    .command('feedback')
    .description('Feed MTA feedback that arrives as files or mail.');
  feedback
    .command('dsn')
    .description('Read a delivery status notification (multipart/report bounce mail) and enqueue its events.')
    .argument('<file>', 'the bounce mail, or - for standard input')
    .option('--json', 'machine-readable output: {accepted, ignored, jobIds}')
    .action(async (file: string, opts: { json?: boolean }) => {
      const raw = await readInput(file);
      const { translateDsn } = await import('../servers/feedback-http/dsn');
      const { BadPayload } = await import('../servers/feedback-http/translate');
      const { enqueueTranslation } = await import('../servers/feedback-http/enqueue');
      let translation: Awaited<ReturnType<typeof translateDsn>>;
      try {
        translation = await translateDsn(raw);
      } catch (error) {
        if (error instanceof BadPayload) throw new UserError(`${file}: ${error.message}`);
        throw error;
      }
      const queue = await openQueue(ctx(), feedbackQueue.name);
      try {
        const jobIds = await enqueueTranslation({ feedback: queue, tracking: null }, translation);
        const value = { accepted: translation.feedback.length, ignored: translation.ignored, jobIds };
        output(
          opts.json,
          value,
          () => `enqueued ${value.accepted} event(s) on ${feedbackQueue.name} (${value.ignored} ignored)`,
        );
      } finally {
        await queue.close();
      }
    });
}
