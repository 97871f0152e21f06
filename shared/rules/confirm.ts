// Who may confirm what (pure): the roles operators can hold, and the one sentence that refuses a confirm,
// given alike by the confirm worker and by `campaign confirm` before it enqueues.

import { START_ROLE } from './roles';

export { OPERATOR_ROLES, START_ROLE } from './roles';

/** Why this operator may not confirm, or null when they may; `roles` is null for an unknown login. */
export function operatorRefusal(operator: string, roles: readonly string[] | null): string | null {
  if (roles === null)
    return `operator ${operator} lacks the role ${START_ROLE} (no such operator; create it with: campaign operator add ${operator} --role ${START_ROLE})`;
  return roles.includes(START_ROLE) ? null : `operator ${operator} lacks the role ${START_ROLE}`;
}

/** What a delivery's row says about confirming it. */
export interface ConfirmableRow {
  state: string;
  confirmedBy: string | null;
  confirmedAt: Date | null;
  stateReason: string | null;
  /** An execution with --confirm-each whose next occurrence has come: never sent late. */
  supersededAt: Date | null;
  /** An execution's validity end (occurrence + validity); null for a delivery that is not an execution. */
  executionEnds: Date | null;
}

/** Why the delivery cannot be confirmed at `now`, or null when it can (`row` undefined: no such delivery). */
export function deliveryRefusal(
  deliveryId: string,
  row: ConfirmableRow | undefined,
  now: Date,
): string | null {
  if (!row) return `delivery ${deliveryId} not found`;
  if (row.state === 'prepared') {
    if (row.supersededAt)
      return `delivery ${deliveryId} is an execution whose next occurrence came at ${row.supersededAt.toISOString()}; it is never sent late, nothing was changed`;
    if (row.executionEnds && row.executionEnds <= now)
      return `delivery ${deliveryId} is an execution whose validity period ended at ${row.executionEnds.toISOString()}; nothing was changed`;
    return null;
  }
  const why = row.confirmedBy
    ? `, confirmed by ${row.confirmedBy} at ${row.confirmedAt?.toISOString()}`
    : row.stateReason
      ? `: ${row.stateReason}`
      : '';
  return `delivery ${deliveryId} is not prepared (it is ${row.state}${why}); nothing was changed`;
}
