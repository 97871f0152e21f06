// The delivery tile pages the metrics role serves beside /metrics: /deliveries, /deliveries/ID and its JSON.
// Read-only on purpose: the pages ask for no login, so they offer nothing that needs a role (see README).
import type postgres from 'postgres';
import { failuresByReason, listDeliveries } from '../../../db/delivery-page';
import { deliveryStatus } from '../../../db/delivery-status';
import { recurringStatus } from '../../../db/recurring-status';
import type { Logger } from '../../../shared/logger';
import { escapeHtml, listPage, tilePage } from './html';

/** Sends a response: status, body, content type. */
export type Send = (status: number, body: string, type: string) => void;

/** Extra routes of the health server: returns true when it took the path (and will answer it). */
export type PageRoutes = (path: string, send: Send) => boolean;

const HTML = 'text/html; charset=utf-8';
const JSON_TYPE = 'application/json';
const TILE = /^\/deliveries\/(\d{1,18})(\.json)?$/;

export function deliveryPages(sql: postgres.Sql, log: Logger): PageRoutes {
  const fail = (send: Send, error: Error) => {
    log.warn({ err: error.message }, 'Could not read a delivery page.');
    send(503, `<p>The database did not answer: ${escapeHtml(error.message)}</p>`, HTML);
  };
  return (path, send) => {
    if (path === '/deliveries' || path === '/deliveries/') {
      listDeliveries(sql).then(
        (items) => send(200, listPage(items), HTML),
        (e: Error) => fail(send, e),
      );
      return true;
    }
    const match = TILE.exec(path);
    if (!match) return false;
    const id = match[1]!;
    const json = match[2] !== undefined;
    Promise.all([
      deliveryStatus(sql, id),
      failuresByReason(sql, id),
      json ? null : recurringStatus(sql, id),
    ]).then(
      ([status, failures, recurring]) => {
        if (!status)
          return json
            ? send(404, JSON.stringify({ error: `delivery ${id} not found` }), JSON_TYPE)
            : send(
                404,
                `<p>Delivery ${escapeHtml(id)} not found. <a href="/deliveries">All deliveries</a></p>`,
                HTML,
              );
        if (json) return send(200, JSON.stringify({ status, failures }), JSON_TYPE);
        send(200, tilePage(status, failures, recurring), HTML);
      },
      (e: Error) => fail(send, e),
    );
    return true;
  };
}
