// The reason decides the type, through the real pipeline: whatever a feedback event declares, its failure reason
// decides whether it is retried (soft), final (hard) or ignored, in both EFS modes and in the quarantine.
import { feedbackQueue } from '../shared/queues';
import { cli } from './helpers/cli';
import type { TestEnv } from './helpers/env';
import { createDelivery } from './helpers/fixtures';
import { jobOutcome, testQueue } from './helpers/pipeline';
import { openTestWorld, type TestWorld } from './helpers/world';

let t: TestEnv;
let world: TestWorld;
let producer: ReturnType<typeof testQueue>;

beforeAll(async () => {
  // Without the retry role: the tests look at what feedback records and schedules, before any retry runs.
  world = await openTestWorld({ roles: ['confirm', 'dispatch', 'feedback'] });
  t = world.t;
  producer = testQueue(t, feedbackQueue.name);
});

afterAll(async () => {
  await producer.close();
  await world.close();
});

type Outcome = 'retried' | 'final' | 'ignored';
interface Case {
  proves: string;
  event: Record<string, unknown>;
  type: 'hard' | 'soft' | 'ignored';
  reason: string;
  outcome: Outcome;
  /** The address's quarantine entry afterwards: counting (one counted failure), quarantined at once, or none. */
  quarantine: 'counting' | 'quarantined' | 'none';
}

// biome-ignore format: one case per row reads as a table
const cases: Case[] = [
  { proves: "docs/CONTRACT.md: a hard_bounce with 552 5.2.2 mailbox full is soft, retried, counted as soft", event: { type: 'hard_bounce', smtpCode: 552, enhancedStatus: '5.2.2', diagnostic: 'mailbox full' }, type: 'soft', reason: 'mailbox full', outcome: 'retried', quarantine: 'counting' },
  { proves: 'a soft_bounce with 550 5.1.1 user unknown is hard, final, quarantined at once', event: { type: 'soft_bounce', smtpCode: 550, enhancedStatus: '5.1.1', diagnostic: 'user unknown' }, type: 'hard', reason: 'user unknown', outcome: 'final', quarantine: 'quarantined' },
  { proves: 'a hard_bounce refused by a blocklist (5.7.1) is a soft spam rejection, retried', event: { type: 'hard_bounce', diagnostic: '550 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org' }, type: 'soft', reason: 'spam rejection', outcome: 'retried', quarantine: 'counting' },
  { proves: "a hard_bounce whose server said 4xx is soft: a 4xx is never hard", event: { type: 'hard_bounce', smtpCode: 450, enhancedStatus: '4.1.1', diagnostic: 'Recipient address rejected: unverified address' }, type: 'soft', reason: 'user unknown', outcome: 'retried', quarantine: 'counting' },
  { proves: "the server's reply wins over the report's Status: 5.1.1 over 550 5.7.1 IP blacklisted is soft", event: { type: 'hard_bounce', enhancedStatus: '5.1.1', diagnostic: 'smtp; 550 5.7.1 Your IP is blacklisted' }, type: 'soft', reason: 'spam rejection', outcome: 'retried', quarantine: 'counting' },
  { proves: "a provider's own reason decides (SES Transient/MailboxFull on a hard_bounce)", event: { type: 'hard_bounce', reason: 'mailbox full' }, type: 'soft', reason: 'mailbox full', outcome: 'retried', quarantine: 'counting' },
  { proves: 'a hard_bounce without a reason stays hard (not defined), final, counted but not quarantined at once', event: { type: 'hard_bounce', smtpCode: 550 }, type: 'hard', reason: 'not defined', outcome: 'final', quarantine: 'counting' },
  { proves: 'a soft_bounce without a reason stays soft (not defined), retried', event: { type: 'soft_bounce', smtpCode: 554 }, type: 'soft', reason: 'not defined', outcome: 'retried', quarantine: 'counting' },
  { proves: 'an auto-reply reported as a hard_bounce is ignored: the message counts as delivered, the address is untouched', event: { type: 'hard_bounce', smtpCode: 550, diagnostic: 'Automatic reply: I am out of the office' }, type: 'ignored', reason: 'out of office', outcome: 'ignored', quarantine: 'none' },
];

/** The status each outcome gives the log row, per DESIGN.md's two tables. */
const STATUS: Record<'off' | 'on', Record<Outcome, string>> = {
  off: { retried: 'sent', final: 'failed', ignored: 'sent' },
  on: { retried: 'failed', final: 'failed', ignored: 'sent' },
};

describe.each(['off', 'on'] as const)('EFS %s', (efs) => {
  let id: string;
  let ids: string[];
  beforeAll(async () => {
    await t.sql`delete from quarantine`;
    id = await createDelivery(t, cases.length, ...(efs === 'on' ? ['--efs'] : []));
    await cli(t.env, 'confirm', id, '--as', 'alice', '--wait');
    ids = (await t.sql`select message_id from delivery_logs where delivery_id = ${id} order by seq`).map(
      (r) => r.message_id as string,
    );
    const events = cases.map((c, seq) => ({
      eventId: `reason-${efs}-${seq}`,
      messageId: ids[seq],
      occurredAt: '2026-11-24T10:00:00Z',
      ...c.event,
    }));
    const job = await producer.queue.add('fb', { events }, feedbackQueue.jobOptions);
    expect((await jobOutcome(producer.queue, job.id!)).value).toMatchObject({ applied: cases.length });
  });

  test.each(cases.map((c, seq) => ({ ...c, seq })))(
    '$proves',
    async ({ seq, type, reason, outcome, quarantine }) => {
      const [row] = await t.sql`select status, failure_type, failure_reason, retry_at from delivery_logs
      where delivery_id = ${id} and seq = ${seq}`;
      expect(row).toMatchObject({
        status: STATUS[efs][outcome],
        failure_type: type === 'ignored' ? 'ignored' : type,
        failure_reason: reason,
      });
      // A soft failure schedules the next attempt after the retry interval; a hard or ignored one none.
      expect(row!.retry_at === null).toBe(outcome !== 'retried');
      const [event] =
        await t.sql`select failure_type from feedback_events where event_id = ${`reason-${efs}-${seq}`}`;
      expect(event!.failure_type).toBe(type);
      const [entry] = await t.sql`select error_count, quarantined_at, failure_type from quarantine
      where email = ${`r${seq}@example.test`}`;
      if (quarantine === 'none') expect(entry).toBeUndefined();
      else {
        expect(entry).toMatchObject({ error_count: 1, failure_type: type });
        expect(entry!.quarantined_at !== null).toBe(quarantine === 'quarantined');
      }
    },
  );

  test('the tile counts what the reasons decided, not what the events declared', async () => {
    const failed = cases.filter((c) => STATUS[efs][c.outcome] === 'failed').length;
    const tile = (await cli(t.env, 'status', id, '--json')).json<{
      delivered: number;
      bouncesAndErrors: number;
    }>();
    expect(tile.bouncesAndErrors).toBe(failed);
    expect(tile.delivered).toBe(cases.length - failed);
  });
});
