// Operator passwords: scrypt (memory-hard, in node's crypto, no native addon to build), with a salt per password
// and the cost stored beside the hash, so that a later, higher cost still verifies the old hashes.
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/** N = 2^15, r = 8: 32 MiB and about 50-100 ms of one core per hash (OWASP's scrypt minimum is 2^17/8/1 for 128 MiB; 2^15 keeps logins cheap on a 2-core machine while staying memory-hard). */
const COST = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
/** The memory a hash may use: above 128 * N * r, which node refuses to exceed by default (32 MiB). */
const MAX_MEMORY = 128 * 1024 * 1024;
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

function derive(password: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...cost, maxmem: MAX_MEMORY };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

/** Why this password cannot be set, or null. */
export function passwordProblem(password: string): string | null {
  if (password.length < MIN_PASSWORD_LENGTH)
    return `the password is too short; give at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH)
    return `the password is too long; give at most ${MAX_PASSWORD_LENGTH} characters`;
  return null;
}

/** `scrypt$N$r$p$salt$hash` (base64): what the operators table stores. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, COST);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64'), key.toString('base64')].join('$');
}

// A login without a stored hash still pays for one, so that the answer's timing does not tell which logins exist.
let dummy: Promise<string> | undefined;

/** True when `password` is the one `stored` was made from; a null `stored` (no password set) never matches. */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  if (password.length > MAX_PASSWORD_LENGTH) return false;
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  const parts = (stored ?? (await dummy)).split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const expected = Buffer.from(parts[5]!, 'base64');
  const key = await derive(password, Buffer.from(parts[4]!, 'base64'), { N, r, p });
  return stored !== null && key.length === expected.length && timingSafeEqual(key, expected);
}
