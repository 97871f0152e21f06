// A real Postfix as the pipeline's MTA, end to end: it delivers ok.test to a loopback mailbox server, bounces
// unknown.test with 5.1.1 User unknown, defers full.test with 4.2.2 Mailbox full; its DSNs (failed, delayed,
// relayed, expired) go to the return path, i.e. to the pipeline's bounce mailbox, and from there to the log and
// the tile, with EFS and without. Its queue timers are seconds here (days in production): the queue lifetime L
// is longer than the short deliveries' validity, and shorter than the long ones', as docs/CONTRACT.md describes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { PipelineProcess } from '../workers/start/process';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { addOperator } from './helpers/fixtures';
import { startPipeline, waitFor } from './helpers/pipeline';
import { freePort, type PostfixInstance, startPostfix } from './helpers/postfix';
import { startTestMta, type TestMta } from './helpers/smtp';

jest.setTimeout(300_000);

const RETURN_PATH = 'bounces.test';
/** Postfix's maximal_queue_lifetime: it gives up on a deferred message (and bounces it) this long after arrival. */
const LIFETIME_S = 30;
/** The pipeline's retry interval after a soft bounce. */
const RETRY_S = 6;
/** Short deliveries end while Postfix still retries (validity < L); long ones retry once after its bounce. */
const SHORT_S = 15;
const LONG_S = 55;

let mailbox: TestMta;
let postfix: PostfixInstance;
let t: TestEnv;
let pipeline: PipelineProcess;
/** The recipients files. */
const dir = mkdtempSync(path.join(tmpdir(), 'campaign-postfix-rcpt-'));

beforeAll(async () => {
  // The recipients' server; without the DSN extension, so Postfix itself reports a success ("relayed").
  mailbox = await startTestMta(() => undefined, { hideDSN: true });
  const bouncePort = await freePort();
  postfix = await startPostfix({
    transports: {
      'ok.test': `smtp:[127.0.0.1]:${mailbox.port}`,
      'unknown.test': 'error:5.1.1 User unknown',
      'full.test': 'retry:4.2.2 Mailbox full',
      [RETURN_PATH]: `smtp:[127.0.0.1]:${bouncePort}`,
    },
    settings: {
      queue_run_delay: '1s',
      minimal_backoff_time: '1s',
      maximal_backoff_time: '2s',
      maximal_queue_lifetime: `${LIFETIME_S}s`,
      bounce_queue_lifetime: `${LIFETIME_S}s`,
      // A delay report as soon as a message is deferred (Postfix's default: none).
      delay_warning_time: '1s',
    },
  });
  t = await createTestEnv({ MTA_URL: postfix.url, BOUNCE_PORT: String(bouncePort) });
  pipeline = await startPipeline(t);
  await addOperator(t, 'alice');
});

