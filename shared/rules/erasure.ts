// What an erased address becomes (GDPR art. 17): a pseudonym derived from its hash, recognisable at import.
import { createHash } from 'node:crypto';

/** The reserved domain (RFC 2606) of every pseudonym: no MTA delivers to it. */
export const ERASED_DOMAIN = 'erased.invalid';
const PREFIX = 'erased-';

/**
 * The pseudonym of a normalized address: `erased-<sha256 hex of its UTF-8 bytes>@erased.invalid`. The
 * import computes the same value in SQL (db/import.ts), so the two must stay in step.
 */
export function erasedPseudonym(normalizedEmail: string): string {
  const hash = createHash('sha256').update(normalizedEmail, 'utf8').digest('hex');
  return `${PREFIX}${hash}@${ERASED_DOMAIN}`;
}

/** Whether an address is an erasure's pseudonym: nothing is ever sent to it. */
export function isErasedAddress(email: string): boolean {
  return email.startsWith(PREFIX) && email.endsWith(`@${ERASED_DOMAIN}`);
}

/**
 * A PostgreSQL regular expression (ARE) matching the address in free text, case-insensitive with the `i`
 * flag, with its `@` written plainly or URL-encoded (`%40`, as a click URL carries it).
 */
export function addressPattern(normalizedEmail: string): string {
  const [local, domain] = splitAt(normalizedEmail);
  return `${escapeRegex(local)}(@|%40)${escapeRegex(domain)}`;
}

function splitAt(email: string): [string, string] {
  const at = email.lastIndexOf('@');
  return [email.slice(0, at), email.slice(at + 1)];
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
