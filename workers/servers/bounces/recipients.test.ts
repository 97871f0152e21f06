// Which envelope recipients the bounce mailbox takes, and what the dispatch asks of an MTA that offers DSN.
import { dsnRequest, envelopeSender } from '../../../shared/message-id';
import { KnownReturnPaths, readRecipient, verpMessageId } from './recipients';

const ID = '2.7.42.0123456789ab@shop.test';
const VERP = envelopeSender('news@shop.test', 'bounces.shop.test', ID);

describe('readRecipient', () => {
  test('a VERP return path names its message, delivery, token and domain', () => {
    expect(readRecipient(VERP)).toEqual({
      kind: 'verp',
      messageId: ID,
      ref: { attempt: 2, seq: 7, deliveryId: '42', token: '0123456789ab' },
      domain: 'bounces.shop.test',
    });
    // The domain is case-blind; the local part is kept as the dispatch wrote it (MTAs keep it too).
    expect(readRecipient(VERP.replace('bounces.shop.test', 'Bounces.Shop.TEST'))).toMatchObject({
      kind: 'verp',
      domain: 'bounces.shop.test',
    });
  });

  test.each([
    'postmaster@bounces.shop.test',
    'bounces+nothing@bounces.shop.test',
    'bounces+2.7.42.xyz=shop.test@bounces.shop.test', // no token of ours
    'bounces+0.7.42.0123456789ab=shop.test@bounces.shop.test', // attempt 0 is never sent
  ])('%s is foreign, with a reason', (address) => {
    expect(readRecipient(address)).toMatchObject({
      kind: 'foreign',
      reason: expect.stringMatching(/return paths/),
    });
  });

  test('a listed address (a feedback loop’s) is taken whatever its case', () => {
    expect(readRecipient('FBL@Bounces.Shop.Test', ['fbl@bounces.shop.test'])).toEqual({ kind: 'listed' });
  });

  test('the first VERP recipient names the message a mail reports on', () => {
    expect(verpMessageId(['fbl@bounces.shop.test', VERP])).toBe(ID);
    expect(verpMessageId(['fbl@bounces.shop.test'])).toBeUndefined();
  });
});

test('KnownReturnPaths keeps at most its limit, the oldest going first', () => {
  const known = new KnownReturnPaths(2);
  const ref = (deliveryId: string) => ({ deliveryId, token: 'ab' });
  known.add(ref('1'), 'd.test');
  known.add(ref('2'), 'd.test');
  known.add(ref('3'), 'd.test');
  expect([
    known.has(ref('1'), 'd.test'),
    known.has(ref('2'), 'd.test'),
    known.has(ref('3'), 'd.test'),
  ]).toEqual([false, true, true]);
  expect(known.has(ref('2'), 'other.test')).toBe(false);
});

describe('dsnRequest', () => {
  test('with EFS every report is asked for; without, failures and delays only', () => {
    expect(dsnRequest(ID, 'r0@example.test', true)).toEqual({
      envid: ID,
      notify: ['SUCCESS', 'FAILURE', 'DELAY'],
      orcpt: 'rfc822;r0@example.test',
    });
    expect(dsnRequest(ID, 'r0@example.test', false).notify).toEqual(['FAILURE', 'DELAY']);
  });

  test('an ENVID over RFC 3461’s 100 characters, or a non-ASCII ORCPT, is left out rather than refused', () => {
    const long = `1.1.1.0123456789ab@${'d'.repeat(100)}.test`;
    expect(dsnRequest(long, 'josé@example.test', true)).toEqual({ notify: ['SUCCESS', 'FAILURE', 'DELAY'] });
  });
});
