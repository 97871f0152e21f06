// SQL of the bounce mailbox: is a VERP address one this system handed out?
import type postgres from 'postgres';
import { type MessageRef, tokenMatches } from '../shared/message-id';

/**
 * True when the delivery the message id names exists, gave that message its token, and hands out return paths on `domain`:
 * then the address was ours to give, whatever became of the message since.
 */
export async function handedOutReturnPath(
  sql: postgres.Sql,
  ref: MessageRef,
  domain: string,
): Promise<boolean> {
  const [row] = await sql`
    select token, message_key from deliveries
    where id = ${ref.deliveryId} and return_path_domain = ${domain.toLowerCase()}`;
  // The token is the message's own (an HMAC under the delivery's key), or the delivery's before keys.
  return row !== undefined && tokenMatches({ token: row.token, messageKey: row.message_key }, ref);
}

/**
 * The address each message was sent to (its delivery log row), for the messages a mail's VERP recipients name:
 * a mail sent to several return paths at once reports on several messages. Keyed by message id.
 */
export async function recipientsOfMessages(
  sql: postgres.Sql,
  messages: { messageId: string; ref: MessageRef }[],
): Promise<Map<string, string>> {
  if (messages.length === 0) return new Map();
  const rows = await sql<{ delivery_id: string; seq: number; email: string }[]>`
    select delivery_id::text, seq, email from delivery_logs
    where (delivery_id, seq) in (
      select * from unnest(${messages.map((m) => m.ref.deliveryId)}::bigint[], ${messages.map((m) => m.ref.seq)}::int[]))`;
  const email = new Map(rows.map((r) => [`${r.delivery_id}.${r.seq}`, r.email.toLowerCase()]));
  return new Map(
    messages.flatMap((m) => {
      const e = email.get(`${m.ref.deliveryId}.${m.ref.seq}`);
      return e ? [[m.messageId, e] as const] : [];
    }),
  );
}
