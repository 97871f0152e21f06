// The confirm handler: checks the operator's role, confirms once, then schedules or starts the dispatch.
import { UnrecoverableError } from 'bullmq';
import type postgres from 'postgres';
import {
  type ConfirmOutcome,
  confirmDelivery,
  recordConfirmAttempt,
  resolveConfirmTarget,
} from '../../db/confirm';
import { operatorRoles } from '../../db/operators';
import type { ConfirmPayload } from '../../shared/queues';
import { operatorRefusal } from '../../shared/rules/confirm';
import type { JobContext } from '../../shared/worker';
import type { DispatchPlanner } from '../dispatch/plan';

export interface ConfirmDeps {
  sql: postgres.Sql;
  planner: DispatchPlanner;
  now: () => Date;
}

export function confirmHandler(deps: ConfirmDeps) {
  return async (payload: ConfirmPayload, { job, log }: JobContext) => {
    const { deliveryId, operator } = payload;
    const jobId = job.id ?? null;
    const reason = operatorRefusal(operator, await operatorRoles(deps.sql, operator));
    if (reason) {
      await recordConfirmAttempt(deps.sql, { deliveryId, operator, outcome: 'refused', reason, jobId });
      log.warn({ operator, reason }, 'Refused a confirm.');
      throw new UnrecoverableError(reason);
    }

    const target = await resolveConfirmTarget(deps.sql, deliveryId, jobId);
    if ('refused' in target) {
      await recordConfirmAttempt(deps.sql, {
        deliveryId,
        operator,
        outcome: 'refused',
        reason: target.refused,
        jobId,
      });
      log.warn({ operator, reason: target.refused }, 'Refused a confirm.');
      throw new UnrecoverableError(target.refused);
    }
    const outcome = await confirmDelivery(deps.sql, {
      deliveryId: target.id,
      operator,
      jobId: jobId ?? '',
      now: deps.now(),
    });
    if (outcome.kind === 'refused') {
      log.warn({ operator, reason: outcome.reason }, 'Refused a confirm.');
      throw new UnrecoverableError(outcome.reason);
    }
    log.info(
      { operator, state: outcome.state, resumed: outcome.resumed, execution: target.id },
      'Delivery confirmed.',
    );
    return { ...(await startConfirmed(deps.planner, target.id, outcome)), deliveryId: target.id };
  };
}

/** After a confirm: the validity end, then the start at the contact date or the dispatch now. Idempotent. */
export async function startConfirmed(
  planner: DispatchPlanner,
  deliveryId: string,
  outcome: Extract<ConfirmOutcome, { kind: 'confirmed' }>,
) {
  await planner.scheduleFinalize(deliveryId, outcome.validUntil);
  if (outcome.state === 'scheduled') {
    await planner.scheduleStart(deliveryId, outcome.startAt);
    return { state: 'scheduled', startAt: outcome.startAt.toISOString() };
  }
  const batches = await planner.startSending(deliveryId);
  return { state: 'sending', batches };
}
