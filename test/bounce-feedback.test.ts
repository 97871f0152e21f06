// Bounce mail through the real pipeline: `campaign feedback dsn` → mta-feedback → the feedback worker, which must
// end each message with the type and reason that `campaign bounce classify` prints for the same mail.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readBounce } from '../shared/bounce';
import { cli } from './helpers/cli';
import type { TestEnv } from './helpers/env';
import { createDelivery } from './helpers/fixtures';
import { waitFor } from './helpers/pipeline';
import { openTestWorld, type TestWorld } from './helpers/world';

let t: TestEnv;
let world: TestWorld;
const dir = mkdtempSync(path.join(tmpdir(), 'bounce-feedback-'));

beforeAll(async () => {
  world = await openTestWorld({ roles: ['confirm', 'dispatch', 'feedback'] });
  t = world.t;
});

afterAll(async () => {
  await world.close();
});

/** A fixture mail with its example message id (and VERP address) replaced by one of ours. */
function mailFor(name: string, messageId: string, replace: [string, string][] = []): string {
  let text = readFileSync(path.join(__dirname, 'fixtures', 'bounces', name), 'utf8');
  const verp = `bounces+${messageId.replace('@', '=')}@bounce.sender.test`;
  text = text.replace(/bounces\+[\d.]+abcdef=mail\.sender\.test@bounce\.sender\.test/g, verp);
  text = text.replace(/\d+\.\d+\.42\.abcdef@mail\.sender\.test/g, messageId);
  for (const [from, to] of replace) text = text.replace(from, to);
  // The recipient a mail names is checked against the message's: the sample's becomes the test's (r<seq>@…).
  const recipient = `r${messageId.split('.')[1]}@example.test`;
  for (const r of readBounce(text).recipients)
    if (r.email)
      text = text.replace(new RegExp(r.email.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), recipient);
  const file = path.join(dir, `${messageId}-${name}`);
  writeFileSync(file, text);
  return file;
}

const recorded = async (id: string) =>
  (await t.sql`select count(*)::int as n from feedback_events where delivery_id = ${id}`)[0]!.n as number;

test('every kind of bounce mail ends as `bounce classify` says, in the tile and the quarantine', async () => {
  const id = await createDelivery(t, 5, '--efs');
  expect((await cli(t.env, 'confirm', id, '--as', 'alice', '--wait')).code).toBe(0);
  const ids = (await t.sql`select message_id from delivery_logs where delivery_id = ${id} order by seq`).map(
    (r) => r.message_id as string,
  );
  const files = [
    mailFor('qmail-text.eml', ids[0]!), // 550 5.1.1 no such user: hard, user unknown
    mailFor('exim-blocked.eml', ids[1]!), // 550 5.7.1 blocklist: soft, spam rejection
    mailFor('arf-abuse.eml', ids[2]!), // an ARF complaint
    mailFor('auto-reply.eml', ids[3]!, [
      ['To: news@sender.test', `To: bounces+${ids[3]!.replace('@', '=')}@b.test`],
    ]),
    mailFor('delivered.eml', ids[4]!), // a success DSN, matched by its VERP address
  ];
  const printed = [];
  for (const file of files) {
    const classified = await cli(t.env, 'bounce', 'classify', file, '--json');
    printed.push(
      classified.json<{ recipients: { type: string | null; reason: string | null }[] }>().recipients[0]!,
    );
    const fed = await cli(t.env, 'feedback', 'dsn', file, '--json');
    expect(fed.stderr).toBe('');
    expect(fed.json()).toMatchObject({ accepted: 1, ignored: 0 });
  }
  await waitFor(async () => (await recorded(id)) >= 5, 20_000, 'five events applied');
  const logs = (await cli(t.env, 'logs', id, '--json')).json<
    { status: string; failureType: string | null; failureReason: string | null }[]
  >();
  expect(printed.map((p) => [p.type, p.reason])).toEqual([
    ['hard', 'user unknown'],
    ['soft', 'spam rejection'],
    ['complaint', 'on denylist'],
    ['ignored', 'out of office'],
    [null, null],
  ]);
  // The worker's verdicts are the command's (a complaint is kept in the quarantine, not the log).
  expect(logs.map((l) => [l.status, l.failureType, l.failureReason])).toEqual([
    ['failed', 'hard', 'user unknown'],
    ['failed', 'soft', 'spam rejection'],
    ['pending', null, null],
    ['sent', 'ignored', 'out of office'], // someone answered: it arrived
    ['sent', null, null],
  ]);
  const quarantined =
    await t.sql`select email, reason from quarantine where quarantined_at is not null order by email`;
  expect(quarantined.map((q) => [q.email, q.reason])).toEqual([
    ['r0@example.test', 'user unknown'],
    ['r2@example.test', 'on denylist'],
  ]);
});

test('a bounce that names no message of ours is a dead letter with the reason; a mail that reports nothing is refused', async () => {
  const raw = readFileSync(path.join(__dirname, 'fixtures', 'bounces', 'qmail-text.eml'), 'utf8').replace(
    /^Message-ID: .*$/m,
    'Message-ID: <someone-else@elsewhere.test>',
  );
  const file = path.join(dir, 'foreign.eml');
  writeFileSync(file, raw);
  expect((await cli(t.env, 'feedback', 'dsn', file, '--json')).json()).toMatchObject({ accepted: 1 });
  const letter = await waitFor(
    async () =>
      (await t.sql`select reason from dead_letters where payload->>'messageId' like 'dsn:unmatched-%'`)[0],
    20_000,
    'the dead letter',
  );
  expect(letter.reason).toMatch(
    /^unknown message: "dsn:unmatched-[0-9a-f]{24}" is not a message id of this system/,
  );
  const note = path.join(dir, 'note.eml');
  writeFileSync(note, 'From: someone@example.com\nSubject: hello\n\njust a note\n');
  const refused = await cli(t.env, 'feedback', 'dsn', note);
  expect(refused.code).toBe(1);
  expect(refused.stderr.trim()).toMatch(/not a bounce, complaint or auto-reply/);
});
