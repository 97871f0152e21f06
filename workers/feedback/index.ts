// The feedback role: applies the MTA's events to the logs, the KPIs and the quarantine.

import { feedbackQueue } from '../../shared/queues';
import { quarantineRules } from '../../shared/rules/quarantine-rules';
import { startWorker } from '../../shared/worker';
import type { RoleKit, RoleModule, RunningRole } from '../start/role-kit';
import { feedbackHandler } from './handler';

export function startFeedbackRole(kit: RoleKit): RunningRole {
  const { deps } = kit;
  const handler = feedbackHandler({
    sql: deps.sql,
    now: deps.now,
    retryQueue: kit.q.retry,
    quarantine: quarantineRules(deps.config),
  });
  // A few jobs at once keep both cores busy; more only queue on each other's row locks.
  const worker = startWorker(feedbackQueue, handler, kit.base, {
    ...kit.opts,
    concurrency: deps.config.FEEDBACK_CONCURRENCY,
  });
  return kit.running([{ queue: feedbackQueue, worker }]);
}

/** The feedback role: the queues it handles (the start-up check reads them) and its start. */
export const feedbackRole: RoleModule = { queues: [feedbackQueue], start: startFeedbackRole };
