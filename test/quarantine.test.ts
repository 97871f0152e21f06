// Quarantine on a real database: outcomes applied set-wise under locks, the SQL rule matching the pure one,
// `campaign quarantine list|show|release`, and the exclusion of quarantined addresses at `delivery create`.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import {
  listQuarantine,
  type QuarantineView,
  quarantinedCondition,
  recordAddressOutcomes,
  showQuarantine,
} from '../db/quarantine';
import {
  type AddressOutcome,
  isQuarantined,
  type QuarantineRules,
  quarantineRules,
} from '../shared/rules/quarantine-rules';
import { type CliResult, cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let t: TestEnv;
let rules: QuarantineRules;
let dir: string;

beforeAll(async () => {
  t = await createTestEnv();
  rules = quarantineRules(t.config);
  dir = await mkdtemp(path.join(tmpdir(), 'quarantine-test-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await t.cleanup();
});

const outcome = (
  email: string,
  at: number,
  kind: AddressOutcome['kind'],
  reason: string | null = kind === 'soft' ? 'mailbox full' : kind === 'hard' ? 'user unknown' : null,
  deliveryId = '7',
): AddressOutcome => ({ email, deliveryId, at, kind, reason });

const record = (outcomes: AddressOutcome[]) =>
  t.sql.begin((tx) => recordAddressOutcomes(tx, outcomes, rules));

function expectOneLineRefusal(result: CliResult, mention: string | RegExp): void {
  expect(result.code).not.toBe(0);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(mention);
}

describe('recordAddressOutcomes', () => {
  const T0 = Date.UTC(2026, 0, 1);

  it('applies many addresses and their outcomes, in time order, in two statements whatever their number', async () => {
    const statements: string[] = [];
    const counted = postgres(t.databaseUrl, {
      max: 1,
      onnotice: () => {},
      debug: (_connection, query) => statements.push(query),
    });
    const outcomes: AddressOutcome[] = [];
    for (let i = 0; i < 50; i++) {
      // Given newest first: the function must sort them.
      for (let day = 4; day >= 0; day--)
        outcomes.push(outcome(`batch${i}@example.com`, T0 + day * DAY, 'soft'));
    }
    outcomes.push(
      outcome('unknown@example.com', T0 + HOUR, 'hard', 'user unknown', '9'),
      outcome('unknown@example.com', T0, 'soft', 'refused'),
      outcome('sameday@example.com', T0, 'soft'),
      outcome('sameday@example.com', T0 + 3 * HOUR, 'soft', 'refused', '8'),
      outcome('sameday@example.com', T0 + 6 * HOUR, 'ignored', 'out of office'),
      outcome('ok@example.com', T0, 'delivered'),
      outcome('away@example.com', T0, 'ignored', 'out of office'),
    );
    try {
      const changed = await counted.begin((tx) => recordAddressOutcomes(tx, outcomes, rules));
      expect(changed).toBe(52);
    } finally {
      await counted.end();
    }
    expect(statements.filter((s) => s.includes('quarantine'))).toHaveLength(2);

    const rows = await t.sql`
      select email, error_count, reason, failure_type, delivery_id, first_failure_at, last_failure_at,
        last_counted_at, quarantined_at
      from quarantine where email in ('batch0@example.com', 'batch49@example.com', 'unknown@example.com',
        'sameday@example.com', 'ok@example.com', 'away@example.com')
      order by email`;
    const at = (ms: number) => new Date(ms);
    expect(rows).toEqual([
      {
        email: 'batch0@example.com',
        error_count: 5,
        reason: 'mailbox full',
        failure_type: 'soft',
        delivery_id: '7',
        first_failure_at: at(T0),
        last_failure_at: at(T0 + 4 * DAY),
        last_counted_at: at(T0 + 4 * DAY),
        quarantined_at: at(T0 + 4 * DAY),
      },
      expect.objectContaining({
        email: 'batch49@example.com',
        error_count: 5,
        quarantined_at: at(T0 + 4 * DAY),
      }),
      {
        email: 'sameday@example.com',
        error_count: 1,
        reason: 'refused',
        failure_type: 'soft',
        delivery_id: '8',
        first_failure_at: at(T0),
        last_failure_at: at(T0 + 3 * HOUR),
        last_counted_at: at(T0),
        quarantined_at: null,
      },
      {
        email: 'unknown@example.com',
        error_count: 2,
        reason: 'user unknown',
        failure_type: 'hard',
        delivery_id: '9',
        first_failure_at: at(T0),
        last_failure_at: at(T0 + HOUR),
        last_counted_at: at(T0 + HOUR),
        quarantined_at: at(T0 + HOUR),
      },
    ]);
  });

  it('goes on counting across batches, once per day, and a delivery resets the counter', async () => {
    const email = 'batches@example.com';
    await record([outcome(email, T0, 'soft'), outcome(email, T0 + HOUR, 'soft')]);
    await record([outcome(email, T0 + 2 * HOUR, 'soft'), outcome(email, T0 + DAY, 'soft')]);
    expect((await showQuarantine(t.sql, email, T0 + DAY, rules))?.errorCount).toBe(2);
    await record([outcome(email, T0 + DAY + HOUR, 'delivered')]);
    expect(await showQuarantine(t.sql, email, T0 + DAY, rules)).toMatchObject({
      errorCount: 0,
      state: 'counting',
      lastCountedAt: null,
      firstFailureAt: new Date(T0).toISOString(),
    });
  });

  it('writes nothing for an empty batch, deliveries and ignored answers of unknown addresses', async () => {
    expect(await record([])).toBe(0);
    expect(
      await record([
        outcome('nobody@example.com', T0, 'delivered'),
        outcome('nobody@example.com', T0, 'ignored'),
      ]),
    ).toBe(0);
    expect(await t.sql`select 1 from quarantine where email = 'nobody@example.com'`).toHaveLength(0);
  });

  /**
   * Records `early` in a transaction that stays open, then `late` in a second one beside it; the first commits
   * 200 ms later, so the second meets its uncommitted row.
   */
  async function recordBesideOpen(early: AddressOutcome, late: AddressOutcome): Promise<void> {
    let releaseFirst!: () => void;
    const firstHolds = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    let firstRecorded!: () => void;
    const recorded = new Promise<void>((resolve) => {
      firstRecorded = resolve;
    });
    const first = t.sql.begin(async (tx) => {
      await recordAddressOutcomes(tx, [early], rules);
      firstRecorded();
      await firstHolds;
    });
    await recorded;
    const second = t.sql.begin((tx) => recordAddressOutcomes(tx, [late], rules));
    await new Promise((resolve) => setTimeout(resolve, 200));
    releaseFirst();
    await Promise.all([first, second]);
  }

  it('loses no failure when two transactions record the first failures of one address at once', async () => {
    const email = 'race@example.com';
    // The second must wait for the first transaction's row rather than insert its own view of the address.
    await recordBesideOpen(outcome(email, T0 + HOUR, 'hard', 'user unknown'), outcome(email, T0, 'soft'));
    expect(await showQuarantine(t.sql, email, T0 + 2 * HOUR, rules)).toMatchObject({
      state: 'quarantined',
      reason: 'user unknown',
      firstFailureAt: new Date(T0).toISOString(),
    });
  });
  it('counts both failures when a transaction creates an entry another one is about to create', async () => {
    // The second transaction's one statement cannot see the first's row (not committed when it began): it
    // waits on the insert, finds the row there, and reads it locked by one more statement, counting on it.
    const email = 'race-count@example.com';
    await recordBesideOpen(
      outcome(email, T0, 'soft'),
      outcome(email, T0 + 2 * DAY, 'soft', 'mailbox full', '8'),
    );
    expect(await showQuarantine(t.sql, email, T0 + 2 * DAY, rules)).toMatchObject({
      errorCount: 2,
      firstFailureAt: new Date(T0).toISOString(),
      lastFailureAt: new Date(T0 + 2 * DAY).toISOString(),
      deliveryId: '8',
    });
  });
});

describe('the SQL rule', () => {
  it('agrees with isQuarantined on every kind of entry', async () => {
    const now = Date.now();
    await t.sql`
      insert into quarantine (email, error_count, reason, quarantined_at, released_at) values
        ('rule-counting@example.com', 2, 'refused', null, null),
        ('rule-quarantined@example.com', 5, 'refused', ${new Date(now - 90 * DAY)}, null),
        ('rule-released@example.com', 0, 'user unknown', ${new Date(now - 2 * DAY)}, ${new Date(now - DAY)}),
        ('rule-again@example.com', 1, 'user unknown', ${new Date(now - DAY)}, ${new Date(now - 2 * DAY)}),
        ('rule-full-recent@example.com', 5, 'mailbox full', ${new Date(now - 29 * DAY)}, null),
        ('rule-full-old@example.com', 5, 'mailbox full', ${new Date(now - 30 * DAY - 1000)}, null),
        ('rule-no-reason@example.com', 5, null, ${new Date(now - DAY)}, null)`;
    const all = await listQuarantine(t.sql, { limit: 1000, all: true }, now, rules);
    const byRule =
      await t.sql`select q.email from quarantine q where ${quarantinedCondition(t.sql, now, rules)}`;
    const entries = await Promise.all(all.map((v) => showQuarantine(t.sql, v.email, now, rules)));
    expect(new Set(byRule.map((r) => r.email))).toEqual(
      new Set(entries.filter((v) => v!.state === 'quarantined').map((v) => v!.email)),
    );
    const states = Object.fromEntries(
      all.filter((v) => v.email.startsWith('rule-')).map((v) => [v.email.split('@')[0], v.state]),
    );
    expect(states).toEqual({
      'rule-counting': 'counting',
      'rule-quarantined': 'quarantined',
      'rule-released': 'released',
      'rule-again': 'quarantined',
      'rule-full-recent': 'quarantined',
      'rule-full-old': 'released',
      'rule-no-reason': 'quarantined',
    });
    // The pure rule gives the same answer for the entries it reads back.
    for (const v of all) {
      const entry = {
        email: v.email,
        errorCount: v.errorCount,
        lastCountedAt: null,
        firstFailureAt: null,
        lastFailureAt: null,
        failureType: v.failureType,
        reason: v.reason,
        deliveryId: v.deliveryId,
        quarantinedAt: v.quarantinedAt ? Date.parse(v.quarantinedAt) : null,
        releasedAt:
          v.state === 'released' && v.reason !== 'mailbox full' && v.releasedAt
            ? Date.parse(v.releasedAt)
            : null,
      };
      expect(isQuarantined(entry, now, rules)).toBe(v.state === 'quarantined');
    }
  });
});

describe('campaign quarantine', () => {
  const now = Date.now();

  beforeAll(async () => {
    await record([
      outcome('cli-unknown@example.com', now - 2 * HOUR, 'soft', 'refused', '11'),
      outcome('cli-unknown@example.com', now - HOUR, 'hard', 'user unknown', '12'),
      outcome('cli-errors@example.com', now - HOUR, 'soft', 'unreachable', '12'),
    ]);
  });

  it.each([
    [['quarantine'], 'campaign quarantine'],
    [['quarantine', 'list'], 'campaign quarantine list'],
    [['quarantine', 'show'], 'campaign quarantine show'],
    [['quarantine', 'release'], 'campaign quarantine release'],
  ])('prints the usage of `%s` and exits 0', async (argv, usage) => {
    const result = await cli(t.env, ...argv, '--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Usage: ${usage}`);
    if (argv.length > 1) expect(result.stdout).toContain('--json');
  });

  it('shows an entry with its reason, counts, failures and delivery (--json)', async () => {
    const result = await cli(t.env, 'quarantine', 'show', 'CLI-Unknown@example.com', '--json');
    expect(result.stderr).toBe('');
    expect(result.json()).toEqual({
      email: 'cli-unknown@example.com',
      state: 'quarantined',
      errorCount: 2,
      failureType: 'hard',
      reason: 'user unknown',
      deliveryId: '12',
      firstFailureAt: new Date(now - 2 * HOUR).toISOString(),
      lastFailureAt: new Date(now - HOUR).toISOString(),
      lastCountedAt: new Date(now - HOUR).toISOString(),
      quarantinedAt: new Date(now - HOUR).toISOString(),
      releasedAt: null,
      releasesAt: null,
    } satisfies QuarantineView);
    const human = await cli(t.env, 'quarantine', 'show', 'cli-unknown@example.com');
    expect(human.stdout).toMatch(/^cli-unknown@example\.com: quarantined \(hard: user unknown\)\n/);
  });

  it('lists quarantined addresses, and with --all the ones that only have errors', async () => {
    const quarantined = (await cli(t.env, 'quarantine', 'list', '--json')).json<QuarantineView[]>();
    expect(quarantined.map((v) => v.email)).toContain('cli-unknown@example.com');
    expect(quarantined.every((v) => v.state === 'quarantined')).toBe(true);
    const all = (await cli(t.env, 'quarantine', 'list', '--all', '--json')).json<QuarantineView[]>();
    expect(all.find((v) => v.email === 'cli-errors@example.com')).toMatchObject({
      state: 'counting',
      errorCount: 1,
      reason: 'unreachable',
    });
    expect((await cli(t.env, 'quarantine', 'list', '--all', '--limit', '1', '--json')).json()).toHaveLength(
      1,
    );
    const human = await cli(t.env, 'quarantine', 'list');
    expect(human.stdout).toMatch(/^cli-unknown@example\.com\tquarantined\tuser unknown\t2 errors\tsince /m);
  });

  it('releases an address: counter reset, no longer listed, a second release refused', async () => {
    const result = await cli(t.env, 'quarantine', 'release', 'cli-unknown@example.com', '--json');
    expect(result.stderr).toBe('');
    expect(result.json()).toMatchObject({
      email: 'cli-unknown@example.com',
      state: 'released',
      errorCount: 0,
    });
    const listed = (await cli(t.env, 'quarantine', 'list', '--json')).json<QuarantineView[]>();
    expect(listed.map((v) => v.email)).not.toContain('cli-unknown@example.com');
    const profile = await cli(t.env, 'profile', 'cli-unknown@example.com', '--json');
    expect(profile.json()).toMatchObject({ quarantine: { quarantined: false, errorCount: 0 } });
    expectOneLineRefusal(
      await cli(t.env, 'quarantine', 'release', 'cli-unknown@example.com'),
      /^campaign: cli-unknown@example\.com is not in quarantine: released already at /,
    );
  });

  it('audits each release as the console does, the refused ones too, as cli:<OS user>', async () => {
    const rows = await t.sql`
      select operator, action, target, outcome, detail from audit_log
      where target = 'cli-unknown@example.com' order by id`;
    expect(rows.map((r) => ({ ...r }))).toEqual([
      {
        operator: `cli:${userInfo().username}`,
        action: 'release',
        target: 'cli-unknown@example.com',
        outcome: 'accepted',
        detail: { was: 'user unknown' },
      },
      {
        operator: `cli:${userInfo().username}`,
        action: 'release',
        target: 'cli-unknown@example.com',
        outcome: 'refused',
        detail: {
          reason: expect.stringMatching(
            /^cli-unknown@example\.com is not in quarantine: released already at /,
          ),
        },
      },
    ]);
  });

  it.each([
    [['quarantine', 'show', 'nobody@example.com'], 'campaign: nobody@example.com is not in quarantine'],
    [['quarantine', 'release', 'nobody@example.com'], 'campaign: nobody@example.com is not in quarantine'],
    [
      ['quarantine', 'release', 'cli-errors@example.com'],
      'campaign: cli-errors@example.com is not in quarantine',
    ],
    [['quarantine', 'show', 'not-an-address'], 'campaign: "not-an-address" is not a valid e-mail address'],
    [['quarantine', 'release', 'not-an-address', '--json'], '"not-an-address" is not a valid e-mail address'],
    [['quarantine', 'list', '--limit', 'many'], '--limit "many" is not a count from 1 to 100000'],
  ])('refuses `%s` in one line', async (argv, message) => {
    expectOneLineRefusal(await cli(t.env, ...argv), message);
  });
});

describe('exclusion at delivery create', () => {
  it('excludes quarantined addresses and says why; includes released and self-released ones', async () => {
    const now = Date.now();
    await record([
      outcome('x-unknown@example.com', now - HOUR, 'hard', 'user unknown'),
      outcome('x-complaint@example.com', now - HOUR, 'hard', 'on denylist'),
      outcome('x-complaint2@example.com', now - HOUR, 'hard', 'on denylist'),
      outcome('x-released@example.com', now - HOUR, 'hard', 'user unknown'),
      outcome('x-errors@example.com', now - HOUR, 'soft', 'refused'),
      ...[40, 39, 38, 37, 36].map((days) => outcome('x-full-old@example.com', now - days * DAY, 'soft')),
      ...[5, 4, 3, 2, 1].map((days) => outcome('x-full-recent@example.com', now - days * DAY, 'soft')),
    ]);
    expect((await cli(t.env, 'quarantine', 'release', 'x-released@example.com')).code).toBe(0);
    const emails = [
      'ann',
      'x-unknown',
      'x-complaint',
      'x-complaint2',
      'x-released',
      'x-errors',
      'x-full-old',
      'x-full-recent',
    ];
    const file = path.join(dir, 'recipients.csv');
    await writeFile(file, `email\n${emails.map((e) => `${e}@example.com`).join('\n')}\n`);

    const result = await cli(
      t.env,
      'delivery',
      'create',
      '--label',
      'exclusion',
      '--recipients',
      file,
      '--json',
    );
    expect(result.stderr).toBe('');
    const created = result.json<{
      id: string;
      toSend: number;
      quarantined: number;
      excludedByReason: object;
    }>();
    expect(created).toMatchObject({
      rows: 8,
      toSend: 4,
      duplicates: 0,
      quarantined: 4,
      excludedByReason: { 'user unknown': 1, 'on denylist': 2, 'mailbox full': 1 },
    });
    const targets =
      await t.sql`select email from delivery_targets where delivery_id = ${created.id} order by seq`;
    expect(targets.map((r) => r.email)).toEqual([
      'ann@example.com',
      'x-released@example.com',
      'x-errors@example.com',
      'x-full-old@example.com',
    ]);

    const human = await cli(t.env, 'delivery', 'create', '--label', 'exclusion', '--recipients', file);
    expect(human.stdout).toMatch(
      /\(8 rows read, 0 duplicates removed, 4 quarantined excluded: 2 on denylist, 1 mailbox full, 1 user unknown\)\n$/,
    );
  });

  it('follows QUARANTINE_MAILBOX_FULL_RELEASE', async () => {
    const file = path.join(dir, 'full.csv');
    await writeFile(file, 'email\nx-full-recent@example.com\n');
    const env = { ...t.env, QUARANTINE_MAILBOX_FULL_RELEASE: '1h' };
    const result = await cli(env, 'delivery', 'create', '--label', 'short', '--recipients', file, '--json');
    expect(result.json()).toMatchObject({ toSend: 1, quarantined: 0, excludedByReason: {} });
  });
});
