// The bounce mailbox read over IMAP, against a real Dovecot on loopback: real-shaped bounce mails APPENDed to the
// mailbox become feedback (the log, the tile, the quarantine read back) or dead letters, and are flagged, moved or
// deleted only after; a mail read again is applied once; the reader comes back after Dovecot restarts; two readers
// of one mailbox apply each mail once.
import { Queue } from 'bullmq';
import { ImapFlow } from 'imapflow';
import { createLogger } from '../shared/logger';
import { feedbackQueue } from '../shared/queues';
import { createProducerConnection } from '../shared/redis';
import { imapSettings, startImapReader, TAKEN_KEYWORD } from '../workers/servers/bounces/imap';
import type { PipelineProcess } from '../workers/start/process';
import { bounceMail, type Sent, sentDelivery as sentDelivery_ } from './helpers/bounce-mail';
import { cli } from './helpers/cli';
import { type DovecotInstance, startDovecot } from './helpers/dovecot';
import { createTestEnv, type TestEnv } from './helpers/env';
import { addOperator } from './helpers/fixtures';
import { startPipeline, waitFor } from './helpers/pipeline';
import { startTestMta, type TestMta } from './helpers/smtp';

let dovecot: DovecotInstance;
let t: TestEnv;
let mta: TestMta;
let pipeline: PipelineProcess;

beforeAll(async () => {
  dovecot = await startDovecot();
  mta = await startTestMta();
  t = await createTestEnv({ MTA_URL: mta.url, BOUNCE_IMAP_URL: dovecot.url, BOUNCE_IMAP_POLL: '1s' });
  pipeline = await startPipeline(t, { roles: ['confirm', 'dispatch', 'feedback', 'retry', 'bounces'] });
  await addOperator(t, 'alice');
}, 120_000);

beforeEach(async () => {
  await t.sql`delete from quarantine`;
});

afterAll(async () => {
  await pipeline?.stop();
  await mta?.close();
  await t?.cleanup();
  await dovecot?.stop();
});

const sentDelivery = (count: number) => sentDelivery_(t, mta, count, '--efs');

/** A client of the test's own, as another mail program would be: APPEND, then flags read back. */
async function mailbox<T>(user: string, work: (imap: ImapFlow) => Promise<T>): Promise<T> {
  const imap = new ImapFlow({
    host: '127.0.0.1',
    port: dovecot.port,
    secure: false,
    auth: { user, pass: dovecot.password },
    logger: false,
  });
  await imap.connect();
  try {
    return await work(imap);
  } finally {
    await imap.logout();
  }
}
const append = (user: string, raws: string[]) =>
  mailbox(user, async (imap) => {
    for (const raw of raws) await imap.append('INBOX', Buffer.from(raw));
  });
/** Every mail of a mailbox with its flags. */
const contents = (user: string, box = 'INBOX') =>
  mailbox(user, async (imap) => {
    const lock = await imap.getMailboxLock(box);
    try {
      const out: { uid: number; flags: string[]; subject: string }[] = [];
      for await (const m of imap.fetch('1:*', { uid: true, flags: true, envelope: true }))
        out.push({ uid: m.uid, flags: [...(m.flags ?? [])], subject: m.envelope?.subject ?? '' });
      return out;
    } catch {
      return []; // an empty mailbox has no 1:*
    } finally {
      lock.release();
    }
  });

const logs = async (id: string) =>
  (await cli(t.env, 'logs', id, '--json')).json<
    { email: string; status: string; failureType: string | null; failureReason: string | null }[]
  >();
const status = async (id: string) =>
  (await cli(t.env, 'status', id, '--json')).json<{ delivered: number; bouncesAndErrors: number }>();
const events = async (id: string) =>
  (await t.sql`select count(*)::int as n from feedback_events where delivery_id = ${id}`)[0]!.n as number;
const bounceLetters = async () =>
  (await t.sql`select reason, payload from dead_letters where queue = 'bounces'`) as unknown as {
    reason: string;
    payload: { raw?: string };
  }[];
const quarantined = async () =>
  (await t.sql`select email, reason from quarantine where quarantined_at is not null order by email`).map(
    (r) => [r.email, r.reason],
  );
const allTaken = (user: string, count: number) => async () => {
  const mails = await contents(user);
  return mails.length === count && mails.every((m) => m.flags.includes(TAKEN_KEYWORD));
};

test('bounce, complaint, auto-reply and unreadable mails in the IMAP mailbox: feedback or dead letters, then flagged', async () => {
  const d = await sentDelivery(3);
  const [bounced, complained, away] = d.sent as [Sent, Sent, Sent];
  const unreadable = `From: someone@example.test\r\nTo: ${away.verp}\r\nSubject: hello\r\nMessage-ID: <hello-${d.id}@example.test>\r\n\r\nJust a note.\r\n`;
  await append(dovecot.user, [
    bounceMail('postfix-failed.eml', bounced),
    bounceMail('arf-complaint.eml', complained),
    bounceMail('auto-reply.eml', away),
    unreadable,
  ]);
  await waitFor(allTaken(dovecot.user, 4), 30_000, 'the four mails flagged as taken');
  // Taken means stored: the events are queued, so the worker applies them shortly.
  await waitFor(async () => (await events(d.id)) >= 3, 20_000, 'the events applied');
  expect((await logs(d.id)).map((l) => [l.status, l.failureType, l.failureReason])).toEqual([
    ['failed', 'hard', 'user unknown'],
    // The complaint keeps the message's status (pending with EFS); the out-of-office answer proves delivery.
    ['pending', null, null],
    ['sent', 'ignored', 'out of office'],
  ]);
  expect(await status(d.id)).toMatchObject({ delivered: 1, bouncesAndErrors: 1 });
  expect(await quarantined()).toEqual([
    [bounced.email, 'user unknown'],
    [complained.email, 'on denylist'],
  ]);
  const kept = (await bounceLetters()).filter((l) => l.payload.raw?.includes(`hello-${d.id}`));
  expect(kept).toHaveLength(1);
  expect(kept[0]!.reason).toMatch(/not a bounce|nothing/);
  expect((await contents(dovecot.user)).every((m) => m.flags.includes('\\Seen'))).toBe(true);
});

