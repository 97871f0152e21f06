// Operator passwords: a hash verifies its own password only, and never the absence of one.
import { hashPassword, passwordProblem, verifyPassword } from './password';

test('a hash verifies its password, not another, and carries no trace of the password', async () => {
  const hash = await hashPassword('correct horse battery');
  expect(hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  expect(hash).not.toContain('horse');
  expect(await verifyPassword('correct horse battery', hash)).toBe(true);
  expect(await verifyPassword('correct horse batterY', hash)).toBe(false);
  expect(await hashPassword('correct horse battery')).not.toBe(hash);
});

test('an operator without a password, or with a malformed hash, never logs in', async () => {
  expect(await verifyPassword('', null)).toBe(false);
  expect(await verifyPassword('anything at all', 'plain')).toBe(false);
});

test('a password shorter than 12 characters is refused with the reason', () => {
  expect(passwordProblem('short')).toBe('the password is too short; give at least 12 characters');
  expect(passwordProblem('long enough pass')).toBeNull();
});
