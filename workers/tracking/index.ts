// The tracking role: stores opens and clicks, once per event id.
import { trackingQueue } from '../../shared/queues';
import { startWorker } from '../../shared/worker';
import type { RoleKit, RoleModule, RunningRole } from '../start/role-kit';
import { trackingHandler } from './handler';

export function startTrackingRole(kit: RoleKit): RunningRole {
  const worker = startWorker(trackingQueue, trackingHandler({ sql: kit.deps.sql }), kit.base, {
    ...kit.opts,
    concurrency: kit.deps.config.TRACKING_CONCURRENCY,
  });
  return kit.running([{ queue: trackingQueue, worker }]);
}

/** The tracking role: the queues it handles (the start-up check reads them) and its start. */
export const trackingRole: RoleModule = { queues: [trackingQueue], start: startTrackingRole };
