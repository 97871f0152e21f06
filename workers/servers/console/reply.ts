// How the console's screens answer: a page in the layout, and an action refused (audited, then said).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type postgres from 'postgres';
import { type AuditEntry, recordAudit } from '../../../db/audit';
import { layout, notice, type View } from './html';
import { viewOf } from './server';

export const HTML = 'text/html; charset=utf-8';

export const sendPage = (reply: FastifyReply, title: string, body: string, view: View, status = 200) =>
  reply
    .code(status)
    .type(HTML)
    .send(layout(title, body, view));

/** An action the operator may not take (or that cannot be done): an audit row, then the reason as a page. */
export async function refuseAction(
  sql: postgres.Sql,
  request: FastifyRequest,
  reply: FastifyReply,
  refused: {
    action: AuditEntry['action'];
    target: string | null;
    reason: string;
    status: number;
    /** The action wrote its own audit row already. */
    audited?: boolean;
  },
) {
  if (!refused.audited)
    await recordAudit(sql, {
      operator: request.operator!.login,
      action: refused.action,
      target: refused.target,
      outcome: 'refused',
      detail: { reason: refused.reason },
    });
  return sendPage(
    reply,
    'Refused',
    notice(refused.reason, 'refusal'),
    await viewOf(request, reply),
    refused.status,
  );
}
