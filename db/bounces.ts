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
