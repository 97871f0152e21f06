// How a refused hand-off is logged, for first attempts (dispatch) and retries alike.
import type { DispatchDelivery, HandOff } from '../../db/dispatch';
import { classifySmtp, parseSmtpResponse } from '../../shared/rules/classify';
import { refusedAtHandOff } from '../../shared/rules/status-moves';
import type { HandOffResult } from './transport';

/** How a refused hand-off is logged: the classified reason decides hard or soft, as a bounce's would. */
export function refusal(
  result: Extract<HandOffResult, { ok: false }>,
  final: boolean,
  delivery: DispatchDelivery,
  now: Date,
): Pick<HandOff, 'status' | 'failureType' | 'failureReason' | 'retryAt'> & { outcomeKind: 'soft' | 'hard' } {
  const parsed = parseSmtpResponse(result.response);
  const classification = classifySmtp({
    smtpCode: result.code ?? parsed.smtpCode,
    enhancedStatus: parsed.enhancedStatus,
    diagnostic: result.response,
  });
  const kind = (result.temporary && final) || classification.type !== 'hard' ? 'soft' : 'hard';
  const move = refusedAtHandOff(kind, now.getTime(), delivery);
  return {
    status: move.status,
    failureType: kind,
    failureReason: classification.reason,
    outcomeKind: kind,
    retryAt: move.retryAt,
  };
}
