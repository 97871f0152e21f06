// The confirm role: confirms deliveries, and produces the recurring deliveries' occurrences.

import { confirmQueue, recurrenceQueue } from '../../shared/queues';
import { quarantineRules } from '../../shared/rules/quarantine-rules';
import { startWorker } from '../../shared/worker';
import { recurrenceKind } from '../reconcile/kinds';
import { recurrenceHandler } from '../recurrence/handler';
import type { RoleKit, RoleModule, RunningRole } from '../start/role-kit';
import { confirmHandler } from './handler';

export function startConfirmRole(kit: RoleKit): RunningRole {
  const { deps, base, opts } = kit;
  const planner = kit.planner();
  const confirm = startWorker(confirmQueue, confirmHandler({ sql: deps.sql, planner, now: deps.now }), base, {
    ...opts,
    concurrency: 8,
  });
  const recurrence = startWorker(
    recurrenceQueue,
    recurrenceHandler({ sql: deps.sql, planner, quarantine: quarantineRules(deps.config), now: deps.now }),
    base,
    opts,
  );
  kit.every(kit.queue(recurrenceQueue.name), 'recurrence-sweep', deps.config.RECURRENCE_TICK, {
    name: 'sweep',
    data: { sweep: true },
    opts: recurrenceQueue.jobOptions,
  });
  kit.reconcile(
    recurrenceKind(deps.sql, kit.queue(recurrenceQueue.name), deps.config.RECURRENCE_TICK, kit.grace),
  );
  return kit.running([
    { queue: confirmQueue, worker: confirm },
    { queue: recurrenceQueue, worker: recurrence },
  ]);
}

/** The confirm role: the queues it handles (the start-up check reads them) and its start. */
export const confirmRole: RoleModule = { queues: [confirmQueue, recurrenceQueue], start: startConfirmRole };