test('a mail read again (its flag lost, as after a crash between the enqueue and the flag) is applied once', async () => {
  const d = await sentDelivery(1);
  await append(dovecot.user, [bounceMail('postfix-failed.eml', d.sent[0]!)]);
  const before = (await contents(dovecot.user)).length;
  await waitFor(allTaken(dovecot.user, before), 30_000, 'the mail taken');
  await waitFor(async () => (await events(d.id)) === 1, 20_000, 'the bounce applied');
  const letters = (await bounceLetters()).length;
  // Every mail loses its flag: all are read again, the earlier test's unreadable one too.
  await mailbox(dovecot.user, async (imap) => {
    const lock = await imap.getMailboxLock('INBOX');
    try {
      await imap.messageFlagsRemove('1:*', [TAKEN_KEYWORD]);
    } finally {
      lock.release();
    }
  });
  await waitFor(allTaken(dovecot.user, before), 30_000, 'the mails taken again');
  await new Promise((resolve) => setTimeout(resolve, 1500)); // the worker's turn for any duplicate job
  expect(await events(d.id)).toBe(1);
  expect(await status(d.id)).toMatchObject({ bouncesAndErrors: 1 });
  expect((await bounceLetters()).length).toBe(letters);
});

test('after Dovecot restarts the reader connects again and goes on', async () => {
  const d = await sentDelivery(1);
  await dovecot.restart();
  await append(dovecot.user, [bounceMail('postfix-failed.eml', d.sent[0]!)]);
  const count = (await contents(dovecot.user)).length;
  await waitFor(allTaken(dovecot.user, count), 60_000, 'the mail taken after the restart');
  await waitFor(async () => (await events(d.id)) === 1, 20_000, 'the bounce applied');
  expect((await logs(d.id))[0]).toMatchObject({ status: 'failed', failureReason: 'user unknown' });
});

test('/readyz names the IMAP reader', async () => {
  const ready = async () =>
    (await (await fetch(`http://127.0.0.1:${pipeline.port()}/readyz`)).json()) as Record<string, string>;
  await waitFor(async () => (await ready()).bouncesImap === 'ok', 30_000, 'the reader connected');
  expect(await ready()).toMatchObject({ bounces: 'ok', bouncesImap: 'ok' });
});

describe('readers of their own (BOUNCE_IMAP_AFTER, replicas)', () => {
  let queue: Queue;
  const log = createLogger('silent');
  const redis = createProducerConnection(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
  beforeAll(() => {
    queue = new Queue(feedbackQueue.name, { connection: redis, prefix: t.prefix });
  });
  afterAll(async () => {
    await queue.close();
    redis.disconnect();
  });
  const reader = (user: string, after: string) =>
    startImapReader({
      settings: imapSettings({
        BOUNCE_IMAP_URL: `imap://${user}:${dovecot.password}@127.0.0.1:${dovecot.port}/INBOX`,
        BOUNCE_IMAP_POLL: 1000,
        BOUNCE_IMAP_IDLE: 'on',
        BOUNCE_IMAP_AFTER: after,
      }),
      log,
      sql: t.sql,
      feedbackQueue: queue,
      maxSize: 2 * 1024 * 1024,
    });

  test('move:Processed moves each mail once taken; delete expunges it', async () => {
    const d = await sentDelivery(2);
    await append('mover', [bounceMail('postfix-failed.eml', d.sent[0]!)]);
    await append('deleter', [bounceMail('postfix-failed.eml', d.sent[1]!)]);
    const mover = reader('mover', 'move:Processed');
    const deleter = reader('deleter', 'delete');
    try {
      await waitFor(
        async () => (await contents('mover', 'Processed')).length === 1,
        30_000,
        'the mail moved',
      );
      await waitFor(async () => (await contents('deleter')).length === 0, 30_000, 'the mail deleted');
      expect(await contents('mover')).toEqual([]);
      await waitFor(async () => (await events(d.id)) === 2, 20_000, 'both bounces applied');
      expect(await status(d.id)).toMatchObject({ bouncesAndErrors: 2 });
    } finally {
      await Promise.all([mover.close(), deleter.close()]);
    }
  });

  test('two replicas reading one mailbox apply each mail once', async () => {
    const d = await sentDelivery(6);
    const readers = [reader('pair', 'delete'), reader('pair', 'delete')];
    try {
      await append(
        'pair',
        d.sent.map((s) => bounceMail('postfix-failed.eml', s)),
      );
      await waitFor(async () => (await contents('pair')).length === 0, 30_000, 'every mail taken');
      await waitFor(async () => (await events(d.id)) === 6, 20_000, 'the six bounces applied');
      expect(await status(d.id)).toMatchObject({ bouncesAndErrors: 6 });
      expect(readers.map((r) => r.taken()).reduce((a, b) => a + b)).toBe(6);
    } finally {
      await Promise.all(readers.map((r) => r.close()));
    }
  });
});
