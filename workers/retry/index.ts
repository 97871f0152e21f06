// The retry role: retries soft bounces until the validity end, and finalizes deliveries at that end.

import { finalizeQueue, retryQueue } from '../../shared/queues';
import { quarantineRules } from '../../shared/rules/quarantine-rules';
import { startWorker } from '../../shared/worker';
import { retryKinds } from '../reconcile/kinds';
import type { RoleKit, RoleModule, RunningRole } from '../start/role-kit';
import { finalizeHandler, retryHandler } from './handler';

export function startRetryRole(kit: RoleKit): RunningRole {
  const { deps, base, opts } = kit;
  const { transport, rateLimiter } = kit.mta();
  const handler = retryHandler({
    sql: deps.sql,
    transport,
    rateLimiter,
    retryQueue: kit.q.retry,
    quarantine: quarantineRules(deps.config),
    now: deps.now,
  });
  const retry = startWorker(retryQueue, handler, base, { ...opts, concurrency: 2 });
  const finalize = startWorker(finalizeQueue, finalizeHandler({ sql: deps.sql, now: deps.now }), base, opts);
  // The sweep finds retries whose delayed job a crash lost.
  kit.every(kit.q.retry, 'retry-sweep', deps.config.RETRY_SWEEP_INTERVAL, {
    name: 'sweep',
    data: { sweep: true },
    opts: { removeOnComplete: true, removeOnFail: 100 },
  });
  kit.reconcile(...retryKinds(deps.sql, { retry: kit.q.retry, finalize: kit.q.finalize }, kit.grace));
  return kit.running(
    [
      { queue: retryQueue, worker: retry },
      { queue: finalizeQueue, worker: finalize },
    ],
    () => transport.close(),
  );
}

/** The retry role: the queues it handles (the start-up check reads them) and its start. */
export const retryRole: RoleModule = { queues: [retryQueue, finalizeQueue], start: startRetryRole };
