// The pseudonym of an erased address and the pattern that finds it in free text.
import { addressPattern, erasedPseudonym, isErasedAddress } from './erasure';

test('the pseudonym is the sha256 of the normalized address at the reserved domain', () => {
  expect(erasedPseudonym('a.b+c@example.com')).toBe(
    'erased-3493b235245905ac7ffe9e35571297d0b8c38abfc596d83336122d769477d4d1@erased.invalid',
  );
  expect(isErasedAddress(erasedPseudonym('a.b+c@example.com'))).toBe(true);
  expect(isErasedAddress('erased@example.com')).toBe(false);
});

test('the pattern escapes the address and accepts a URL-encoded at sign', () => {
  const pattern = addressPattern('a.b+c@example.com');
  expect(pattern).toBe('a\\.b\\+c(@|%40)example\\.com');
  const re = new RegExp(pattern, 'i');
  expect(re.test('550 <A.B+C@Example.com>: unknown')).toBe(true);
  expect(re.test('https://x.test/?u=a.b%2Bc%40example.com')).toBe(false);
  expect(re.test('https://x.test/?u=a.b+c%40example.com')).toBe(true);
  expect(re.test('axb+c@example.com')).toBe(false);
});
