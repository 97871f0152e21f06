// The process roles of the Procfile: which workers each one runs. `npm start` runs them all in one process.
import {
  aggregationQueue,
  computeStatsQueue,
  confirmQueue,
  dispatchQueue,
  feedbackQueue,
  finalizeQueue,
  type QueueDeclaration,
  queues,
  recurrenceQueue,
  retryQueue,
  startQueue,
  trackingQueue,
} from '../../shared/queues';
import { startAggregateRole } from '../aggregate';
import { startConfirmRole } from '../confirm';
import { startDispatchRole } from '../dispatch';
import { startFeedbackRole } from '../feedback';
import { startRetryRole } from '../retry';
import { startBouncesRole } from '../servers/bounces';
import { startFeedbackHttpRole } from '../servers/feedback-http';
import { startExporter } from '../servers/metrics';
import { startTrackingRole } from '../tracking';
import { createRoleKit, type RoleDeps, type RoleKit, type RunningRole } from './role-kit';

export type { RoleDeps, RunningRole } from './role-kit';

export const ROLES = [
  'confirm',
  'dispatch',
  'feedback',
  'retry',
  'tracking',
  'aggregate',
  'metrics',
  'feedback-http',
  'bounces',
] as const;
export type Role = (typeof ROLES)[number];

const STARTERS: Record<Role, (kit: RoleKit) => RunningRole> = {
  confirm: startConfirmRole,
  dispatch: startDispatchRole,
  feedback: startFeedbackRole,
  retry: startRetryRole,
  tracking: startTrackingRole,
  aggregate: startAggregateRole,
  metrics: (kit) => {
    // The HTTP endpoints are served by every process; this role adds the figures shared by all of them.
    const exporter = startExporter(kit.deps);
    return { ...kit.running([], () => exporter.close()), registry: exporter.registry };
  },
  // Only produces (on mta-feedback and tracking-events), with its own connection: it handles no queue.
  'feedback-http': (kit) => startFeedbackHttpRole(kit.deps),
  // The same for mail: the bounce mailbox produces on mta-feedback and handles no queue.
  bounces: (kit) => startBouncesRole(kit.deps),
};

/** Starts one role's workers. */
export function startRole(role: Role, deps: RoleDeps): RunningRole {
  return STARTERS[role](createRoleKit(deps));
}

/** The queues each role handles: the declaration `startRole` is held to, and the startup check reads. */
export const ROLE_QUEUES: Record<Role, readonly QueueDeclaration[]> = {
  confirm: [confirmQueue, recurrenceQueue],
  dispatch: [startQueue, dispatchQueue],
  feedback: [feedbackQueue],
  retry: [retryQueue, finalizeQueue],
  tracking: [trackingQueue],
  aggregate: [aggregationQueue, computeStatsQueue],
  metrics: [],
  'feedback-http': [],
  bounces: [],
};

/** Refuses to start when a declared queue has no handler among the roles, or more than one. */
export function assertEveryQueueHandledOnce(roles: readonly Role[]): void {
  const counts = new Map<string, number>(queues.map((q) => [q.name, 0]));
  for (const role of roles)
    for (const queue of ROLE_QUEUES[role]) counts.set(queue.name, (counts.get(queue.name) ?? 0) + 1);
  const wrong = [...counts].filter(([, n]) => n !== 1);
  if (wrong.length > 0) {
    throw new Error(
      `queues without exactly one handler: ${wrong.map(([name, n]) => `${name} (${n})`).join(', ')}`,
    );
  }
}
