// The process roles of the Procfile: which workers each one runs. `npm start` runs them all in one process.
import { type QueueDeclaration, queues } from '../../shared/queues';
import { aggregateRole } from '../aggregate';
import { confirmRole } from '../confirm';
import { dispatchRole } from '../dispatch';
import { feedbackRole } from '../feedback';
import { retryRole } from '../retry';
import { startBouncesRole } from '../servers/bounces';
import { startConsoleRole } from '../servers/console';
import { startFeedbackHttpRole } from '../servers/feedback-http';
import { startExporter } from '../servers/metrics';
import { trackingRole } from '../tracking';
import { createRoleKit, type RoleDeps, type RoleModule, type RunningRole } from './role-kit';

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
  'console',
] as const;
export type Role = (typeof ROLES)[number];

/** Every role, from its folder's exports: the start-up check and `startRole` read the same declaration. */
const MODULES: Record<Role, RoleModule> = {
  confirm: confirmRole,
  dispatch: dispatchRole,
  feedback: feedbackRole,
  retry: retryRole,
  tracking: trackingRole,
  aggregate: aggregateRole,
  metrics: {
    queues: [],
    start: (kit) => {
      // The HTTP endpoints are served by every process; this role adds the figures shared by all of them.
      const exporter = startExporter(kit.deps);
      return { ...kit.running([], () => exporter.close()), registry: exporter.registry };
    },
  },
  // Only produces (on mta-feedback and tracking-events), with its own connection: it handles no queue.
  'feedback-http': { queues: [], start: (kit) => startFeedbackHttpRole(kit.deps) },
  // The same for mail: the bounce mailbox produces on mta-feedback and handles no queue.
  bounces: { queues: [], start: (kit) => startBouncesRole(kit.deps) },
  // The operator console produces on delivery-confirm, compute-stats and (replays) any queue; it handles none.
  console: { queues: [], start: (kit) => startConsoleRole(kit.deps) },
};

/** The queues each role handles, as its folder declares them. */
export const ROLE_QUEUES: Record<Role, readonly QueueDeclaration[]> = Object.fromEntries(
  ROLES.map((role) => [role, MODULES[role].queues]),
) as Record<Role, readonly QueueDeclaration[]>;

/** Starts one role's workers; refuses a role that handles other queues than it declares. */
export function startRole(role: Role, deps: RoleDeps): RunningRole {
  const running = MODULES[role].start(createRoleKit(deps));
  const declared = MODULES[role].queues.map((q) => q.name).sort();
  const started = running.workers.map((w) => w.queue.name).sort();
  if (declared.join() !== started.join()) {
    void running.close();
    throw new Error(
      `role ${role} declares the queues ${declared.join(', ') || 'none'} but started ${started.join(', ') || 'none'}`,
    );
  }
  return running;
}

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
