// Replaying every dead letter through one path (workers/servers/replay.ts): what the feedback receiver kept (a
// provider's body, or one refused event) is read again by its provider's translator; a mail the bounce mailbox
// kept is replayed from the console as from the command line; a letter is replayed once, even by two at once;
// every replay is an audit row.
import { userInfo } from 'node:os';
import { recordDeadLetters } from '../db/dead-letters';
import { deadLetterPayload } from '../workers/servers/bounces/receive';
import { BOUNCE_DOMAIN, bounceMail, type Sent } from './helpers/bounce-mail';
import { cli, cliProcess } from './helpers/cli';
import { addConsoleOperator, ConsoleClient } from './helpers/console';
import { createDelivery } from './helpers/fixtures';
import { waitFor } from './helpers/pipeline';
import { openTestWorld, type TestWorld } from './helpers/world';

const TOKEN = 'replay-test-token-0123456789';
const ACTOR = `cli:${userInfo().username}`;

let w: TestWorld;

beforeAll(async () => {
  w = await openTestWorld({
    env: { FEEDBACK_TOKEN: TOKEN, CONSOLE_LOGIN_RATE: '200' },
    roles: ['confirm', 'dispatch', 'feedback', 'feedback-http', 'console'],
  });
  await addConsoleOperator(w.t, 'rita', ['replay-dead-letters', 'read-addresses']);
});

// Tests reuse addresses (r0@example.test): one test's user unknown must not exclude the next one's recipient.
beforeEach(async () => {
  await w.t.sql`delete from quarantine`;
});

afterAll(async () => {
  await w?.close();
});

/** A delivery sent with VERP return paths (EFS on, so a bounce moves delivered % only by what it says). */
async function sent(count: number): Promise<{ id: string; sent: Sent[] }> {
  const id = await createDelivery(w.t, count, '--efs', '--return-path-domain', BOUNCE_DOMAIN);
  const r = await cli(w.t.env, 'confirm', id, '--as', 'alice', '--wait');
  if (r.code !== 0) throw new Error(r.stderr);
  const rows = await w.t
    .sql`select email, message_id from delivery_logs where delivery_id = ${id} order by seq`;
  return {
    id,
    sent: rows.map((row) => ({
      email: row.email,
      id: row.message_id,
      verp: w.mta.received.find((m) => m.messageId === row.message_id)!.from,
    })),
  };
}

