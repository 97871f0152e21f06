// One of a thing is singular, every other count (zero included) plural.
import { count } from './plural';

test('1 is singular, 0 and 2 are plural, an irregular plural is given', () => {
  expect(count(1, 'message')).toBe('1 message');
  expect(count(0, 'message')).toBe('0 messages');
  expect(count(2, 'recipient')).toBe('2 recipients');
  expect(count(1, 'delivery', 'deliveries')).toBe('1 delivery');
  expect(count(3, 'delivery', 'deliveries')).toBe('3 deliveries');
});
