// `campaign dead-letters`: what could not be applied, and why; `replay ID` sends one back once fixed.

import type { Queue } from 'bullmq';
import type { Command } from 'commander';
import type { DeadLetter } from '../../db/dead-letters';
import { queues } from '../../shared/queues';
import type { Replayed } from '../servers/replay';
import { type CliContext, cliActor, output, UserError } from './context';

function render(letters: DeadLetter[]): string {
  if (letters.length === 0) return 'no dead letters';
  return letters
    .map(
      (l) =>
        `${l.id}\t${l.createdAt}\t${l.queue}\t${l.replayedAt ? `replayed ${l.replayedAt}` : 'kept'}\t${l.reason}`,
    )
    .join('\n');
}

function renderReplay(r: Replayed): string {
  const where =
    r.events + r.tracking > 0
      ? `${r.events} feedback events${r.tracking ? ` and ${r.tracking} opens or clicks` : ''} enqueued (job ${r.jobIds.join(', ')})`
      : r.jobIds.length > 0
        ? `replayed on ${r.queue} (job ${r.jobIds.join(', ')})`
        : 'nothing enqueued';
  const still =
    r.deadLetters.length > 0
      ? `; refused again, kept as dead letter ${r.deadLetters.join(', ')}: ${r.refused.join('; ')}`
      : '';
  return `dead letter ${r.id}: ${where}${still}`;
}

/** Replays through the console's own path (workers/servers/replay.ts), audited as `cli:<system user>`. */
async function replay(context: CliContext, id: string, json?: boolean): Promise<void> {
  const { replayDeadLetter, ReplayRefused } = await import('../servers/replay');
  const sql = await context.sql();
  const opened = new Map<string, Queue>();
  const connection = await context.redisConnection();
  const { Queue } = await import('bullmq');
  const queue = (name: string) => {
    const q = opened.get(name) ?? new Queue(name, { connection, prefix: context.config.QUEUE_PREFIX });
    opened.set(name, q);
    return q;
  };
  try {
    const replayed = await replayDeadLetter({ sql, queue }, id, cliActor());
    output(json, replayed, () => renderReplay(replayed));
  } catch (error) {
    if (error instanceof ReplayRefused) throw new UserError(error.message);
    throw error;
  } finally {
    await Promise.all([...opened.values()].map((q) => q.close()));
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
      return replay(ctx(), id, opts.json);
    });
}
