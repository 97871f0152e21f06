// The confirm handler: checks the operator's role, confirms once, then schedules or starts the dispatch.
import { UnrecoverableError } from 'bullmq';
import type postgres from 'postgres';
import { confirmDelivery, recordConfirmAttempt } from '../../db/confirm';
import { operatorRoles } from '../../db/queries';
import type { ConfirmPayload } from '../../shared/queues';
import type { JobContext } from '../../shared/worker';
import type { DispatchPlanner } from '../dispatch/plan';

export const START_ROLE = 'start-deliveries';

export interface ConfirmDeps {
  sql: postgres.Sql;
  planner: DispatchPlanner;
  now: () => Date;
}

export function confirmHandler(deps: ConfirmDeps) {
  return async (payload: ConfirmPayload, { job, log }: JobContext) => {
    const { deliveryId, operator } = payload;
    const jobId = job.id ?? null;
    const roles = await operatorRoles(deps.sql, operator);
    if (roles === null || !roles.includes(START_ROLE)) {
      const reason =
        roles === null
          ? `operator ${operator} lacks the role ${START_ROLE} (no such operator; create it with: campaign operator add ${operator} --role ${START_ROLE})`
          : `operator ${operator} lacks the role ${START_ROLE}`;
      await recordConfirmAttempt(deps.sql, { deliveryId, operator, outcome: 'refused', reason, jobId });
      log.warn({ operator, reason }, 'Refused a confirm.');
      throw new UnrecoverableError(reason);
    }

    const outcome = await confirmDelivery(deps.sql, {
      deliveryId,
      operator,
      jobId: jobId ?? '',
      now: deps.now(),
    });
    if (outcome.kind === 'refused') {
      log.warn({ operator, reason: outcome.reason }, 'Refused a confirm.');
      throw new UnrecoverableError(outcome.reason);
    }
    log.info({ operator, state: outcome.state, resumed: outcome.resumed }, 'Delivery confirmed.');
    await deps.planner.scheduleFinalize(deliveryId, outcome.validUntil);
    if (outcome.state === 'scheduled') {
      await deps.planner.scheduleStart(deliveryId, outcome.startAt);
      return { state: 'scheduled', startAt: outcome.startAt.toISOString() };
    }
    const batches = await deps.planner.startSending(deliveryId);
    return { state: 'sending', batches };
  };
}
