// The recurrence sweep: produces due occurrences' executions, then starts those that start by themselves.
import type postgres from 'postgres';
import { confirmDelivery } from '../../db/confirm';
import { produceDueOccurrences, unstartedAutoExecutions } from '../../db/recurrence';
import type { QuarantineRules } from '../../shared/rules/quarantine-rules';
import type { JobContext } from '../../shared/worker';
import { startConfirmed } from '../confirm/handler';
import type { DispatchPlanner } from '../dispatch/plan';

/** The operator recorded for executions that start by themselves (no confirm-each). */
export const SCHEDULE_OPERATOR = 'schedule';

export interface RecurrenceDeps {
  sql: postgres.Sql;
  planner: DispatchPlanner;
  quarantine: Pick<QuarantineRules, 'mailboxFullReleaseMs'>;
  now: () => Date;
}

export function recurrenceHandler(deps: RecurrenceDeps) {
  return async (_payload: { sweep: true }, { log }: JobContext) => {
    const { produced, missed, skipped } = await produceDueOccurrences(deps.sql, deps.now(), deps.quarantine);
    for (const p of produced)
      log.info(
        { deliveryId: p.deliveryId, occurrenceAt: p.occurrenceAt, autoStart: p.autoStart },
        p.autoStart
          ? 'Occurrence produced; its execution starts.'
          : 'Occurrence produced; its execution waits for a confirm.',
      );
    if (missed > 0)
      log.warn(
        { missed },
        'Occurrences fell while no process ran and their validity is over: recorded as missed.',
      );
    if (skipped > 0) log.info({ skipped }, 'Executions never confirmed within their validity: skipped.');
    // The ones just produced, and any whose start a crash interrupted: the confirm's job id makes a repeat resume.
    let started = 0;
    for (const deliveryId of await unstartedAutoExecutions(deps.sql, deps.now())) {
      const outcome = await confirmDelivery(deps.sql, {
        deliveryId,
        operator: SCHEDULE_OPERATOR,
        jobId: `recurrence-${deliveryId}`,
        now: deps.now(),
      });
      if (outcome.kind === 'confirmed') {
        await startConfirmed(deps.planner, deliveryId, outcome);
        started++;
      } else log.warn({ deliveryId, reason: outcome.reason }, 'An execution could not start.');
    }
    return { produced: produced.length, missed, skipped, started };
  };
}
