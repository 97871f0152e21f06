// The delivery tile pages the metrics role serves beside /metrics: /deliveries, /deliveries/ID and its JSON.
// Read-only on purpose: the pages ask for no login, so they offer nothing that needs a role (see README).
import type { FastifyReply } from 'fastify';
import type postgres from 'postgres';
import { failuresByReason, listDeliveries } from '../../../db/delivery-page';
import { deliveryStatus } from '../../../db/delivery-status';
import { recurringStatus } from '../../../db/recurring-status';
import type { Logger } from '../../../shared/logger';
import { sendJson } from '../http-server';
import { escapeHtml, listPage, tilePage } from './html';

/** Extra routes of the health server: the answer to a path, or null when the path is not a page. */
export type PageRoutes = (path: string, reply: FastifyReply) => Promise<FastifyReply> | null;

const HTML = 'text/html; charset=utf-8';
const TILE = /^\/deliveries\/(\d{1,18})(\.json)?$/;

export function deliveryPages(sql: postgres.Sql, log: Logger): PageRoutes {
  const html = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).type(HTML).send(body);
  const fail = (reply: FastifyReply, error: Error) => {
    log.warn({ err: error.message }, 'Could not read a delivery page.');
    return html(reply, 503, `<p>The database did not answer: ${escapeHtml(error.message)}</p>`);
  };
  return (path, reply) => {
    if (path === '/deliveries' || path === '/deliveries/')
      return listDeliveries(sql).then(
        (items) => html(reply, 200, listPage(items)),
        (e: Error) => fail(reply, e),
      );
    const match = TILE.exec(path);
    if (!match) return null;
    const id = match[1]!;
    const json = match[2] !== undefined;
    return Promise.all([
      deliveryStatus(sql, id),
      failuresByReason(sql, id),
      json ? null : recurringStatus(sql, id),
    ]).then(
      ([status, failures, recurring]) => {
        if (!status)
          return json
            ? sendJson(reply, 404, { error: `delivery ${id} not found` })
            : html(
                reply,
                404,
                `<p>Delivery ${escapeHtml(id)} not found. <a href="/deliveries">All deliveries</a></p>`,
              );
        if (json) return sendJson(reply, 200, { status, failures });
        return html(reply, 200, tilePage(status, failures, recurring));
      },
      (e: Error) => fail(reply, e),
    );
  };
}
