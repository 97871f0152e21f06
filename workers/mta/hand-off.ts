// The MTA hand-off shared by first attempts (dispatch) and retries: a set of one delivery's messages is
// rate-limited across replicas, built once per delivery's template, given its attempt's message id and
// VERP sender, and handed over in parallel. Never called inside a database transaction.
import type { DispatchDelivery } from '../../db/dispatch';
import { dsnRequest, envelopeSender, formatMessageId, messageIdDomain } from '../../shared/message-id';
import { BuilderCache } from './builders';
import type { RateLimiter } from './rate-limit';
import type { HandOffResult, MtaTransport } from './transport';

/** One message to hand over: its recipient, personalization and the attempt it is. */
export interface HandOffItem {
  seq: number;
  email: string;
  data: Record<string, string>;
  attempt: number;
}

/** What became of one item: its message id, and the MTA's answer (null: not attempted, validity over). */
export interface HandedOff<T extends HandOffItem> {
  item: T;
  messageId: string;
  result: HandOffResult | null;
}

/** What the hand-off needs: the transport and the rate limit across replicas (null: unlimited). */
export interface MtaDeps {
  transport: MtaTransport;
  rateLimiter: RateLimiter | null;
  now: () => Date;
  /** Messages of one set at the MTA at once (SMTP_POOL_SIZE), so that a stop is seen before each; default all. */
  inFlight?: number;
}

/** Runs `fn` over `items`, at most `limit` at a time, keeping their order. */
async function eachLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/**
 * Hands sets of one delivery's messages to the MTA; `at` is the time the messages were dated. `stopped`
 * is asked before each message: once true, the rest are not handed over, counted in `halted`, and absent
 * from `handed`.
 */
export type HandOffFn = <T extends HandOffItem>(
  delivery: DispatchDelivery,
  items: readonly T[],
  stopped?: () => boolean,
) => Promise<{ at: Date; handed: HandedOff<T>[]; halted: number }>;

export function createHandOff(deps: MtaDeps): HandOffFn {
  const builders = new BuilderCache();
  return async (delivery, items, stopped = () => false) => {
    await deps.rateLimiter?.take(items.length);
    // Read after the rate limit's wait: no attempt is ever made after the validity period.
    const at = deps.now();
    const over = delivery.validUntil !== null && at >= delivery.validUntil;
    const build = builders.get(delivery);
    const domain = messageIdDomain(delivery.sender);
    const all = await eachLimited(items, deps.inFlight ?? items.length, async (item) => {
      if (stopped()) return null;
      const messageId = formatMessageId(
        { deliveryId: delivery.id, seq: item.seq, attempt: item.attempt, token: delivery.token },
        domain,
      );
      if (over) return { item, messageId, result: null };
      const result = await deps.transport.send(
        {
          from: envelopeSender(delivery.sender, delivery.returnPathDomain, messageId),
          to: item.email,
          // Asked only of an MTA offering DSN: the reports the bounce mailbox turns into feedback.
          dsn: dsnRequest(messageId, item.email, delivery.efs),
        },
        build(item, messageId, at),
      );
      return { item, messageId, result };
    });
    const handed = all.filter((h) => h !== null);
    return { at, handed, halted: all.length - handed.length };
  };
}
