// The dispatch role: starts deliveries at their contact date and hands their batches to the MTA.

import { dispatchQueue, startQueue } from '../../shared/queues';
import { quarantineRules } from '../../shared/rules/quarantine-rules';
import { startWorker } from '../../shared/worker';
import { dispatchKinds } from '../reconcile/kinds';
import type { RoleKit, RoleModule, RunningRole } from '../start/role-kit';
import { dispatchHandler } from './handler';
import { listenForStops } from './stops';

export function startDispatchRole(kit: RoleKit): RunningRole {
  const { deps, base, opts } = kit;
  const planner = kit.planner();
  const start = startWorker(
    startQueue,
    async ({ deliveryId }, { log }) => {
      const batches = await planner.startSending(deliveryId);
      log.info({ batches }, 'Contact date reached: dispatch started.');
      return { batches };
    },
    base,
    opts,
  );
  const { transport, rateLimiter } = kit.mta();
  const stops = listenForStops(deps.sql, deps.log);
  const handler = dispatchHandler({
    sql: deps.sql,
    transport,
    rateLimiter,
    now: deps.now,
    quarantine: quarantineRules(deps.config),
    stops,
    inFlight: deps.config.SMTP_POOL_SIZE,
  });
  const dispatch = startWorker(dispatchQueue, handler, base, {
    ...opts,
    concurrency: deps.config.DISPATCH_CONCURRENCY,
  });
  kit.reconcile(...dispatchKinds(deps.sql, { dispatch: kit.q.dispatch, start: kit.q.start }, kit.grace));
  return kit.running(
    [
      { queue: startQueue, worker: start },
      { queue: dispatchQueue, worker: dispatch },
    ],
    async () => {
      await stops.close();
      await transport.close();
    },
  );
}

/** The dispatch role: the queues it handles (the start-up check reads them) and its start. */
export const dispatchRole: RoleModule = { queues: [startQueue, dispatchQueue], start: startDispatchRole };
