// Which envelope recipients the bounce mailbox accepts: the VERP return paths the dispatch hands out (and any
// address the operator listed), read without I/O; whether the delivery behind one exists is asked of the database.
import { type MessageRef, parseMessageId, parseVerp } from '../../../shared/message-id';

/** What an envelope recipient of a bounce mail is to us. */
export type BounceRecipient =
  | { kind: 'verp'; messageId: string; ref: MessageRef; domain: string }
  | { kind: 'listed' }
  | { kind: 'foreign'; reason: string };

/** Reads an RCPT TO address: a VERP return path of ours, an address of BOUNCE_ADDRESSES, or neither. */
export function readRecipient(address: string, listed: readonly string[] = []): BounceRecipient {
  const lower = address.trim().toLowerCase();
  if (listed.includes(lower)) return { kind: 'listed' };
  const messageId = parseVerp(address);
  const ref = messageId ? parseMessageId(messageId) : null;
  if (!messageId || !ref)
    return {
      kind: 'foreign',
      reason:
        'this mailbox takes only the return paths this system hands out (bounces+<message id>@<domain>)',
    };
  return { kind: 'verp', messageId, ref, domain: lower.slice(lower.lastIndexOf('@') + 1) };
}

/** The message the first VERP recipient names: a bounce is sent to one message's return path. */
export function verpMessageId(addresses: readonly string[]): string | undefined {
  for (const address of addresses) {
    const r = readRecipient(address);
    if (r.kind === 'verp') return r.messageId;
  }
  return undefined;
}

/** Every message the VERP recipients name, once each, in their order. */
export function verpMessages(addresses: readonly string[]): { messageId: string; ref: MessageRef }[] {
  const seen = new Map<string, MessageRef>();
  for (const address of addresses) {
    const r = readRecipient(address);
    if (r.kind === 'verp' && !seen.has(r.messageId)) seen.set(r.messageId, r.ref);
  }
  return [...seen].map(([messageId, ref]) => ({ messageId, ref }));
}

/**
 * Remembers the deliveries found to hand out a return path, so that a burst of bounces for one delivery costs
 * one query. Only positive answers are kept: a delivery never stops having handed its addresses out.
 */
export class KnownReturnPaths {
  private readonly known = new Map<string, true>();

  constructor(private readonly limit = 10_000) {}

  has(ref: Pick<MessageRef, 'deliveryId' | 'token'>, domain: string): boolean {
    return this.known.has(`${ref.deliveryId}.${ref.token}@${domain}`);
  }

  add(ref: Pick<MessageRef, 'deliveryId' | 'token'>, domain: string): void {
    if (this.known.size >= this.limit) this.known.delete(this.known.keys().next().value!);
    this.known.set(`${ref.deliveryId}.${ref.token}@${domain}`, true);
  }
}
