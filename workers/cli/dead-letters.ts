// `campaign dead-letters`: what could not be applied, and why; `replay ID` sends one back once fixed.

import type { Command } from 'commander';
import { type DeadLetter, replayPayload } from '../../db/dead-letters';
import { enqueue } from '../../shared/enqueue';
import { feedbackQueue, queues } from '../../shared/queues';
import { type CliContext, output, UserError } from './context';
import { openQueue } from './enqueue';

function render(letters: DeadLetter[]): string {
  if (letters.length === 0) return 'no dead letters';
  return letters
    .map(
      (l) =>
        `${l.id}\t${l.createdAt}\t${l.queue}\t${l.replayedAt ? `replayed ${l.replayedAt}` : 'kept'}\t${l.reason}`,
    )
    .join('\n');
}

/**
 * A mail the bounce mailbox kept (it could not read it) is read again by today's reader: its events go to
 * mta-feedback under the ids the mailbox would have given them, so a replay twice applies them once. A mail that
 * still reports nothing is refused with the reason, and stays kept.
 */
async function replayBounceMail(context: CliContext, letter: DeadLetter, json?: boolean): Promise<void> {
  const { keptMail, replayMail } = await import('../servers/bounces/receive');
  const { markReplayed } = await import('../../db/dead-letters');
  const mail = keptMail(letter.payload);
  if (!mail)
    throw new UserError(`dead letter ${letter.id} keeps no mail to read again (no payload.raw or rawBase64)`);
  const sql = await context.sql();
  const queue = await openQueue(context, feedbackQueue.name);
  try {
    const replayed = await replayMail({ sql, feedbackQueue: queue }, mail);
    if (!replayed.ok)
      throw new UserError(
        `dead letter ${letter.id} is still no mail to act on: ${replayed.reason}; nothing enqueued, it stays kept`,
      );
    // After the enqueue: the events' ids make a second replay (if this mark were lost) a no-op.
    await markReplayed(sql, letter);
    output(
      json,
      {
        id: letter.id,
        queue: feedbackQueue.name,
        jobId: replayed.jobIds[0],
        jobIds: replayed.jobIds,
        events: replayed.events,
      },
      () =>
        `dead letter ${letter.id}: the bounce mail was read again; ${replayed.events} feedback events enqueued on ${feedbackQueue.name} (job ${replayed.jobIds.join(', ')})`,
    );
  } finally {
    await queue.close();
  }
}

export function registerDeadLetterCommands(program: Command, ctx: () => CliContext): void {
  const command = program
    .command('dead-letters')
    .description('Payloads and events that could not be applied, with the reason (newest first).')
    .option(
      '--queue <name>',
      `only this queue (${queues
        .filter((q) => q.visibility === 'public')
        .map((q) => q.name)
        .join(', ')})`,
    )
    .option('--all', 'include the ones already replayed')
    .option('--limit <n>', 'how many to show', '100')
    .option(
      '--json',
      'machine-readable output: an array of {id, queue, jobId, reason, payload, createdAt, replayedAt}',
    )
    .action(async (opts: { queue?: string; all?: boolean; limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100_000)
        throw new UserError(`--limit "${opts.limit}" is not a count from 1 to 100000`);
      const { listDeadLetters } = await import('../../db/dead-letters');
      const sql = await ctx().sql();
      if (opts.queue !== undefined) {
        // A typo must not read as "no dead letters": the known queues are the declared ones, the feedback
        // receiver's and the bounce mailbox's, and any that dead letters name already.
        const { PROVIDERS } = await import('../servers/feedback-http/server');
        const { BOUNCES_DEAD_LETTER_QUEUE } = await import('../servers/bounces/receive');
        const seen = await sql`select distinct queue from dead_letters`;
        const known = [
          ...new Set([
            ...queues.map((q) => q.name),
            ...PROVIDERS.map((p) => `feedback-http/${p}`),
            BOUNCES_DEAD_LETTER_QUEUE,
            ...seen.map((r) => r.queue as string),
          ]),
        ];
        if (!known.includes(opts.queue))
          throw new UserError(
            `--queue "${opts.queue}" is not a known queue; expected one of ${known.join(', ')}`,
          );
      }
      const letters = await listDeadLetters(sql, {
        queue: opts.queue,
        includeReplayed: opts.all,
        limit,
      });
      output(opts.json, letters, () => render(letters));
    });

  command
    .command('replay')
    .description('Enqueue a dead letter again on its queue (after fixing what made it fail).')
    .argument('<id>', 'dead letter id')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      if (!/^\d+$/.test(id))
        throw new UserError(`dead letter id "${id}" is not valid; it is a number, e.g. 7`);
      const { getDeadLetter, markReplayed } = await import('../../db/dead-letters');
      const sql = await ctx().sql();
      const letter = await getDeadLetter(sql, id);
      if (!letter) throw new UserError(`dead letter ${id} not found`);
      if (letter.replayedAt)
        throw new UserError(`dead letter ${id} was replayed already at ${letter.replayedAt}`);
      const { BOUNCES_DEAD_LETTER_QUEUE } = await import('../servers/bounces/receive');
      if (letter.queue === BOUNCES_DEAD_LETTER_QUEUE) return replayBounceMail(ctx(), letter, opts.json);
      const declaration = queues.find((q) => q.name === letter.queue);
      if (!declaration)
        throw new UserError(`dead letter ${id} came from queue "${letter.queue}", which no longer exists`);
      await markReplayed(sql, letter);
      const queue = await openQueue(ctx(), letter.queue);
      try {
        const job = await enqueue(queue, declaration, replayPayload(letter), { name: 'replay' });
        output(
          opts.json,
          { id, queue: letter.queue, jobId: job.id },
          () => `dead letter ${id} replayed on ${letter.queue} (job ${job.id})`,
        );
      } finally {
        await queue.close();
      }
    });
}