const post = async (provider: string, body: string, contentType = 'application/json') => {
  const res = await fetch(`http://127.0.0.1:${w.pipeline.feedbackPort()}/feedback/${provider}`, {
    method: 'POST',
    body,
    headers: { 'content-type': contentType, 'x-feedback-token': TOKEN },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const letters = (queue: string) =>
  w.t
    .sql`select id::text, job_id, reason, payload, replayed_at from dead_letters where queue = ${queue} order by id`;
const status = async (id: string) =>
  (await cli(w.t.env, 'status', id, '--json')).json<{ delivered: number; bouncesAndErrors: number }>();
const events = async (id: string) =>
  (await w.t.sql`select count(*)::int as n from feedback_events where delivery_id = ${id}`)[0]!.n as number;
const audits = (target: string) =>
  w.t
    .sql`select operator, outcome, detail from audit_log where action = 'replay' and target = ${target} order by id`;

test('a KumoMTA record the receiver refused is read again once fixed; two replays at once make one', async () => {
  const d = await sent(1);
  // A Bounce record without a timestamp: refused alone (400), kept under feedback-http/kumomta.
  const bounce = {
    type: 'Bounce',
    id: `k-${d.id}`,
    num_attempts: 1,
    recipient: d.sent[0]!.email,
    headers: { 'X-Campaign-Message-Id': d.sent[0]!.id },
    response: { code: 550, enhanced_code: { class: 5, subject: 1, detail: 1 }, content: 'No such user' },
  };
  expect((await post('kumomta', JSON.stringify(bounce))).status).toBe(400);
  const [kept] = (await letters('feedback-http/kumomta')).filter((l) => l.payload.id === bounce.id);
  expect(kept!.reason).toMatch(/no id or no timestamp/);

  // Replayed as it is, it is refused again: a new dead letter with the reason, the old one replayed.
  const again = await cli(w.t.env, 'dead-letters', 'replay', kept!.id, '--json');
  expect(again.code).toBe(0);
  const first = again.json<{ deadLetters: string[]; refused: string[]; events: number }>();
  expect(first).toMatchObject({ events: 0, deadLetters: [expect.any(String)] });
  expect(first.refused[0]).toMatch(/no id or no timestamp/);

  // The operator fixes the kept record (here: the timestamp it lacked); two replays at once make one.
  const fixed = first.deadLetters[0]!;
  const at = Math.floor(Date.now() / 1000);
  await w.t
    .sql`update dead_letters set payload = payload || ${w.t.sql.json({ timestamp: at })} where id = ${fixed}`;
  // Two processes, as two operators' shells would be.
  const both = await Promise.all([
    cliProcess(w.t.env, 'dead-letters', 'replay', fixed, '--json'),
    cliProcess(w.t.env, 'dead-letters', 'replay', fixed, '--json'),
  ]);
  expect(both.map((r) => r.code).sort()).toEqual([0, 1]);
  const ok = both.find((r) => r.code === 0)!.json<Record<string, unknown>>();
  expect(ok).toMatchObject({ id: fixed, queue: 'mta-feedback', events: 1, deadLetters: [] });
  expect(both.find((r) => r.code === 1)!.stderr).toMatch(/was replayed already/);

  await waitFor(async () => (await events(d.id)) === 1, 20_000, 'the replayed bounce applied');
  expect(await status(d.id)).toMatchObject({ delivered: 0, bouncesAndErrors: 1 });
  // A third replay is refused too, and the event is counted once.
  expect((await cli(w.t.env, 'dead-letters', 'replay', fixed)).code).toBe(1);
  expect(await events(d.id)).toBe(1);
  expect(await status(d.id)).toMatchObject({ bouncesAndErrors: 1 });

  expect((await audits(fixed)).map((a) => [a.operator, a.outcome])).toEqual([
    [ACTOR, 'accepted'],
    [ACTOR, 'refused'],
    [ACTOR, 'refused'],
  ]);
  expect((await audits(kept!.id))[0]).toMatchObject({
    operator: ACTOR,
    outcome: 'accepted',
    detail: { deadLetters: [fixed] },
  });
});

test('a body the receiver could not read is kept whole and read again, as if the provider posted it now', async () => {
  const d = await sent(1);
  // A bounce mail posted as JSON: "the body is not JSON", kept as {contentType, body}.
  const raw = bounceMail('postfix-failed.eml', d.sent[0]!);
  expect((await post('generic', raw)).status).toBe(400);
  const [kept] = (await letters('feedback-http/generic')).filter((l) => l.payload.body === raw);
  expect(kept!.reason).toMatch(/^bad generic body: the body is not JSON/);
  // Fixed: the content type it should have had; the replay reads the DSN.
  await w.t.sql`
    update dead_letters set payload = jsonb_set(payload, '{contentType}', '"message/rfc822"') where id = ${kept!.id}`;
  const r = await cli(w.t.env, 'dead-letters', 'replay', kept!.id, '--json');
  expect(r.code).toBe(0);
  expect(r.json()).toMatchObject({ queue: 'mta-feedback', events: 1, jobIds: [expect.any(String)] });
  await waitFor(async () => (await events(d.id)) === 1, 20_000, 'the DSN applied');
  expect(await status(d.id)).toMatchObject({ bouncesAndErrors: 1 });
  expect((await letters('feedback-http/generic')).find((l) => l.id === kept!.id)!.replayed_at).not.toBeNull();
});

test('the console replays a mail the bounce mailbox kept, through the same path, audited as the operator', async () => {
  const d = await sent(1);
  const [row] = await w.t.sql`
    insert into dead_letters (queue, job_id, reason, payload)
    values ('bounces', ${`mail-console-${d.id}`}, 'unreadable bounce mail: (an older reader)',
      ${w.t.sql.json(deadLetterPayload({ raw: Buffer.from(bounceMail('postfix-failed.eml', d.sent[0]!)), mailFrom: '', rcptTo: [d.sent[0]!.verp] }) as never)})
    returning id::text`;
  const id = row!.id as string;
  const c = new ConsoleClient(`http://127.0.0.1:${w.pipeline.consolePort()}`);
  expect((await c.login('rita')).status).toBe(303);
  const page = await c.get('/console/dead-letters');
  expect(page.text).toContain(`/console/dead-letters/${id}/replay`);
  const answer = await c.post(`/console/dead-letters/${id}/replay`);
  expect([answer.status, answer.location]).toEqual([303, `/console/dead-letters?replayed=${id}`]);
  await waitFor(async () => (await events(d.id)) === 1, 20_000, 'the replayed mail applied');
  expect(await status(d.id)).toMatchObject({ delivered: 0, bouncesAndErrors: 1 });

  // Twice: refused (409) with the reason, and audited once as refused.
  await c.get('/console/dead-letters');
  const twice = await c.post(`/console/dead-letters/${id}/replay`);
  expect(twice.status).toBe(409);
  expect(twice.text).toMatch(/was replayed already/);
  expect((await audits(id)).map((a) => [a.operator, a.outcome])).toEqual([
    ['rita', 'accepted'],
    ['rita', 'refused'],
  ]);
  expect(await events(d.id)).toBe(1);
});

test('an unknown id is refused and audited; nothing else changes', async () => {
  const r = await cli(w.t.env, 'dead-letters', 'replay', '999999');
  expect([r.code, r.stderr]).toEqual([1, 'campaign: dead letter 999999 not found\n']);
  expect((await audits('999999')).map((a) => a.outcome)).toEqual(['refused']);
});

// recordDeadLetters is imported to keep the helper's contract visible: the same refused payload kept again after
// its replay is a new letter (replayed ones do not count as the same).
test('the same refused payload is kept again after its letter was replayed', async () => {
  const entry = {
    queue: 'feedback-http/kumomta',
    jobId: 'http-kumomta-refused-x',
    reason: 'r',
    payload: { a: 1 },
  };
  const [id] = await recordDeadLetters(w.t.sql, [entry]);
  expect(await recordDeadLetters(w.t.sql, [entry])).toEqual([]);
  await w.t.sql`update dead_letters set replayed_at = now() where id = ${id!}`;
  expect(await recordDeadLetters(w.t.sql, [entry])).toHaveLength(1);
});
