// Which deliveries were stopped, as the dispatch sees it between two messages: a stop is announced on a
// PostgreSQL channel in its own transaction (db/deliveries.ts), so a running batch learns of it at once.
import type postgres from 'postgres';
import { STOP_CHANNEL } from '../../db/deliveries';
import type { Logger } from '../../shared/logger';

/** Remembered stops; a process restart forgets them, and the batch's own state reads still see them. */
const MAX_REMEMBERED = 10_000;

/** The stops a dispatch process has heard of. */
export interface StopSignals {
  isStopped(deliveryId: string): boolean;
  /** A stop found by reading the delivery's state (the channel's safety net). */
  mark(deliveryId: string): void;
  close(): Promise<void>;
}

export function listenForStops(sql: postgres.Sql, log: Logger): StopSignals {
  const stopped = new Set<string>();
  const mark = (id: string) => {
    if (stopped.size >= MAX_REMEMBERED) stopped.delete(stopped.values().next().value!);
    stopped.add(id);
  };
  // postgres.js keeps one connection for it and listens again after a reconnection.
  const listening = sql.listen(STOP_CHANNEL, mark).catch((error: Error) => {
    log.warn({ err: error.message }, 'Could not listen for stops; batches see them between chunks only.');
    return null;
  });
  return {
    isStopped: (id) => stopped.has(id),
    mark,
    close: async () => {
      await (await listening)?.unlisten();
    },
  };
}