afterAll(async () => {
  await pipeline?.stop();
  await postfix?.stop();
  await mailbox?.close();
  await t?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

interface Delivery {
  id: string;
  name: string;
  efs: boolean;
  validity: number;
  emails: { ok1: string; ok2: string; unknown: string; full: string };
}

async function create(name: string, efs: boolean, validity: number): Promise<Delivery> {
  const emails = {
    ok1: `${name}-1@ok.test`,
    ok2: `${name}-2@ok.test`,
    unknown: `${name}@unknown.test`,
    full: `${name}@full.test`,
  };
  const file = path.join(dir, `${name}.csv`);
  writeFileSync(file, `email\n${Object.values(emails).join('\n')}\n`);
  const r = await cli(
    t.env,
    'delivery',
    'create',
    '--label',
    name,
    '--recipients',
    file,
    '--from',
    'news@shop.test',
    '--return-path-domain',
    RETURN_PATH,
    '--validity',
    `${validity}s`,
    '--retry-interval',
    `${RETRY_S}s`,
    ...(efs ? ['--efs'] : []),
    '--json',
  );
  if (r.code !== 0) throw new Error(r.stderr);
  return { id: r.json<{ id: string }>().id, name, efs, validity, emails };
}

interface Row {
  email: string;
  status: string;
  attempts: number;
  failure_type: string | null;
  failure_reason: string | null;
  outcome_kind: string | null;
  outcome_attempt: number | null;
}

const rows = async (d: Delivery) => {
  const list = await t.sql<Row[]>`
    select email, status, attempts, failure_type, failure_reason, outcome_kind, outcome_attempt
    from delivery_logs where delivery_id = ${d.id}`;
  const by = (email: string) => list.find((r) => r.email === email);
  return {
    ok1: by(d.emails.ok1),
    ok2: by(d.emails.ok2),
    unknown: by(d.emails.unknown),
    full: by(d.emails.full),
  };
};

/** The tile as the delivery page serves it. */
const tile = async (d: Delivery) => {
  const response = await fetch(`http://127.0.0.1:${pipeline.port()}/deliveries/${d.id}.json`);
  return ((await response.json()) as { status: Record<string, unknown> }).status;
};

interface Event {
  type: string;
  attempt: number;
  occurred_at: Date;
  enhanced_status: string | null;
  diagnostic: string | null;
  failure_type: string | null;
  failure_reason: string | null;
  outcome: string;
  email: string;
}

const events = (d: Delivery) =>
  t.sql<Event[]>`
    select f.type, f.attempt, f.occurred_at, f.enhanced_status, f.diagnostic, f.failure_type, f.failure_reason,
           f.outcome, l.email
    from feedback_events f join delivery_logs l on l.delivery_id = f.delivery_id and l.seq = f.seq
    where f.delivery_id = ${d.id} order by f.received_at`;

const contactDate = async (d: Delivery) => {
  const [row] = await t.sql`select valid_until from deliveries where id = ${d.id}`;
  return new Date((row!.valid_until as Date).getTime() - d.validity * 1000);
};

const finished = (d: Delivery) =>
  waitFor(async () => (await tile(d)).state === 'finished', (d.validity + 120) * 1000, `${d.name} to finish`);

test('Postfix end to end: its DSNs reach the log and the tile as DESIGN.md says, with and without EFS', async () => {
  // Every delivery prepared before any is sent: a user unknown quarantines its address at once.
  const shortPlain = await create('short-plain', false, SHORT_S);
  const shortEfs = await create('short-efs', true, SHORT_S);
  const longPlain = await create('long-plain', false, LONG_S);
  const longEfs = await create('long-efs', true, LONG_S);
  const all = [shortPlain, shortEfs, longPlain, longEfs];
  for (const d of all) {
    const r = await cli(t.env, 'confirm', d.id, '--as', 'alice', '--wait', '--json');
    if (r.code !== 0) throw new Error(r.stderr);
  }

  // Handed over: Postfix relays ok.test to the mailbox server, with our ids in the headers.
  await waitFor(async () => mailbox.received.length >= 8, 60_000, 'the mailbox server to get 8 messages');
  expect(mailbox.received.every((m) => m.messageId !== null)).toBe(true);

  // While Postfix still retries full.test: its delay report is `delayed` (sent without EFS, failed with EFS), the
  // user unknown is a hard failure, and with EFS Postfix's success reports made the ok.test messages delivered.
  await Promise.all(
    [shortPlain, shortEfs].map(async (d) => {
      const seen = await waitFor(
        async () => {
          const [r, now] = [await rows(d), await tile(d)];
          const okDone = !d.efs || (r.ok1?.status === 'sent' && r.ok2?.status === 'sent');
          if (now.state === 'finished')
            throw new Error(`${d.name} finished before its delay report was seen`);
          return r.full?.outcome_kind === 'delayed' && r.unknown?.status === 'failed' && okDone && { r, now };
        },
        60_000,
        `${d.name}: delay report and user unknown`,
      );
      expect(seen.r.unknown).toMatchObject({ failure_type: 'hard', failure_reason: 'user unknown' });
      expect(seen.r.full!.status).toBe(d.efs ? 'failed' : 'sent');
      expect(seen.now).toMatchObject(
        d.efs
          ? { delivered: 2, deliveredRate: 0.5, bouncesAndErrors: 2, bouncesAndErrorsRate: 0.5 }
          : { delivered: 3, deliveredRate: 0.75, bouncesAndErrors: 1, bouncesAndErrorsRate: 0.25 },
      );
    }),
  );

  // The short deliveries end while full.test is only `delayed`: not delivered, in both modes.
  for (const d of [shortPlain, shortEfs]) {
    await finished(d);
    const r = await rows(d);
    expect(r.full).toMatchObject({ status: 'failed', attempts: 1, failure_type: 'soft' });
    expect(await tile(d)).toMatchObject({
      delivered: 2,
      deliveredRate: 0.5,
      bouncesAndErrors: 2,
      bouncesAndErrorsRate: 0.5,
    });
  }

  // The long ones: Postfix gives up on full.test after its queue lifetime (Action: failed, 4.2.2); the pipeline
  // retries a retry interval after that report, and the retry is again only delayed when the validity ends.
  for (const d of [longPlain, longEfs]) {
    await finished(d);
    const r = await rows(d);
    expect(r.full).toMatchObject({ status: 'failed', attempts: 2, failure_type: 'soft' });
    expect(await tile(d)).toMatchObject({
      delivered: 2,
      deliveredRate: 0.5,
      bouncesAndErrors: 2,
      bouncesAndErrorsRate: 0.5,
    });
    const list = await events(d);
    const expired = list.find(
      (e) => e.email === d.emails.full && e.type === 'soft_bounce' && e.attempt === 1,
    );
    expect(expired).toMatchObject({
      enhanced_status: '4.2.2',
      diagnostic: 'Mailbox full',
      failure_type: 'soft',
      failure_reason: 'mailbox full',
    });
    // Its time is the report's Date: (Postfix writes no Last-Attempt-Date), at least L after the message arrived,
    // never the Arrival-Date (when attempt 1 reached Postfix): else the retry would have been due at once.
    const contact = await contactDate(d);
    expect(expired!.occurred_at.getTime()).toBeGreaterThanOrEqual(
      contact.getTime() + (LIFETIME_S - 1) * 1000,
    );
    // Attempt 2 reached Postfix a retry interval after that report: Postfix's delay report on it (dated to the
    // second, after the arrival) says so.
    const delayed2 = list.find((e) => e.email === d.emails.full && e.type === 'delayed' && e.attempt === 2);
    expect(delayed2!.occurred_at.getTime()).toBeGreaterThanOrEqual(
      expired!.occurred_at.getTime() + (RETRY_S - 1) * 1000,
    );
  }

  for (const d of all) {
    const list = await events(d);
    // The diagnostic-type prefix (X-Postfix;) is gone.
    expect(list.find((e) => e.email === d.emails.unknown)).toMatchObject({
      type: 'hard_bounce',
      enhanced_status: '5.1.1',
      diagnostic: 'User unknown',
    });
    expect(list.every((e) => !/^x-postfix|^smtp;/i.test(e.diagnostic ?? ''))).toBe(true);
    // Postfix reports successes only where they were asked for (NOTIFY=SUCCESS, with EFS).
    expect(
      list
        .filter((e) => e.type === 'delivered')
        .map((e) => e.email)
        .sort(),
    ).toEqual(d.efs ? [d.emails.ok1, d.emails.ok2].sort() : []);
  }

  // Postfix's final word on the short deliveries' full.test comes after their end: recorded, changing nothing.
  for (const d of [shortPlain, shortEfs]) {
    const late = await waitFor(
      async () => (await events(d)).find((e) => e.email === d.emails.full && e.type === 'soft_bounce'),
      (LIFETIME_S + 60) * 1000,
      `${d.name}: Postfix's expiry report`,
    );
    expect(late.outcome).toBe('after-finish');
    expect(await tile(d)).toMatchObject({ delivered: 2, bouncesAndErrors: 2 });
  }

  // Every report Postfix sent was understood: nothing in the bounce mailbox's dead letters.
  const dead = await cli(t.env, 'dead-letters', '--queue', 'bounces', '--json');
  expect(dead.json()).toEqual([]);
});
