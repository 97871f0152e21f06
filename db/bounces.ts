// SQL of the bounce mailbox: is a VERP address one this system handed out?
import type postgres from 'postgres';
import type { MessageRef } from '../shared/message-id';

/**
 * True when the delivery the message id names exists with that token and hands out return paths on `domain`:
 * then the address was ours to give, whatever became of the message since.
 */
export async function handedOutReturnPath(
  sql: postgres.Sql,
  ref: Pick<MessageRef, 'deliveryId' | 'token'>,
  domain: string,
): Promise<boolean> {
  const [row] = await sql`
    select 1 from deliveries
    where id = ${ref.deliveryId} and token = ${ref.token} and return_path_domain = ${domain.toLowerCase()}`;
  return row !== undefined;
}
